"""Turn a whole Report into JSON (a versioned contract) or text (for a pharmacist)."""

from __future__ import annotations

import json
from operator import itemgetter

from . import __version__
from .model import DISCLAIMER, Finding, MedicationResult, Quantity, Report
from .vocab import SEVERITY_RANK

SCHEMA_VERSION = "1"


def _n(value):
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 4)
    return value


def _q(q: Quantity | None):
    return None if q is None else {"value": _n(q.value), "unit": q.unit}


def medication_dict(m: MedicationResult) -> dict:
    """Return the JSON form of one medication."""
    r = m.resolution
    return {
        "input": m.given.text,
        "ref": m.given.ref,
        "status": r.status,
        "drugs": list(r.drugs),
        "matched": list(r.matched),
        "unrecognized": list(r.unrecognized),
        "suggestions": [{"name": s.name, "drugs": list(s.drugs), "lookalike_of": list(s.lookalike_of)} for s in r.suggestions],
        "route": r.route,
        "route_source": r.route_source,
        "frequency": None if r.frequency is None else {"text": r.frequency.text, "per_day": _n(r.frequency.per_day), "as_needed": r.frequency.as_needed},
        "strengths": [{"drug": s.drug, "per_dose": _q(s.per_dose), "daily": _q(s.daily), "basis": s.basis} for s in r.strengths],
        "dose_note": r.dose_note,
        "indication": r.indication,
        "via": r.via,
    }


def _involved_dict(i) -> dict:
    return {"drug": i.drug, "name": i.name, "inputs": list(i.inputs), "route": i.route, "route_source": i.route_source, "daily_dose": _q(i.daily_dose)}


def _skipped_list(report: Report) -> list:
    return [{"ref": s.ref, "name": s.name, "reason": s.reason} for s in report.skipped]


def finding_dict(f: Finding) -> dict:
    """Return the JSON form of one finding."""
    return {
        "id": f.id,
        "kind": f.kind,
        "severity": f.severity,
        "effect": f.effect,
        "title": f.title,
        "message": f.message,
        "mechanism": f.mechanism,
        "management": f.management,
        "drugs": list(f.drugs),
        "inputs": list(f.inputs),
        "involved": [_involved_dict(i) for i in f.involved],
        "paths": list(f.paths),
        "references": [r.id for r in f.references],
        "reasons": list(f.reasons),
        "notes": list(f.notes),
        "context_needed": list(f.context_needed),
        "related": [
            {"id": r.id, "severity": r.severity, "effect": r.effect, "title": r.title, "drugs": list(r.drugs), "references": list(r.references)}
            for r in f.related
        ],
    }


def references_dict(report: Report) -> dict:
    """Return every source cited by the report's findings, once, keyed by id."""
    out = {}
    cited = [r for f in report.findings for r in f.references]
    if report.sedative_load:
        cited.extend(report.sedative_load.references)
    for r in cited:
        if r.id not in out:
            out[r.id] = _reference_dict(r)
    return out


def _reference_dict(r) -> dict:
    return {"citation": r.citation, "kind": r.kind, "confidence": r.confidence, "url": r.url}


def summary_dict(report: Report) -> dict:
    """Return the summary block."""
    statuses = [m.resolution.status for m in report.medications + report.previous]
    return {
        "counts": report.counts(),
        "findings": len(report.findings),
        "highest_severity": report.highest_severity,
        "complete": report.complete,
        "medications": len(report.medications),
        "unresolved": statuses.count("unresolved"),
        "partial": statuses.count("partial"),
        "sedative_load": _load_dict(report.sedative_load),
    }


def _load_dict(load):
    if load is None:
        return None
    return {
        "method": load.method,
        "value": _n(load.value),
        "counted": [
            {"drug": c.drug, "daily_dose": _q(c.daily_dose), "delta": _q(c.delta), "contribution": _n(c.contribution), "sources": list(c.sources)}
            for c in load.counted
        ],
        "not_counted": [{"drug": n.drug, "reason": n.reason} for n in load.not_counted],
        "references": [r.id for r in load.references],
    }


