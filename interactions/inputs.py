"""Read check input (plain text lines or JSON) into a CheckRequest, with located errors."""

from __future__ import annotations

import json
import math

from .model import NO_PATIENT, CheckRequest, MedicationInput, ParsedInput, Patient
from .sig import route_of
from .vocab import PATIENT_LIMITS, ROUTES, LazyPattern, did_you_mean

MAX_INPUT_BYTES = 8 * 1024 * 1024
MAX_MEDICATION_CHARS = 1000
MAX_MEDICATIONS = 500
_INLINE_COMMENT = LazyPattern(r"(^|\s)#(\s.*)?$")

TOP_KEYS = ("id", "medications", "patient", "previous_medications")
MED_KEYS = ("name", "dose", "route", "frequency")
PATIENT_KEYS = ("age", "egfr")


class InputError(Exception):
    """The input cannot be read; the message says where and why."""


def decode(data: bytes, where: str) -> str:
    """Decode UTF-8 input, rejecting binary and oversized data with a located message."""
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{where}: input is larger than the {MAX_INPUT_BYTES} byte limit")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InputError(f"{where}:{line}: binary input (NUL byte); expected UTF-8 text or JSON")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{where}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


_LONE_SURROGATE = LazyPattern("[\ud800-\udfff]")


def _check_text(text: str, where: str) -> str:
    if "\x00" in text:
        raise InputError(f"{where}: contains a NUL character")
    if not text.isascii() and _LONE_SURROGATE.search(text):
        raise InputError(f"{where}: contains an unpaired UTF-16 surrogate (e.g. a lone \\ud83d escape), not valid text")
    if len(text) > MAX_MEDICATION_CHARS:
        raise InputError(f"{where}: {len(text)} characters, over the {MAX_MEDICATION_CHARS}-character limit for one medication")
    return text


def parse_lines(text: str, where: str) -> list[MedicationInput]:
    """Read one medication per line; blank lines and '#' comments are skipped."""
    meds = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = _INLINE_COMMENT.sub("", line).strip() if "#" in line else line.strip()
        if not stripped:
            continue
        meds.append(MedicationInput(text=_check_text(stripped, f"{where}:{number}"), ref=f"line {number}"))
        if len(meds) > MAX_MEDICATIONS:
            raise InputError(f"{where}:{number}: more than {MAX_MEDICATIONS} medications in one list")
    return meds


def _number(value, where: str, low: float, high: float, field: str = "") -> float | None:
    """Check a patient number; `field` is appended to `where` in messages (built only on error)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"{where}{field}: expected a number, got {json.dumps(value)}")
    if not low <= value <= high:
        raise InputError(f"{where}{field}: {value} is out of range ({low:g} to {high:g})")
    return value


def parse_number(text: str, where: str, field: str) -> float | None:
    """Read a patient number typed as text (a form field): blank is None; else a number in PATIENT_LIMITS[field]."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text.replace(",", ".")) if len(text) <= 32 else None
    except ValueError:
        value = None
    if value is None or value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"{where}: expected a number, got {json.dumps(text[:32])}")
    return _number(value, where, *PATIENT_LIMITS[field])


def parse_medication(value, where: str) -> MedicationInput:
    """Read one medication: a string or an object with name, dose, route, frequency."""
    if isinstance(value, str):
        if not value.strip():
            raise InputError(f"{where}: empty medication name")
        return MedicationInput(text=_check_text(value.strip(), where), ref=where.rsplit(": ", 1)[-1])
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a string or an object with 'name', got {type(value).__name__}")
    for key in value:
        if key not in MED_KEYS:
            raise InputError(f"{where}: unknown key '{key}'{did_you_mean(key, MED_KEYS, 0.7)}")
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}: 'name' must be a non-empty string")
    fields = {}
    for key in ("dose", "frequency"):
        item = value.get(key)
        if item is None:
            continue
        if isinstance(item, (int, float)) and not isinstance(item, bool) and key == "frequency":
            if not 0 < item <= 48:
                raise InputError(f"{where}: 'frequency' {item!r} is not a number of doses per day between 0 and 48")
            item = f"every {24.0 / item:g} hours"
        if not isinstance(item, str):
            example = '"10 mg"' if key == "dose" else '"TID"'
            raise InputError(f"{where}: '{key}' must be a string such as {example}")
        fields[key] = _check_text(item, f"{where}.{key}")
    route = value.get("route")
    if route is not None:
        mapped = route_of(route) if isinstance(route, str) else None
        if mapped is None:
            raise InputError(f"{where}: unknown route {json.dumps(route)} (use one of {', '.join(ROUTES)})")
        fields["route"] = mapped
    return MedicationInput(text=_check_text(name.strip(), f"{where}.name"), ref=where.rsplit(": ", 1)[-1], **fields)


