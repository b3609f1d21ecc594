"""FHIR input (R4, STU3, DSTU2): bundles shaped like EHR exports, references, statuses, dosage and patient context."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from interactions.engine import check
from interactions.fhir import FhirError, read_fhir

BUNDLE = json.loads((Path(__file__).resolve().parent / "fhir" / "ehr-bundle.json").read_text())
AS_OF = date(2026, 11, 22)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ORAL = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}]}


def stu3_baclofen(dose_mg: float, per_day: int) -> dict:
    """An STU3 MedicationRequest for baclofen 10 mg tablets with the dose directly on the Dosage."""
    return {
        "resourceType": "MedicationRequest", "id": "stu3-baclofen", "status": "active", "intent": "order",
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-medicationrequest"]},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "197391", "display": "baclofen 10 MG Oral Tablet"}]},
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2018-03-01",
        "dosageInstruction": [{
            "sequence": 1,
            "text": f"{dose_mg:g} mg by mouth {per_day} times a day",
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "route": ORAL,
            "doseQuantity": {"value": dose_mg, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
        }],
    }


@pytest.fixture(scope="module")
def read():
    return read_fhir(BUNDLE, AS_OF)


def test_every_reference_style_is_followed(read):
    meds = {m.ref: m for m in read.request.medications}
    assert meds["MedicationRequest/mr-baclofen"].code == "197391"
    assert meds["MedicationRequest/mr-xanax"].code == "141927"  # contained '#med1'
    assert meds["MedicationStatement/ms-oxy"].code == "1049621"  # urn:uuid fullUrl
    assert meds["MedicationRequest/mr-lisinopril"].text == "Lisinopril 10 mg tablet"  # Medication/abc
    assert meds["MedicationStatement/ms-gaba"].text == "gabapentin 300 mg capsule"  # text only


def test_list_entries_are_not_counted_twice(read):
    refs = [m.ref for m in read.request.medications]
    assert refs.count("MedicationStatement/ms-gaba") == 1


def test_statuses_are_filtered_and_skips_listed(read):
    assert [(s.ref, s.reason) for s in read.skipped] == [
        ("MedicationRequest/mr-lorazepam-stopped", "status stopped"),
        ("MedicationRequest/mr-error", "status entered-in-error"),
    ]
    kept = {m.ref for m in read.request.medications}
    assert "MedicationRequest/mr-lisinopril" in kept  # on-hold counts
    assert "MedicationStatement/ms-gaba" in kept  # intended counts


def test_unidentifiable_medication_is_kept_with_its_resource_id(read):
    meds = {m.ref: m for m in read.request.medications}
    # The resource id is in `ref` only: the text is resolved as a medication name, so it never holds an id or reference.
    assert meds["MedicationRequest/mr-dangling"].text == "(unidentified medication: medicationReference not found in the payload)"


def test_patient_context(read):
    assert read.request.patient.age == 76
    assert read.request.patient.egfr == 48  # the most recent valid eGFR, not the entered-in-error one
    assert read.notes == ("age 76 from Patient/p1.birthDate as of 2026-11-22", "eGFR 48 from Observation/egfr-new (2026-10-01)")


def test_dosage_gives_route_and_daily_dose(index, read):
    report = check(index, read.request)
    by_ref = {m.given.ref: m.resolution for m in report.medications}
    baclofen = by_ref["MedicationRequest/mr-baclofen"]
    assert (baclofen.route, baclofen.route_source) == ("oral", "stated")
    assert baclofen.strengths[0].daily.value == 30
    oxy = by_ref["MedicationStatement/ms-oxy"]
    assert oxy.drugs == ("oxycodone",) and oxy.via == "code"
    assert oxy.strengths[0].daily.value == 20  # 5 mg from the code's display, q6h prn
    assert by_ref["MedicationRequest/mr-xanax"].frequency.as_needed is True


def test_bundle_check_end_to_end(index, read):
    report = check(index, read.request)
    found = {f.id: f.severity for f in report.findings}
    assert found == {
        "baclofen-renal-impairment": "major",
        "cns-active-burden": "major",
        "opioid-benzodiazepine": "major",
        "opioid-cns-depressant": "major",
        "opioid-gabapentinoid": "major",
        "additive-cns-depression": "moderate",
        "baclofen-blood-pressure-lowering": "minor",
    }
    assert report.complete is False
    unresolved = [m.given.ref for m in report.medications if m.resolution.status != "resolved"]
    assert unresolved == ["MedicationRequest/mr-unknown", "MedicationRequest/mr-dangling"]


def test_intrathecal_route_by_snomed_code(index):
    resource = {
        "resourceType": "MedicationRequest", "id": "it", "status": "active",
        "medicationCodeableConcept": {"text": "baclofen 2000 mcg/mL"},
        "dosageInstruction": [{"route": {"coding": [{"system": "http://snomed.info/sct", "code": "72607000"}]}}],
    }
    request = read_fhir(resource, AS_OF).request
    assert request.medications[0].route == "intrathecal"


def test_single_medication_resource():
    read = read_fhir({"resourceType": "Medication", "id": "m", "code": {"text": "Xanax 1 mg"}}, AS_OF)
    assert [m.text for m in read.request.medications] == ["Xanax 1 mg"]


def test_standalone_list_with_contained_statements():
    data = {
        "resourceType": "List", "id": "l", "status": "current", "mode": "snapshot",
        "contained": [{"resourceType": "MedicationStatement", "id": "s1", "status": "active", "medicationCodeableConcept": {"text": "baclofen"}}],
        "entry": [{"item": {"reference": "#s1"}}],
    }
    assert [m.text for m in read_fhir(data, AS_OF).request.medications] == ["baclofen"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"resourceType": "Condition"}, "input: unsupported resourceType 'Condition' (expected Bundle, MedicationRequest, MedicationOrder, MedicationStatement, Medication or List)"),
        ({"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}, "input: entry[0]: missing 'resource'"),
        ({"resourceType": "Bundle", "entry": [{"resource": {"id": "x"}}]}, "input: entry[0].resource: missing 'resourceType'"),
    ],
)
def test_malformed_fhir(data, message):
    with pytest.raises(FhirError) as exc:
        read_fhir(data, AS_OF)
    assert str(exc.value) == message


def test_cli_reads_a_bundle(cli_run):
    path = Path(__file__).resolve().parent / "fhir" / "ehr-bundle.json"
    result = cli_run("check", "--input", str(path), "--as-of", "2026-11-22", "--format", "json")
    assert result.exit_code == 1
    data = result.json()
    assert data["patient"] == {"age": 76, "egfr": 48}
    assert [s["ref"] for s in data["skipped"]] == ["MedicationRequest/mr-lorazepam-stopped", "MedicationRequest/mr-error"]


def test_no_reference_date_means_no_age_not_a_wrong_one():
    read = read_fhir(BUNDLE, None)
    assert read.request.patient.age is None
    assert "Patient/p1.birthDate given but no reference date (as_of): age not computed" in read.notes


def test_inactive_medication_resource_is_skipped():
    read = read_fhir({"resourceType": "Medication", "id": "m", "status": "inactive", "code": {"text": "Xanax"}}, AS_OF)
    assert read.request.medications == ()
    assert read.skipped[0].reason == "status inactive"


def test_malformed_resource_is_reported_not_fatal(index):
    data = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "MedicationRequest", "id": "a", "status": "active", "medicationReference": {"reference": "#x"}, "contained": 5}},
        {"resource": {"resourceType": "MedicationRequest", "id": "b", "status": "active", "medicationCodeableConcept": {"text": "oxycodone"}}},
        {"resource": {"resourceType": "MedicationRequest", "id": "c", "status": "active", "medicationCodeableConcept": {"text": "Xanax"}}},
    ]}
    read = read_fhir(data, AS_OF)
    assert read.request.medications[0][::4] == ("(unreadable medication: TypeError)", "MedicationRequest/a")  # text, ref
    report = check(index, read.request)
    assert [f.id for f in report.findings] == ["opioid-benzodiazepine"]
    assert report.complete is False


def test_stu3_dose_on_the_dosage_is_read(index):
    med = read_fhir(stu3_baclofen(20, 4), AS_OF).request.medications[0]
    assert (med.dose, med.frequency, med.route) == ("20 mg", "every 6 hours", "oral")
    report = check(index, read_fhir(stu3_baclofen(20, 4), AS_OF).request)
    assert report.medications[0].resolution.strengths[0].daily.value == 80  # not 40 from the 10 mg tablet's name
    assert "baclofen-oral-dose-above-maximum" not in {f.id for f in report.findings}  # 80 mg/day is the maximum


def test_stu3_dose_above_the_baclofen_maximum_is_found(index):
    report = check(index, read_fhir(stu3_baclofen(30, 3), AS_OF).request)
    finding = next(f for f in report.findings if f.id == "baclofen-oral-dose-above-maximum")
    assert finding.reasons == ("major because 90 mg/day (oral) > 80 mg/day",)


def _dosed(dosage: dict, rtype: str = "MedicationRequest") -> dict:
    key = "dosageInstruction" if rtype in ("MedicationRequest", "MedicationOrder") else "dosage"
    return {"resourceType": rtype, "id": "x", "status": "active", "medicationCodeableConcept": {"text": "baclofen 10 mg tablet"}, key: [dosage]}


MG = {"unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
TAB = {"unit": "TAB", "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", "code": "TAB"}


@pytest.mark.parametrize(
    "resource, dose",
    [
        # R4 doseAndRate
        (_dosed({"doseAndRate": [{"doseQuantity": {"value": 10, **MG}}]}), "10 mg"),
        (_dosed({"doseAndRate": [{"doseRange": {"low": {"value": 5, **MG}, "high": {"value": 10, **MG}}}]}), "5 to 10 mg"),
        (_dosed({"doseAndRate": [{"doseRange": {"low": {"value": 1, **TAB}, "high": {"value": 2, **TAB}}}]}), "1 to 2 TAB"),
        (_dosed({"doseAndRate": [{"type": {"text": "ordered"}}, {"doseQuantity": {"value": 5, **MG}}]}), "5 mg"),
        # The CDS Hooks order-select examples send doseAndRate as one object, not a list
        (_dosed({"doseAndRate": {"doseQuantity": {"value": 5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"}}}), "5 mL"),
        # STU3: dose[x] on the Dosage, in MedicationRequest.dosageInstruction and MedicationStatement.dosage
        (_dosed({"doseQuantity": {"value": 20, **MG}}), "20 mg"),
        (_dosed({"doseRange": {"low": {"value": 1, **TAB}, "high": {"value": 2, **TAB}}}, "MedicationStatement"), "1 to 2 TAB"),
        (_dosed({"doseQuantity": {"value": 0.5, **TAB}}, "MedicationStatement"), "0.5 TAB"),
        # DSTU2: MedicationOrder.dosageInstruction.dose[x], MedicationStatement.dosage.quantity[x]
        (_dosed({"doseQuantity": {"value": 10, "unit": "mg"}}, "MedicationOrder"), "10 mg"),
        (_dosed({"quantityQuantity": {"value": 10, "unit": "mg"}}, "MedicationStatement"), "10 mg"),
        (_dosed({"quantityRange": {"low": {"value": 10, "unit": "mg"}, "high": {"value": 20, "unit": "mg"}}}, "MedicationStatement"), "10 to 20 mg"),
        # Ranges: the high end is what a dose limit is checked against; without a high there is no dose
        (_dosed({"doseRange": {"high": {"value": 10, **MG}}}), "up to 10 mg"),
        (_dosed({"doseRange": {"low": {"value": 500, "unit": "mcg"}, "high": {"value": 1, "unit": "mg"}}}), "500 mcg to 1 mg"),
        (_dosed({"doseRange": {"low": {"value": 5, **MG}}}), None),
        (_dosed({"doseAndRate": [{"doseQuantity": {"value": True, **MG}}]}), None),  # not 1 mg
        (_dosed({"doseQuantity": {"unit": "mg"}}), None),
    ],
)
def test_dose_in_every_fhir_version(resource, dose):
    assert read_fhir(resource, AS_OF).request.medications[0].dose == dose


def test_a_single_dosage_object_is_read_like_a_list_of_one():
    resource = _dosed({"doseQuantity": {"value": 20, **MG}, "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}})
    resource["dosageInstruction"] = resource["dosageInstruction"][0]
    med = read_fhir(resource, AS_OF).request.medications[0]
    assert (med.dose, med.frequency) == ("20 mg", "every 8 hours")


@pytest.mark.parametrize(
    "dose_range, daily",
    [
        ({"low": {"value": 20, **MG}, "high": {"value": 30, **MG}}, 90),
        ({"low": {"value": 1, **TAB}, "high": {"value": 2, **TAB}}, 60),  # two 10 mg tablets
    ],
)
def test_dose_range_is_checked_at_its_high_end(index, dose_range, daily):
    resource = _dosed({"route": ORAL, "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}, "doseAndRate": [{"doseRange": dose_range}]})
    report = check(index, read_fhir(resource, AS_OF).request)
    assert report.medications[0].resolution.strengths[0].daily.value == daily
    assert ("baclofen-oral-dose-above-maximum" in {f.id for f in report.findings}) == (daily > 80)


DSTU2_BUNDLE = json.loads((Path(__file__).resolve().parent / "fhir" / "dstu2-bundle.json").read_text())


def test_dstu2_medication_orders_are_read():
    read = read_fhir(DSTU2_BUNDLE, AS_OF)
    meds = {m.ref: m for m in read.request.medications}
    assert list(meds) == ["MedicationOrder/mo-lorazepam", "MedicationOrder/mo-oxy"]
    lorazepam, oxy = meds.values()
    assert (lorazepam.code, lorazepam.dose, lorazepam.frequency, lorazepam.route) == ("197901", "1 mg", "every 8 hours prn", "oral")
    assert (oxy.code, oxy.dose, oxy.frequency, oxy.route) == ("1049621", "2 TAB", "every 6 hours", "oral")  # Medication/med-oxy; periodUnits
    assert [(s.ref, s.name, s.reason) for s in read.skipped] == [("MedicationOrder/mo-diazepam", "diazepam 5 mg tablet", "status stopped")]
    assert read.request.patient.age == 82


def test_dstu2_bundle_check_end_to_end(index):
    read = read_fhir(DSTU2_BUNDLE, AS_OF)
    report = check(index, read.request, read.skipped, read.notes)
    assert "opioid-benzodiazepine" in {f.id for f in report.findings}
    by_ref = {m.given.ref: m.resolution for m in report.medications}
    assert by_ref["MedicationOrder/mo-oxy"].strengths[0].daily.value == 40  # 2 x 5 mg tablets, 4 times a day
    assert report.complete is True
    assert [s.ref for s in report.skipped] == ["MedicationOrder/mo-diazepam"]


@pytest.mark.parametrize(
    "status, counted",
    [("active", True), ("on-hold", True), ("draft", True), (None, True),
     ("completed", False), ("stopped", False), ("entered-in-error", False), ("cancelled", False)],
)
def test_dstu2_medication_order_statuses(status, counted):
    resource = {"resourceType": "MedicationOrder", "id": "mo", "medicationCodeableConcept": {"text": "lorazepam 1 mg"}}
    if status:
        resource["status"] = status
    read = read_fhir(resource, AS_OF)
    assert [m.ref for m in read.request.medications] == (["MedicationOrder/mo"] if counted else [])
    assert [s.ref for s in read.skipped] == ([] if counted else ["MedicationOrder/mo"])


OXYCODONE = {"resourceType": "MedicationRequest", "id": "oxy", "status": "active", "medicationCodeableConcept": {"text": "oxycodone 5 mg"}}


@pytest.mark.parametrize(
    "medication",
    [
        {"medicationReference": {"reference": "Medication/diazepam-123"}},
        {"medicationReference": {"reference": "http://ehr.example/fhir/Medication/diazepam-123"}},
        {"medicationReference": {"reference": "#diazepam"}, "contained": [{"resourceType": "Medication", "id": "diazepam"}]},
        {},
        {"medicationReference": {"reference": "#diazepam"}, "contained": 5},  # unreadable
    ],
)
def test_a_resource_id_or_reference_is_never_a_medication_name(index, medication):
    resource = {"resourceType": "MedicationRequest", "id": "lorazepam-active", "status": "active", "intent": "order", **medication}
    read = read_fhir({"resourceType": "Bundle", "entry": [{"resource": resource}, {"resource": OXYCODONE}]}, AS_OF)
    given = read.request.medications[0]
    assert given.ref == "MedicationRequest/lorazepam-active"
    assert given.text.startswith(("(unidentified medication", "(unreadable medication"))
    assert not any(word in given.text.lower() for word in ("lorazepam", "diazepam", "/", "#"))
    report = check(index, read.request)
    assert report.medications[0].resolution.status == "unresolved"
    assert report.medications[0].resolution.drugs == ()
    assert not any({"lorazepam", "diazepam"} & set(f.drugs) for f in report.findings)
    assert "opioid-benzodiazepine" not in {f.id for f in report.findings}
    assert report.complete is False


def test_the_display_of_a_missing_reference_target_is_read_but_never_the_reference(index):
    """A display is a person's name for the medication: checking it avoids a false negative."""
    med = {"resourceType": "MedicationRequest", "id": "lorazepam-active", "status": "active",
           "medicationReference": {"reference": "Medication/abc123", "display": "oxyCODONE 5 MG tablet"}}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": med}, {"resource": OXYCODONE | {"id": "x", "medicationCodeableConcept": {"text": "lorazepam 1 mg"}}}]}
    read = read_fhir(bundle, None)
    report = check(index, read.request, read.skipped, read.notes)
    assert [m.given.text for m in report.medications] == ["oxyCODONE 5 MG tablet", "lorazepam 1 mg"]
    assert {f.id for f in report.findings} == {"opioid-benzodiazepine"}


@pytest.mark.parametrize("display", [["a"], {"x": 1}, 5, True, ""])
def test_a_coding_display_that_is_not_text_is_not_a_name(display):
    resource = {"resourceType": "MedicationRequest", "id": "x", "status": "active",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197391", "display": display}]}}
    assert read_fhir(resource, AS_OF).request.medications[0].text == "rxcui:197391"