def report_dict(report: Report) -> dict:
    """Return the whole report as JSON-ready data (schema_version 1)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "interactions", "version": __version__},
        "rules": {"digest": report.rules_digest},
        "disclaimer": DISCLAIMER,
        "patient": {"age": _n(report.patient.age), "egfr": _n(report.patient.egfr)},
        "medications": [medication_dict(m) for m in report.medications],
        "previous_medications": [medication_dict(m) for m in report.previous],
        "findings": [finding_dict(f) for f in report.findings],
        "context_needed": list(report.context_needed),
        "references": references_dict(report),
        "skipped": _skipped_list(report),
        "notes": list(report.notes),
        "summary": summary_dict(report),
    }


def format_json(report: Report, color: bool = False) -> str:
    """Format a report as sorted, deterministic JSON."""
    return json.dumps(report_dict(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- text -----------------------------------------------------------------------------

_COLORS = {"contraindicated": "\033[1;97;41m", "major": "\033[1;31m", "moderate": "\033[1;33m", "minor": "\033[36m", "bad": "\033[1;31m", "dim": "\033[2m"}
_RESET = "\033[0m"


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_COLORS[style]}{text}{_RESET}" if color else text


def _dose_text(q: Quantity | None) -> str:
    return f"{_n(q.value)} {q.unit}/day" if q else ""


def _describe_med(m: MedicationResult) -> str:
    r = m.resolution
    bits = []
    if r.route:
        bits.append(r.route + (" (assumed)" if r.route_source == "default" else ""))
    for s in r.strengths:
        if s.daily:
            label = _dose_text(s.daily) + (" max if taken as often as allowed" if s.basis == "as-needed-maximum" else "")
            bits.append(f"{s.drug} {label}" if len(r.drugs) > 1 else label)
    if r.dose_note:
        bits.append(r.dose_note)
    detail = f" ({'; '.join(bits)})" if bits else ""
    return f"{', '.join(r.drugs)}{detail}"


def format_text(report: Report, color: bool = False) -> str:
    """Format a report for a person at a counter: findings first, then what was not checked."""
    out: list = []
    counts = report.counts()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"
    out.append(f"interactions {__version__}: {len(report.medications)} medication(s) checked, {summary}")
    out.append("")
    for f in report.findings:
        out.append(_paint(f"{f.severity.upper()}", f.severity, color) + f"  {f.title}  [{f.id}]")
        drugs = []
        for inv in f.involved:
            typed = ", ".join(f'"{t}"' for t in inv.inputs)
            extra = []
            if inv.route and (inv.route_source != "default" or f.kind != "pair"):
                extra.append(inv.route + (" assumed" if inv.route_source == "default" else ""))
            if inv.daily_dose:
                extra.append(_dose_text(inv.daily_dose))
            drugs.append(f"{inv.name} ({typed}{'; ' + ', '.join(extra) if extra else ''})")
        out.append(f"  Drugs:   {'; '.join(drugs)}")
        for i, path in enumerate(f.paths[:6]):
            out.append(f"  {'Why:' if i == 0 else '':<8} {path}")
        if len(f.paths) > 6:
            out.append(f"           ... and {len(f.paths) - 6} more path(s)")
        out.append(f"  Risk:    {f.message}")
        out.append(f"  Action:  {f.management}")
        for reason in f.reasons:
            out.append(f"  Because: {reason}")
        for note in f.notes:
            out.append(f"  Note:    {note}")
        for item in f.context_needed:
            out.append(f"  Context: {item}")
        for rel in f.related:
            out.append(f"  Also:    {rel.severity}: {rel.title} ({', '.join(rel.drugs)}; {', '.join(rel.references)})")
        out.append(f"  Sources: {', '.join(r.id for r in f.references)}")
        out.append("")
    if not report.findings:
        out.append("No interaction findings.")
        out.append("")
    labelled = [(m, "") for m in report.medications] + [(m, "previous list, ") for m in report.previous]
    problems = [(m, which) for m, which in labelled if m.resolution.status != "resolved"]
    if problems:
        out.append(_paint("INCOMPLETE: these names were not fully recognised, so the check does not cover them:", "bad", color))
        for m, which in problems:
            r = m.resolution
            words = " ".join(r.unrecognized)
            if r.status == "partial":
                line = f'  "{m.given.text}" ({which}{m.given.ref or "input"}): checked as {", ".join(r.drugs)}, but "{words}" was not recognised'
            else:
                line = f'  "{m.given.text}" ({which}{m.given.ref or "input"}): not recognised'
            if r.suggestions:
                names = ", ".join(s.name + (f" (look-alike of {'/'.join(s.lookalike_of)})" if s.lookalike_of else "") for s in r.suggestions)
                line += f". Did you mean: {names}? (not applied)"
            out.append(line)
        out.append("")
    load = report.sedative_load
    if load:
        parts = [f"{c.drug} {_n(c.contribution)}" for c in load.counted]
        value = f"{_n(load.value)} ({', '.join(parts)})" if load.value is not None else "not computed"
        out.append(f"Sedative load (Drug Burden Index, sedative component): {value}")
        if load.not_counted:
            out.append("  Not counted: " + "; ".join(f"{n.drug} ({n.reason})" for n in load.not_counted))
        out.append("")
    if report.skipped:
        out.append("Not checked (inactive in the record):")
        for s in report.skipped:
            out.append(f"  {s.name} ({s.ref}): {s.reason}")
        out.append("")
    for note in report.notes:
        out.append(f"Context: {note}")
    if report.notes:
        out.append("")
    if report.context_needed:
        out.append("Missing context:")
        for item in report.context_needed:
            out.append(f"  {item}")
        out.append("")
    out.append("Read as:")
    for m in report.medications:
        status = "" if m.resolution.status == "resolved" else f"  [{m.resolution.status.upper()}]"
        out.append(f'  "{m.given.text}" -> {_describe_med(m) or "?"}{status}')
    if report.previous:
        out.append("Previous list:")
        for m in report.previous:
            out.append(f'  "{m.given.text}" -> {_describe_med(m) or "?"}')
    out.append("")
    out.append(DISCLAIMER)
    return "\n".join(out) + "\n"


FORMATTERS = {"text": format_text, "json": format_json}


# --- compact JSON for batch: the UTF-8 bytes of json.dumps(report_dict(...), sort_keys=True,
# separators=(",", ":"), ensure_ascii=False), assembled from cached fragments because the
# same medications, drugs and rules recur across millions of records. Bytes, not str: the
# paths hold non-ASCII arrows, and encoding a 15 KB mixed string costs more than building it.

_ENC = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
# json's own C string encoder (what _ENC uses for strings), without the per-call encoder setup.
_STR = json.encoder.encode_basestring
_FRAGMENTS: dict = {}
_FRAGMENT_LIMIT = 20_000
_SEVERITY_JSON = {s: _STR(s).encode() for s in SEVERITY_RANK}


def _fragment(kind: str, key, make) -> bytes:
    cache_key = (kind, key)
    data = _FRAGMENTS.get(cache_key)
    if data is None:
        if len(_FRAGMENTS) >= _FRAGMENT_LIMIT:
            _FRAGMENTS.clear()
        data = _FRAGMENTS[cache_key] = make().encode()
    return data


def _by_identity(obj, make) -> bytes:
    """Cache by object identity, for objects the engine memoises (Involved, reference tuples).

    Each entry is (object, bytes): the entry itself keeps the object alive, so its id cannot be
    reused while the entry exists. One dict, one atomic store per entry: safe with threads too.
    """
    hit = _IDENTITY.get(id(obj))
    if hit is not None:
        return hit[1]
    if len(_IDENTITY) >= _FRAGMENT_LIMIT:
        _IDENTITY.clear()
    data = make(obj).encode()
    _IDENTITY[id(obj)] = (obj, data)
    return data


def _joined_by_identity(objs: tuple, make) -> bytes:
    """b",".join(_by_identity(o, make) for o in objs), the lookups done in C when all are cached."""
    try:
        return b",".join(map(_BYTES_OF, map(_IDENTITY.__getitem__, map(id, objs))))
    except KeyError:
        return b",".join([_by_identity(o, make) for o in objs])


_IDENTITY: dict = {}  # id(object) -> (object, its JSON bytes)
_BYTES_OF = itemgetter(1)


def _json_number(value) -> str:
    """A number as json.dumps writes it after _n(): integral floats as integers."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    value = _n(value)
    return float.__repr__(value) if type(value) is float else str(value)