def parse_med_list(value, where: str, label: str) -> tuple:
    """Read a JSON list of medications."""
    if not isinstance(value, list):
        raise InputError(f"{where}: '{label}' must be a list, got {type(value).__name__}")
    if len(value) > MAX_MEDICATIONS:
        raise InputError(f"{where}: '{label}' has {len(value)} entries, over the limit of {MAX_MEDICATIONS}")
    out = []
    for i, item in enumerate(value):
        text = item.strip() if type(item) is str else None
        if text and len(text) <= MAX_MEDICATION_CHARS and "\x00" not in text and (text.isascii() or not _LONE_SURROGATE.search(text)):
            # The common case, a plain name, without building the error location first.
            out.append(MedicationInput(text=text, ref=f"{label}[{i}]"))
        else:
            out.append(parse_medication(item, f"{where}: {label}[{i}]"))
    return tuple(out)


def parse_object(data, where: str) -> CheckRequest:
    """Turn a decoded JSON check object into a request."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object with 'medications', got {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise InputError(f"{where}: unknown key '{key}'{did_you_mean(key, TOP_KEYS, 0.7)}")
    if "medications" not in data:
        raise InputError(f"{where}: missing 'medications'")
    meds = parse_med_list(data["medications"], where, "medications")
    previous = parse_med_list(data.get("previous_medications", []), where, "previous_medications")
    patient_data = data.get("patient") or {}
    if not isinstance(patient_data, dict):
        raise InputError(f"{where}: 'patient' must be an object")
    for key in patient_data:
        if key not in PATIENT_KEYS:
            raise InputError(f"{where}: patient: unknown key '{key}'{did_you_mean(key, PATIENT_KEYS, 0.7)}")
    if patient_data:
        patient = Patient(
            age=_number(patient_data.get("age"), where, *PATIENT_LIMITS["age"], ": patient.age"),
            egfr=_number(patient_data.get("egfr"), where, *PATIENT_LIMITS["egfr"], ": patient.egfr"),
        )
    else:
        patient = NO_PATIENT
    return CheckRequest(medications=meds, previous=previous, patient=patient)


def parse_json_text(text: str, where: str):
    """Decode JSON with a line:column error message."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None


def parse_value(data, where: str, as_of) -> ParsedInput:
    """Read a decoded JSON value: a check object or a FHIR resource (`as_of`: the date for FHIR ages)."""
    if isinstance(data, dict) and isinstance(data.get("resourceType"), str):
        from .fhir import FhirError, read_fhir

        try:
            read = read_fhir(data, as_of, where)
        except FhirError as exc:
            raise InputError(str(exc)) from None
        return ParsedInput(request=read.request, skipped=read.skipped, notes=read.notes)
    return ParsedInput(request=parse_object(data, where))


def parse_input(data: bytes, where: str, as_of=None) -> ParsedInput:
    """Read check input: JSON (a check object or FHIR) if it starts with '{', else one medication per line.

    `as_of` is the date (datetime.date) for ages from a FHIR birthDate; without it such ages stay unknown.
    """
    text = decode(data, where)
    if text.lstrip().startswith(("{", "[")):
        return parse_value(parse_json_text(text, where), where, as_of)
    return ParsedInput(request=CheckRequest(medications=tuple(parse_lines(text, where))))


def parse_arguments(values) -> tuple:
    """Read medications given as command-line arguments."""
    meds = []
    for i, value in enumerate(values):
        if value.strip():
            meds.append(MedicationInput(text=_check_text(value.strip(), f"argument {i + 1}"), ref=f"argument {i + 1}"))
    return tuple(meds)


def parse_previous(data: bytes, where: str) -> tuple:
    """Read a previous medication list: one per line, a JSON list, or an object with 'medications'."""
    text = decode(data, where)
    if not text.lstrip().startswith(("[", "{")):
        return tuple(parse_lines(text, where))
    value = parse_json_text(text, where)
    if isinstance(value, dict):
        if "medications" not in value:
            raise InputError(f"{where}: missing 'medications'")
        value = value["medications"]
    return parse_med_list(value, where, "medications")


def combine(arguments: tuple, parsed: ParsedInput, previous: tuple | None, age, egfr) -> CheckRequest:
    """Merge command-line medications and context with a parsed input file; flags win."""
    for label, value in (("--age", age), ("--egfr", egfr)):
        if value is not None and not math.isfinite(value):
            raise InputError(f"{label}: must be a finite number, got {value}")
    request = parsed.request
    meds = arguments + request.medications
    if len(meds) > MAX_MEDICATIONS:
        raise InputError(f"{len(meds)} medications, over the limit of {MAX_MEDICATIONS} for one list")
    if not meds:
        raise InputError("no medications given (pass names as arguments or use --input FILE)")
    patient = Patient(
        age=age if age is not None else request.patient.age,
        egfr=egfr if egfr is not None else request.patient.egfr,
    )
    return request._replace(medications=meds, previous=request.previous if previous is None else previous, patient=patient)
