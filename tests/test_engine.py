"""The engine as a library: purity, memo safety, grouping and the exit-code table."""

from __future__ import annotations

import pytest

from interactions import check
from interactions.exitcodes import batch_exit_code, exit_code
from interactions.model import CheckRequest, MedicationInput, Patient


def test_library_example_from_the_readme(index):
    report = check(["Lioresal 10 mg TID", "Ativan 1 mg"], rules=index, patient={"age": 72, "egfr": 45})
    assert [(f.id, f.severity) for f in report.findings] == [("baclofen-renal-impairment", "major"), ("additive-cns-depression", "moderate")]
    assert report.findings[1].paths[0].startswith("baclofen → centrally acting muscle relaxant → CNS depressant")


def test_memo_never_mixes_up_requests(index):
    meds = ["baclofen 10 mg TID", "sertraline", "gabapentin"]
    young = check(meds, rules=index, patient={"age": 40})
    old = check(meds, rules=index, patient={"age": 80})
    again = check(meds, rules=index, patient={"age": 40})
    assert {f.id: f.severity for f in young.findings}["cns-active-burden"] == "moderate"
    assert {f.id: f.severity for f in old.findings}["cns-active-burden"] == "major"
    assert again == young
    stopped = check(["metformin"], rules=index, previous=["baclofen"])
    not_stopped = check(["metformin"], rules=index)
    assert [f.id for f in stopped.findings] == ["baclofen-discontinuation"]
    assert not_stopped.findings == ()


def test_a_line_resolves_once_whatever_row_it_comes_from(index):
    """The line cache is keyed without `ref`: a CSV row number or FHIR id differs on every row."""
    from interactions.engine import LINE_CACHE, _line
    from interactions.engine import check as engine_check
    from interactions.index import Index

    fresh = Index(index.data)
    reports = [engine_check(fresh, CheckRequest(medications=(MedicationInput("baclofen 10 mg TID", ref=f"line {2 * n}"),
                                                             MedicationInput("alcohol", ref=f"line {2 * n + 1}"))))
               for n in range(50)]
    info = fresh.cached(_line, LINE_CACHE).cache_info()
    assert (info.misses, info.hits) == (2, 98)
    assert [m.given.ref for m in reports[7].medications] == ["line 14", "line 15"]
    assert reports[7].findings == reports[0].findings


def test_report_is_immutable(index):
    report = check(["baclofen", "alcohol"], rules=index)
    with pytest.raises(AttributeError):
        report.findings[0].severity = "minor"
    with pytest.raises(AttributeError):
        report.findings = ()


def test_several_drugs_sharing_one_effect_give_one_finding(index):
    report = check(["baclofen", "zolpidem", "diphenhydramine", "quetiapine", "hydroxyzine"], rules=index)
    additive = [f for f in report.findings if f.id == "additive-cns-depression"]
    assert len(additive) == 1
    assert additive[0].drugs == ("baclofen", "diphenhydramine", "hydroxyzine", "quetiapine", "zolpidem")
    assert len(additive[0].paths) == 10


def test_a_drug_never_interacts_with_itself(index):
    report = check(["Xanax", "alprazolam 0.5 mg", "ALPRAZolam XR"], rules=index)
    assert report.findings == ()


def test_traversal_goes_upward_only(index):
    # lorazepam reaches benzodiazepine and its parents, never its siblings
    reach = index.reach("lorazepam")
    assert "class:benzodiazepine" in reach and "class:cns-depressant" in reach
    assert not any(key.startswith("drug:") for key in reach)
    assert "class:z-drug" not in reach


def test_structured_medication_input(index):
    request = CheckRequest((MedicationInput("baclofen", dose="25 mg", frequency="QID", route="oral"),), (), Patient())
    from interactions.engine import check as run

    report = run(index, request)
    assert [f.id for f in report.findings] == ["baclofen-oral-dose-above-maximum"]
    assert report.medications[0].resolution.strengths[0].daily.value == 100


@pytest.mark.parametrize(
    "meds, fail_on, highest, complete, code",
    [
        (["sertraline"], "minor", None, True, 0),
        (["baclofen", "lisinopril"], "minor", "minor", True, 1),
        (["baclofen", "lisinopril"], "moderate", "minor", True, 0),
        (["baclofen", "alcohol", "baclofn"], "major", "major", False, 1),
        (["baclofn"], "minor", None, False, 3),
        (["baclofen", "zolpidem", "xyzzyq"], "major", "moderate", False, 3),
        (["Xyrem", "alcohol"], "contraindicated", "contraindicated", True, 1),
    ],
)
def test_exit_code_table(index, meds, fail_on, highest, complete, code):
    """The real exit_code on real reports, one row of its docstring table each."""
    from interactions import check as run

    report = run(meds, rules=index)
    assert (report.highest_severity, report.complete) == (highest, complete)
    assert exit_code(report, fail_on) == code


def test_batch_exit_code_table():
    assert batch_exit_code(True, True, True) == 1
    assert batch_exit_code(False, True, True) == 2
    assert batch_exit_code(False, False, True) == 3
    assert batch_exit_code(False, False, False) == 0


def test_explicit_dose_field_beats_the_strength_in_the_name(index):
    from interactions.engine import check as run

    request = CheckRequest((MedicationInput("baclofen 10 MG Oral Tablet", dose="30 mg", frequency="QID"),), (), Patient())
    report = run(index, request)
    assert report.medications[0].resolution.strengths[0].daily.value == 120
    assert [f.id for f in report.findings] == ["baclofen-oral-dose-above-maximum"]


def test_one_dose_for_a_combination_is_not_attributed(index):
    from interactions.engine import check as run

    report = run(index, CheckRequest((MedicationInput("Percocet", dose="10 mg", frequency="q6h"),), (), Patient()))
    res = report.medications[0].resolution
    assert res.strengths == ()
    assert res.dose_note == "one dose given for a combination product; daily dose not computed"


def test_missing_context_is_only_asked_for_when_it_could_matter(rules_copy):
    from interactions.index import load_index

    path = rules_copy / "rules.yaml"
    path.write_text(path.read_text().replace(
        "      - when: {age_at_least: 65}\n",
        "      - when: {age_at_least: 65, egfr_below: 60}\n",
    ))
    index = load_index(rules_copy)
    meds = ["baclofen", "sertraline", "gabapentin"]
    young = {f.id: f for f in check(meds, rules=index, patient={"age": 40}).findings}["cns-active-burden"]
    assert young.context_needed == ()  # age 40 already rules it out, eGFR would change nothing
    old = {f.id: f for f in check(meds, rules=index, patient={"age": 80}).findings}["cns-active-burden"]
    assert old.context_needed == ("eGFR not given: would be major when age >= 65 and eGFR < 60",)
    both = {f.id: f for f in check(meds, rules=index, patient={"age": 80, "egfr": 50}).findings}["cns-active-burden"]
    assert both.severity == "major"


def test_two_lines_with_the_same_text_and_different_codes_list_that_text_once(index):
    from interactions.engine import check
    from interactions.model import CheckRequest, MedicationInput

    request = CheckRequest((MedicationInput("Tablet", code="197391"), MedicationInput("Tablet", code="308048")))
    report = check(index, request)
    finding = next(f for f in report.findings if f.drugs == ("alprazolam", "baclofen"))
    assert finding.inputs == ("Tablet",)