def _strs(items: tuple) -> bytes:
    """A JSON array of strings."""
    return b"[" + _items(items) + b"]"


def _items(items: tuple) -> bytes:
    """The inside of a JSON array of strings. Each string's JSON bytes are cached: drug ids, inputs
    and paths recur, and the paths hold non-ASCII arrows, which make encoding the slow part."""
    if not items:
        return b""
    try:
        return b",".join(map(_STRING_OF, items))
    except KeyError:
        # Built from local values, never re-read: another thread may clear the cache meanwhile.
        out = []
        for item in items:
            data = _STRINGS.get(item)
            if data is None:
                if len(_STRINGS) >= _FRAGMENT_LIMIT:
                    _STRINGS.clear()
                data = _STRINGS[item] = _STR(item).encode()
            out.append(data)
        return b",".join(out)


_STRINGS: dict = {}
_STRING_OF = _STRINGS.__getitem__  # _STRINGS is only ever cleared, never replaced


def _medication_json(m: MedicationResult) -> str:
    # MedicationResults come from the engine's per-line memo, so identity finds them again.
    return _ENC(medication_dict(m))


def _rule_parts(f: Finding) -> tuple:
    """The rule's fixed text of a finding, as the JSON between the per-finding values."""
    key = ("rule", f.id, f.kind, f.effect, f.title, f.message, f.mechanism, f.management)
    parts = _FRAGMENTS.get(key)
    if parts is None:
        if len(_FRAGMENTS) >= _FRAGMENT_LIMIT:
            _FRAGMENTS.clear()
        parts = _FRAGMENTS[key] = (
            f'"effect":{_ENC(f.effect)},"id":{_ENC(f.id)},"inputs":['.encode(),
            f'"kind":{_ENC(f.kind)},"management":{_ENC(f.management)},"mechanism":{_ENC(f.mechanism)},'
            f'"message":{_ENC(f.message)},"notes":['.encode(),
            f'"title":{_ENC(f.title)}}}'.encode(),
        )
    return parts


