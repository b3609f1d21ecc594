"""Read FHIR medication data (R4, STU3, DSTU2: Bundle, MedicationRequest/Order/Statement, Medication, List) into a request."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from .model import CheckRequest, MedicationInput, Patient, Skipped
from .sig import route_of

RXNORM_SYSTEMS = ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88")
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ACTIVE_STATUSES = ("active", "draft", "on-hold", "intended", "unknown")
INACTIVE_STATUSES = ("stopped", "completed", "cancelled", "entered-in-error", "not-taken", "declined")
EGFR_LOINC = ("33914-3", "48642-3", "48643-1", "62238-1", "98979-8", "77147-7")
OBSERVATION_OK = ("final", "amended", "corrected", "preliminary", "registered")
SNOMED_ROUTES = {
    "26643006": "oral",
    "72607000": "intrathecal",
    "404820008": "epidural",
    "47625008": "intravenous",
    "78421000": "intramuscular",
    "34206005": "subcutaneous",
    "45890007": "transdermal",
    "37839007": "sublingual",
    "54471007": "buccal",
    "6064005": "topical",
    "37161004": "rectal",
    "447694001": "inhaled",
    "18679011000001101": "inhaled",
    "46713006": "nasal",
    "54485002": "ophthalmic",
    "10547007": "otic",
    "16857009": "vaginal",
}
# MedicationOrder is DSTU2's MedicationRequest.
MEDICATION_TYPES = ("MedicationRequest", "MedicationOrder", "MedicationStatement")
# (statuses that count, statuses that are skipped) per resource type; the first counted one is the default.
STATUSES = {
    "MedicationRequest": (("unknown",) + ACTIVE_STATUSES, INACTIVE_STATUSES),
    "MedicationStatement": (("unknown",) + ACTIVE_STATUSES, INACTIVE_STATUSES),
    "MedicationOrder": (("active", "on-hold", "draft"), ("completed", "entered-in-error", "stopped")),
    "Medication": (("active",), ("inactive", "entered-in-error")),
}


class FhirError(Exception):
    """The FHIR content cannot be read; the message names the element."""


class FhirRead(NamedTuple):
    """What a FHIR payload contained: the request to check and what was skipped."""

    request: CheckRequest
    skipped: tuple
    notes: tuple


def _ref_of(resource: dict) -> str:
    rtype = resource.get("resourceType", "?")
    rid = resource.get("id")
    return f"{rtype}/{rid}" if rid else rtype


def resource_ref(resource: dict, full_url: str | None = None) -> str:
    """Return how a Bundle entry is referred to: Type/id, else its fullUrl (a urn:uuid draft has no id), else its type."""
    if resource.get("id") or not isinstance(full_url, str) or not full_url:
        return _ref_of(resource)
    return full_url


def _concept_text(concept) -> tuple[str | None, str | None]:
    """Return (display text, RxNorm code) of a CodeableConcept."""
    if not isinstance(concept, dict):
        return None, None
    code = None
    display = None
    for coding in concept.get("coding") or []:
        if not isinstance(coding, dict):
            continue
        if coding.get("system") in RXNORM_SYSTEMS and isinstance(coding.get("code"), str) and code is None:
            code = coding["code"].strip()
            display = coding["display"] if isinstance(coding.get("display"), str) and coding["display"] else display
        elif display is None and isinstance(coding.get("display"), str):
            display = coding["display"]
    text = concept.get("text") if isinstance(concept.get("text"), str) else None
    return (text or display), code


class _Bundle:
    """Resources of a payload, findable by fullUrl and Type/id."""

    def __init__(self, resources: list):
        self.by_url: dict = {}
        self.by_ref: dict = {}
        self.url_of: dict = {}  # id(resource) -> fullUrl
        self.resources = []
        for full_url, resource in resources:
            if not isinstance(resource, dict):
                continue
            self.resources.append(resource)
            if isinstance(full_url, str) and full_url:
                self.by_url[full_url] = resource
                self.url_of[id(resource)] = full_url
            rid = resource.get("id")
            if isinstance(rid, str) and rid and isinstance(resource.get("resourceType"), str):
                self.by_ref[f"{resource['resourceType']}/{rid}"] = resource

    def resolve(self, reference: str, container: dict | None):
        if reference.startswith("#"):
            for contained in (container or {}).get("contained") or []:
                if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                    return contained
            return None
        if reference in self.by_url:
            return self.by_url[reference]
        if reference in self.by_ref:
            return self.by_ref[reference]
        tail = "/".join(reference.rstrip("/").split("/")[-2:])
        return self.by_ref.get(tail)


def _medication_of(resource: dict, bundle: _Bundle) -> tuple[str | None, str | None, str | None]:
    """Return (text, rxnorm code, problem) for the medication[x] of a request, order or statement.

    The problem names no resource: it becomes part of a text that is resolved as a medication name.
    """
    concept = resource.get("medicationCodeableConcept")
    reference = resource.get("medicationReference")
    medication = resource.get("medication")  # R5 CodeableReference, accepted leniently
    if isinstance(medication, dict):
        concept = concept or medication.get("concept")
        reference = reference or medication.get("reference")
    if concept is not None:
        text, code = _concept_text(concept)
        return text, code, None
    if isinstance(reference, dict):
        target = reference.get("reference")
        if isinstance(target, str):
            med = bundle.resolve(target, resource)
            if med is None:
                # The reference string is an id and is never read as a name; its display is a person's
                # name for the medication, so it is checked (a false negative is the worst failure).
                if isinstance(reference.get("display"), str) and reference["display"].strip():
                    return reference["display"], None, None
                return None, None, "medicationReference not found in the payload"
            return _medication_resource_text(med)
        if isinstance(reference.get("display"), str):
            return reference["display"], None, None
    return None, None, "no medication[x]"


def _medication_resource_text(med: dict) -> tuple[str | None, str | None, str | None]:
    text, code = _concept_text(med.get("code"))
    if text or code:
        return text, code, None
    names = []
    for ingredient in med.get("ingredient") or []:
        if isinstance(ingredient, dict):
            item = ingredient.get("itemCodeableConcept") or (ingredient.get("item") or {}).get("concept")
            part, _ = _concept_text(item)
            if part:
                names.append(part)
    if names:
        return " / ".join(names), None, None
    return None, None, "Medication has no code or ingredient"


def _dosage(resource: dict) -> tuple[str | None, str | None, str | None]:
    """Return (dose, route, frequency text) from the first dosageInstruction/dosage."""
    dosages = _listed(resource.get("dosageInstruction") or resource.get("dosage"))
    if not dosages or not isinstance(dosages[0], dict):
        return None, None, None
    d = dosages[0]
    dose = _dose(d)
    if len([x for x in dosages if isinstance(x, dict)]) > 1:
        # Several dosage instructions ("20 mg TID" and "40 mg at bedtime"): never guess one daily dose.
        dose = "(several dosage instructions: daily dose not computed)"
    route = None
    route_concept = d.get("route")
    if isinstance(route_concept, dict):
        for coding in route_concept.get("coding") or []:
            if isinstance(coding, dict) and coding.get("system") in (SNOMED, None) and coding.get("code") in SNOMED_ROUTES:
                route = SNOMED_ROUTES[coding["code"]]
                break
        if route is None:
            label = route_concept.get("text") or next(
                (c.get("display") for c in route_concept.get("coding") or [] if isinstance(c, dict) and c.get("display")), None
            )
            if isinstance(label, str):
                route = route_of(label) or route_of(label.split()[0]) if label.strip() else None
    frequency = None
    repeat = (d.get("timing") or {}).get("repeat") if isinstance(d.get("timing"), dict) else None
    if isinstance(repeat, dict):
        per_day = _per_day(repeat)
        if per_day:
            frequency = f"every {24.0 / per_day:g} hours"
    as_needed = d.get("asNeededBoolean") is True or "asNeededCodeableConcept" in d or d.get("asNeeded") is True
    if as_needed:
        frequency = f"{frequency} prn" if frequency else "prn"
    if frequency is None and isinstance(d.get("text"), str):
        frequency = d["text"][:200]
    return dose, route, frequency


def _listed(value) -> list:
    """Return a repeating element as a list: the CDS Hooks examples send doseAndRate as one object, not a list."""
    if isinstance(value, dict):
        return [value]
    return value if isinstance(value, list) else []


def _dose(d: dict) -> str | None:
    """Return the dose of a Dosage: R4 doseAndRate[].dose[x], STU3/DSTU2 dose[x] or DSTU2 statement quantity[x]."""
    holders = [dr for dr in _listed(d.get("doseAndRate")) if isinstance(dr, dict)] + [d]
    for holder in holders:
        for key, read in (("doseQuantity", _quantity), ("doseRange", _range), ("quantityQuantity", _quantity), ("quantityRange", _range)):
            dose = read(holder.get(key))
            if dose:
                return dose
    return None


def _quantity(q) -> str | None:
    """Return a Quantity as "10 mg", or None without a finite, non-negative numeric value."""
    if not isinstance(q, dict) or not isinstance(q.get("value"), (int, float)) or isinstance(q.get("value"), bool):
        return None
    value = q["value"]
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        return None
    # Plain decimals: ":g" would write 1000000 as "1e+06", which no sig reader takes as a number.
    number = f"{value:.6f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return f"{number} {q.get('unit') or q.get('code') or ''}".strip()


def _range(r) -> str | None:
    """Return a Range as "5 to 10 mg" (the sig counts the high end), or None without a high."""
    high = _quantity(r.get("high")) if isinstance(r, dict) else None
    if high is None:
        return None  # a dose with no upper bound has no daily dose to check; never the low end
    low = _quantity(r.get("low"))
    if low is None:
        return f"up to {high}"
    low_value, _, low_unit = low.partition(" ")
    same_unit = low_unit in ("", high.partition(" ")[2])
    return f"{low_value} to {high}" if same_unit else f"{low} to {high}"


def _per_day(repeat: dict) -> float | None:
    freq = repeat.get("frequencyMax") or repeat.get("frequency") or 1
    period = repeat.get("period")
    unit = repeat.get("periodUnit") or repeat.get("periodUnits")  # DSTU2 spells it periodUnits
    if not isinstance(period, (int, float)) or period <= 0 or not isinstance(freq, (int, float)):
        return None
    factor = {"h": 24.0, "min": 1440.0, "d": 1.0, "wk": 1.0 / 7.0, "mo": 1.0 / 30.0}.get(unit)
    when = repeat.get("when")
    if isinstance(when, list) and len(when) > freq:
        freq = len(when)  # "when": ["MORN", "EVE"] is twice a day, whatever "frequency" says
    return freq * factor / period if factor else None


def _age(patient: dict, as_of: date) -> float | None:
    born = patient.get("birthDate")
    if not isinstance(born, str) or len(born) < 4:
        return None
    try:
        parts = [int(p) for p in born.split("-")]
        year, month, day = (parts + [7, 1])[:3] if len(parts) == 1 else (parts + [1])[:3]
        date(year, month, day)  # "1950-13-45" is not a date: no age rather than a wrong one
    except ValueError:
        return None
    years = as_of.year - year - ((as_of.month, as_of.day) < (month, day))
    return float(years) if years >= 0 else None


def _egfr(observations: list) -> tuple[float | None, str | None]:
    best = None
    for obs in observations:
        if obs.get("status") not in OBSERVATION_OK:
            continue
        codes = [c.get("code") for c in ((obs.get("code") or {}).get("coding") or []) if isinstance(c, dict) and c.get("system") in (LOINC, None)]
        if not any(code in EGFR_LOINC for code in codes):
            continue
        value = (obs.get("valueQuantity") or {}).get("value")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 300:
            continue  # not a plausible eGFR (mL/min/1.73 m2): never used
        when = obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("end") or obs.get("issued") or ""
        if best is None or str(when) > best[0]:
            best = (str(when), float(value), _ref_of(obs))
    return (best[1], f"eGFR {best[1]:g} from {best[2]} ({best[0] or 'no date'})") if best else (None, None)


def read_fhir(data: dict, as_of: date | None, where: str = "input") -> FhirRead:
    """Turn a FHIR resource (Bundle, MedicationRequest/Order/Statement, Medication, List) into a request.

    Ages come from Patient.birthDate as of `as_of`; with no date the age is left unknown, never guessed.
    """
    rtype = data.get("resourceType")
    entries: list = []
    if rtype == "Bundle":
        for i, entry in enumerate(data.get("entry") or []):
            if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                raise FhirError(f"{where}: entry[{i}]: missing 'resource'")
            if not isinstance(entry["resource"].get("resourceType"), str):
                raise FhirError(f"{where}: entry[{i}].resource: missing 'resourceType'")
            entries.append((entry.get("fullUrl"), entry["resource"]))
    elif rtype in MEDICATION_TYPES + ("Medication", "List", "Patient", "Observation"):
        entries.append((None, data))
    else:
        expected = "Bundle, MedicationRequest, MedicationOrder, MedicationStatement, Medication or List"
        raise FhirError(f"{where}: unsupported resourceType '{rtype}' (expected {expected})")
    bundle = _Bundle(entries)
    items = [r for r in bundle.resources if r.get("resourceType") in MEDICATION_TYPES]
    for lst in (r for r in bundle.resources if r.get("resourceType") == "List"):
        for item in lst.get("entry") if isinstance(lst.get("entry"), list) else []:
            target = ((item or {}).get("item") or {}).get("reference") if isinstance(item, dict) else None
            if isinstance(target, str):
                resolved = bundle.resolve(target, lst)
                if resolved is not None and resolved.get("resourceType") in MEDICATION_TYPES + ("Medication",) and resolved not in items:
                    items.append(resolved)
    if not items:
        items = [r for r in bundle.resources if r.get("resourceType") == "Medication"]

    meds, skipped = [], []
    for resource in items:
        ref = resource_ref(resource, bundle.url_of.get(id(resource)))
        rtype = resource.get("resourceType")
        try:
            if rtype == "Medication":
                text, code, problem = _medication_resource_text(resource)
                dose = route = frequency = None
            else:
                text, code, problem = _medication_of(resource, bundle)
                dose, route, frequency = _dosage(resource)
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            # One malformed resource is reported as unresolved; it never loses the others.
            meds.append(MedicationInput(text=f"(unreadable medication: {type(exc).__name__})", ref=ref))
            continue
        active, inactive = STATUSES[rtype]
        status = resource.get("status") if isinstance(resource.get("status"), str) else active[0]
        if resource.get("taken") in ("n", "N") or resource.get("wasNotTaken") is True:
            # STU3 MedicationStatement.taken "n", DSTU2 wasNotTaken: the record says it is not taken.
            skipped.append(Skipped(ref=ref, name=text or (f"rxcui:{code}" if code else "?"), reason="recorded as not taken"))
            continue
        if status in inactive:
            skipped.append(Skipped(ref=ref, name=text or (f"rxcui:{code}" if code else "?"), reason=f"status {status}"))
            continue
        if status not in active:
            skipped.append(Skipped(ref=ref, name=text or "?", reason=f"unknown status '{status}'"))
            continue
        # The text is resolved as a medication name, so an unidentified one never holds the resource id
        # ("MedicationRequest/lorazepam-1" would resolve to lorazepam); `ref` carries it to the report.
        name = text or (f"rxcui:{code}" if code else f"(unidentified medication{': ' + problem if problem else ''})")
        meds.append(MedicationInput(text=name[:1000], dose=dose, route=route, frequency=frequency, ref=ref, code=code))

    notes = []
    patient = next((r for r in bundle.resources if r.get("resourceType") == "Patient"), None)
    age = _age(patient, as_of) if patient and as_of else None
    if age is not None:
        notes.append(f"age {age:g} from {_ref_of(patient)}.birthDate as of {as_of.isoformat()}")
    elif patient and as_of is None and patient.get("birthDate"):
        notes.append(f"{_ref_of(patient)}.birthDate given but no reference date (as_of): age not computed")
    try:
        egfr, egfr_note = _egfr([r for r in bundle.resources if r.get("resourceType") == "Observation"])
    except (AttributeError, TypeError, ValueError):
        egfr, egfr_note = None, "eGFR Observations present but unreadable; eGFR not used"
    if egfr_note:
        notes.append(egfr_note)
    request = CheckRequest(medications=tuple(meds), patient=Patient(age=age, egfr=egfr))
    return FhirRead(request, tuple(skipped), tuple(notes))