def _encode_finding(f: Finding) -> bytes:
    head, middle, tail = _rule_parts(f)
    return b"".join((
        b'{"context_needed":[', _items(f.context_needed), b'],"drugs":[', _items(f.drugs), b"],", head, _items(f.inputs),
        b'],"involved":[', _joined_by_identity(f.involved, _encode_involved),
        b"],", middle, _items(f.notes), b'],"paths":[', _items(f.paths), b'],"reasons":[', _items(f.reasons),
        b'],"references":', _by_identity(f.references, _encode_reference_ids),
        b',"related":', _ENC(finding_dict(f)["related"]).encode() if f.related else b"[]",
        b',"severity":', _SEVERITY_JSON[f.severity], b",", tail,
    ))


def _encode_involved(i) -> str:
    return _ENC(_involved_dict(i))


def _encode_reference_ids(references) -> str:
    return "[" + ",".join([_STR(r.id) for r in references]) + "]"


def _encode_load(load) -> bytes:
    # The keys of _load_dict, sorted; each counted or not-counted item is memoised by the engine.
    return b"".join((
        b'{"counted":[', _joined_by_identity(load.counted, _encode_load_item),
        b'],"method":', _fragment("str", load.method, lambda: _STR(load.method)),
        b',"not_counted":[', _joined_by_identity(load.not_counted, _encode_not_counted),
        b'],"references":', _by_identity(load.references, _encode_reference_ids),
        b',"value":', _json_number(load.value).encode(), b"}",
    ))


def _encode_load_item(c) -> str:
    return _ENC({"drug": c.drug, "daily_dose": _q(c.daily_dose), "delta": _q(c.delta), "contribution": _n(c.contribution), "sources": list(c.sources)})


def _encode_not_counted(c) -> str:
    return _ENC({"drug": c.drug, "reason": c.reason})


def _encode_references(report: Report) -> bytes:
    # Every reference tuple comes from the index's memo, and the same few hundred combinations of
    # rules recur, so the merged block is cached by the identities of the tuples. The entry holds
    # the tuples, so none of those ids can be reused while it exists.
    groups = [f.references for f in report.findings]
    if report.sedative_load:
        groups.append(report.sedative_load.references)
    key = tuple(map(id, groups))
    hit = _REFERENCE_SETS.get(key)
    if hit is not None:
        return hit[1]
    cited = {r.id: r for refs in groups for r in refs}
    data = b"{" + b",".join([f"{_STR(i)}:{_ENC(_reference_dict(cited[i]))}".encode() for i in sorted(cited)]) + b"}"
    if len(_REFERENCE_SETS) >= _REFERENCE_SET_LIMIT:
        _REFERENCE_SETS.clear()
    _REFERENCE_SETS[key] = (groups, data)
    return data


_REFERENCE_SETS: dict = {}
# Entries are 3-14 KB; varied workloads make 400-2,200 distinct combinations.
_REFERENCE_SET_LIMIT = 2_000


def _encode_summary(report: Report) -> bytes:
    # The same keys as summary_dict, in sorted order (tests/test_batch.py compares the two).
    severities = [f.severity for f in report.findings]
    statuses = [m.resolution.status for m in report.medications + report.previous]
    partial, unresolved = statuses.count("partial"), statuses.count("unresolved")
    load = report.sedative_load
    return b"".join((
        f'{{"complete":{"false" if partial or unresolved else "true"},"counts":{{"contraindicated":{severities.count("contraindicated")},'
        f'"major":{severities.count("major")},"minor":{severities.count("minor")},"moderate":{severities.count("moderate")}}},'
        f'"findings":{len(severities)},"highest_severity":'.encode(),
        _SEVERITY_JSON[severities[0]] if severities else b"null",
        f',"medications":{len(report.medications)},"partial":{partial},"sedative_load":'.encode(),
        _encode_load(load) if load else b"null",
        f',"unresolved":{unresolved}}}'.encode(),
    ))


def encode_compact(report: Report, extra: dict | None = None) -> bytes:
    """Encode a report (plus extra top-level keys) as one sorted, compact JSON line, in UTF-8."""
    parts = {
        "context_needed": _strs(report.context_needed),
        "disclaimer": _fragment("const", "disclaimer", lambda: _ENC(DISCLAIMER)),
        "findings": b"[" + b",".join([_encode_finding(f) for f in report.findings]) + b"]",
        "medications": b"[" + _joined_by_identity(report.medications, _medication_json) + b"]",
        "notes": _strs(report.notes),
        "patient": f'{{"age":{_json_number(report.patient.age)},"egfr":{_json_number(report.patient.egfr)}}}'.encode(),
        "previous_medications": b"[" + _joined_by_identity(report.previous, _medication_json) + b"]",
        "references": _encode_references(report),
        "rules": _fragment("rules", report.rules_digest, lambda: _ENC({"digest": report.rules_digest})),
        "schema_version": _fragment("const", "schema", lambda: _STR(SCHEMA_VERSION)),
        "skipped": _ENC(_skipped_list(report)).encode() if report.skipped else b"[]",
        "summary": _encode_summary(report),
        "tool": _fragment("const", "tool", lambda: _ENC({"name": "interactions", "version": __version__})),
    }
    for key, value in (extra or {}).items():
        parts[key] = (_STR(value) if type(value) is str else str(value) if type(value) is int else _ENC(value)).encode()
    layout = _KEYS.get(tuple(parts))
    if layout is None:
        if len(_KEYS) >= 64:
            _KEYS.clear()
        order = sorted(parts)
        layout = _KEYS[tuple(parts)] = (order, [("{" if i == 0 else ",").encode() + _STR(k).encode() + b":" for i, k in enumerate(order)])
    order, prefixes = layout
    # One join over prefix, value, prefix, value, ..., "}": the ~15 KB is copied once.
    pieces = [b"}"] * (2 * len(order) + 1)
    pieces[0:-1:2] = prefixes
    pieces[1:-1:2] = list(map(parts.__getitem__, order))  # a list: the compiled build takes no other iterable here
    return b"".join(pieces)


_KEYS: dict = {}
