"""Turn a whole Report into JSON (a versioned contract) or text (for a pharmacist)."""

from __future__ import annotations

import json

from .model import DISCLAIMER, Dose, Finding, MedicationResult, Report
from .version import __version__

SCHEMA_VERSION = "1"


def _n(value):
    """A number as the contract writes it: integral floats as integers, others to 4 decimals."""
    if type(value) is float:
        return int(value) if value.is_integer() else round(value, 4)
    return value


def _q(q):
    """A Quantity as {value, unit}; a Dose (which may be a range) adds min and max, value being the max."""
    if q is None:
        return None
    if type(q) is Dose:
        high = _n(q.max)
        return {"value": high, "min": _n(q.min), "max": high, "unit": q.unit}
    return {"value": _n(q.value), "unit": q.unit}


def _daily_dose(r) -> dict | None:
    """The line's daily dose as {min, max, unit, route}: one drug with a computed dose, else None (see dose_note)."""
    if len(r.drugs) != 1 or len(r.strengths) != 1 or r.strengths[0].daily is None:
        return None
    daily = r.strengths[0].daily
    return {"min": _n(daily.min), "max": _n(daily.max), "unit": daily.unit, "route": r.route}


def medication_dict(m: MedicationResult) -> dict:
    """Return the JSON form of one medication."""
    r = m.resolution
    return {
        "input": m.given.text,
        "ref": m.given.ref,
        "status": r.status,
        "drugs": list(r.drugs),
        "names": list(r.names),
        "matched": list(r.matched),
        "unrecognized": list(r.unrecognized),
        "suggestions": [{"name": s.name, "drugs": list(s.drugs), "lookalike_of": list(s.lookalike_of)} for s in r.suggestions],
        "route": r.route,
        "route_source": r.route_source,
        "frequency": None if r.frequency is None else {"text": r.frequency.text, "per_day": _n(r.frequency.per_day),
                                                       "per_day_min": _n(r.frequency.fewest), "as_needed": r.frequency.as_needed},
        "strengths": [{"drug": s.drug, "per_dose": _q(s.per_dose), "daily": _q(s.daily), "basis": s.basis} for s in r.strengths],
        "daily_dose": _daily_dose(r),
        "dose_note": r.dose_note,
        "note": r.note,
        "products": [list(p) for p in r.products] or ([list(r.drugs)] if r.drugs else []),
        "indication": r.indication,
        "via": r.via,
    }


def _involved_dict(i) -> dict:
    return {"drug": i.drug, "name": i.name, "inputs": list(i.inputs), "route": i.route, "route_source": i.route_source, "daily_dose": _q(i.daily_dose),
            "routes": [{"route": r.route, "route_source": r.route_source, "daily_dose": _q(r.daily_dose), "inputs": list(r.inputs)} for r in i.routes]}


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
            {"id": r.id, "severity": r.severity, "effect": r.effect, "title": r.title, "drugs": list(r.drugs), "references": list(r.references),
             "message": r.message, "management": r.management}
            for r in f.related
        ],
        "why": f.why,
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
    return {"citation": r.citation, "short": r.label, "kind": r.kind, "confidence": r.confidence, "url": r.url}


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
            {"drug": c.drug, "name": c.name, "daily_dose": _q(c.daily_dose), "delta": _q(c.delta), "contribution": _n(c.contribution),
             "sources": list(c.sources)}
            for c in load.counted
        ],
        "not_counted": [{"drug": n.drug, "name": n.name, "reason": n.reason} for n in load.not_counted],
        "references": [r.id for r in load.references],
    }


# The contract's top-level blocks, each built from the Report by one function. Every view below
# is a choice of these blocks, so a field means the same in each view and is built in one place.
_BLOCKS = {
    "schema_version": lambda report: SCHEMA_VERSION,
    "tool": lambda report: {"name": "interactions", "version": __version__},
    "rules": lambda report: {"digest": report.rules_digest},
    "disclaimer": lambda report: DISCLAIMER,
    "patient": lambda report: {"age": _n(report.patient.age), "egfr": _n(report.patient.egfr)},
    "medications": lambda report: [medication_dict(m) for m in report.medications],
    "previous_medications": lambda report: [medication_dict(m) for m in report.previous],
    "findings": lambda report: [finding_dict(f) for f in report.findings],
    "context_needed": lambda report: list(report.context_needed),
    "references": references_dict,
    "skipped": _skipped_list,
    "notes": lambda report: list(report.notes),
    "summary": summary_dict,
    "scope": lambda report: {"name": report.scope.name, "checked": list(report.scope.checked), "not_checked": list(report.scope.not_checked)},
}

# The report views: "findings" leaves out the medication blocks and the citations (a finding
# still names its sources by id).
_VIEWS = {
    "full": tuple(_BLOCKS),
    "findings": tuple(key for key in _BLOCKS if key not in ("medications", "previous_medications", "references")),
}
# What batch --detail offers: a report view, or "summary", one short line per record (summary_record).
DETAILS = (*_VIEWS, "summary")


def report_dict(report: Report, detail: str = "full") -> dict:
    """Return the report as JSON-ready data (schema_version 1): the whole contract, or the blocks of the "findings" view."""
    return {key: _BLOCKS[key](report) for key in _VIEWS[detail]}


def summary_record(report: Report | None, error: str | None = None) -> dict:
    """Return the summary view of one record: its most severe finding, rule ids and drugs, completeness and error.

    `rules` are the finding ids, most severe first, each once; `drugs` the canonical ids of the
    drugs in any finding, sorted. A record that could not be checked has `error` set, no
    findings and `complete` false: nothing was checked.
    """
    if report is None:
        return {"highest_severity": None, "rules": [], "drugs": [], "complete": False, "error": error}
    return {
        "highest_severity": report.highest_severity,
        "rules": list(dict.fromkeys(f.id for f in report.findings)),
        "drugs": sorted({d for f in report.findings for d in f.drugs}),
        "complete": report.complete,
        "error": None,
    }


def record_dict(rid, line: int, report: Report | None, error: str | None = None, detail: str = "full") -> dict:
    """Return one batch output line: a view of the report (or the record's error) with the record's `id` and `line`."""
    if detail == "summary":
        return {"id": rid, "line": line, **summary_record(report, error)}
    if report is None:
        return {"id": rid, "line": line, "error": error}
    return {**report_dict(report, detail), "id": rid, "line": line}


def format_json(report: Report, color: bool = False, brief: bool = False, explain: bool = False) -> str:
    """Format a report as sorted, deterministic JSON: always the whole contract (`brief` and `explain` shape text only)."""
    return json.dumps(report_dict(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- text -----------------------------------------------------------------------------

_COLORS = {"contraindicated": "\033[1;97;41m", "major": "\033[1;31m", "moderate": "\033[1;33m", "minor": "\033[36m", "bad": "\033[1;31m", "dim": "\033[2m"}
_RESET = "\033[0m"


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_COLORS[style]}{text}{_RESET}" if color else text


def _dose_text(q) -> str:
    """A daily dose as a pharmacist writes it: "60 mg/day", "20-40 mg/day", "up to 120 mg/day"."""
    if q is None:
        return ""
    if isinstance(q, Dose):
        if q.min is None:
            return f"up to {_n(q.max)} {q.unit}/day"
        if q.min != q.max:
            return f"{_n(q.min)}-{_n(q.max)} {q.unit}/day"
        return f"{_n(q.max)} {q.unit}/day"
    return f"{_n(q.value)} {q.unit}/day"


def describe_medication(m: MedicationResult) -> str:
    """Say how one medication line was read: its drugs, route, daily dose and notes ("baclofen (oral; 30 mg/day)")."""
    r = m.resolution
    named = dict(zip(r.drugs, r.names or r.drugs, strict=True))
    bits = []
    if r.route:
        bits.append(r.route + (" (assumed)" if r.route_source == "default" else ""))
    for s in r.strengths:
        if s.daily:
            bits.append(f"{named.get(s.drug, s.drug)} {_dose_text(s.daily)}" if len(r.drugs) > 1 else _dose_text(s.daily))
    if r.dose_note:
        bits.append(r.dose_note)
    if r.note:
        bits.append(r.note)
    detail = f" ({'; '.join(bits)})" if bits else ""
    return f"{', '.join(named.values()) or 'nothing checked'}{detail}"


def format_text(report: Report, color: bool = False, brief: bool = False, explain: bool = False) -> str:
    """Format a report for a person at a counter.

    The first line says whether the check is complete; names that were not recognised come
    next, before any finding or all-clear; then a two-line summary (the most severe finding,
    its drugs, the first thing to do), the findings most severe first, and what was not
    checked. `brief` keeps the status, the unrecognised names, the summary and the scope;
    `explain` adds each finding's paths through the rule graph.
    """
    out: list = [status_line(report, color), ""]
    out.extend(summary_lines(report, color, brief))
    problems = problem_lines(report)
    if problems:
        out.append("")
        out.append(_paint(problem_heading(report) + ":", "bad", color))
        out.extend(problems)
    if brief:
        out.append("")
        if report.findings:  # an all-clear already says what was not checked
            out.extend(scope_lines(report))
        out.append(DISCLAIMER)
        return "\n".join(out) + "\n"
    out.append("")
    for f in report.findings:
        out.extend(_finding_lines(f, color, explain))
        out.append("")
    load = report.sedative_load
    if load:
        out.extend(load_lines(load))
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
        out.append("To check by hand, or give and check again:")
        for item in report.context_needed:
            out.append(f"  {item}")
        out.append("")
    out.append("Read as:")
    for m in report.medications:
        status = "" if m.resolution.status == "resolved" else f"  [{m.resolution.status.upper()}]"
        out.append(f'  "{m.given.text}" -> {describe_medication(m)}{status}')
    if report.previous:
        out.append("Previous list:")
        for m in report.previous:
            out.append(f'  "{m.given.text}" -> {describe_medication(m)}')
    out.append("")
    if report.findings:  # an all-clear already says what was not checked
        out.extend(scope_lines(report))
    out.append(DISCLAIMER)
    return "\n".join(out) + "\n"


def status_line(report: Report, color: bool = False) -> str:
    """Return the first line of a report: the tool and version, and whether the check is complete."""
    head = f"interactions {__version__}: "
    labelled = report.medications + report.previous
    missing = [m for m in labelled if m.resolution.status != "resolved"]
    if missing:
        names = ", ".join(f'"{m.given.text}"' for m in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        # Counted per list: "1 of 8" must not count the previous list's lines among the 8 pasted.
        now = sum(m.resolution.status != "resolved" for m in report.medications)
        before = len(missing) - now
        counts = " and ".join(([f"{now} of {len(report.medications)} medication(s)"] if now or not before else [])
                              + ([f"{before} of {len(report.previous)} on the previous list"] if before else []))
        return head + _paint(f"INCOMPLETE CHECK: {counts} not fully recognised: {names}", "bad", color)
    return head + f"check complete: {len(report.medications)} medication(s) read" + (
        f", {len(report.previous)} on the previous list" if report.previous else "")


def problem_heading(report: Report) -> str:
    """The heading of the problem lines: a partly read line was checked, only not in full."""
    if all(m.resolution.status in ("resolved", "unresolved") for m in report.medications + report.previous):
        return "Not recognised, so not checked"
    return "Not recognised, or only in part: check these by hand"


def problem_lines(report: Report) -> list:
    """Return one line per name not (fully) recognised, with its suggestions, which are never applied."""
    out = []
    labelled = [(m, "") for m in report.medications] + [(m, "previous list, ") for m in report.previous]
    for m, which in labelled:
        r = m.resolution
        if r.status == "resolved":
            continue
        words = " ".join(r.unrecognized)
        where = f"{which}{m.given.ref or 'input'}"
        if r.status == "partial":
            # Partial: words not recognised, or a dose refused (its note says why; see engine._checked_doses).
            bits = ([f'but "{words}" was not recognised'] if words else []) + ([r.note] if r.note else [])
            line = f'  "{m.given.text}" ({where}): checked as {", ".join(r.drugs)}' + (", " + "; ".join(bits) if bits else "")
        else:
            line = f'  "{m.given.text}" ({where}): not recognised'
        if r.suggestions:
            names = ", ".join(s.name + (f" (look-alike of {'/'.join(s.lookalike_of)})" if s.lookalike_of else "") for s in r.suggestions)
            line += f". Did you mean: {names}? (not applied)"
        out.append(line)
    return out


def summary_lines(report: Report, color: bool = False, brief: bool = False) -> list:
    """Return the brief summary: the most severe finding, its drugs and the first thing to do (or the all-clear and its scope).

    `brief`: every missing piece of context is listed here, since nothing follows below.
    """
    assessed = []
    needed = report.context_needed if not brief else tuple(dict.fromkeys(
        [*report.context_needed, *(f"{f.title}: {c}" for f in report.findings for c in f.context_needed)]))
    if needed and brief:
        assessed = [f"Not assessed: {item}" for item in needed]
    elif needed:
        more = f" (and {len(needed) - 1} more below)" if len(needed) > 1 else ""
        assessed = [f"Not assessed: {needed[0]}{more}"]
    if not report.findings:
        if report.medications and not any(m.resolution.drugs for m in report.medications):
            # Nothing was read: "none found" would be read as an all-clear.
            lines = [_paint("Nothing was checked: no medication on the list was recognised.", "bad", color)]
        else:
            among = " among the names recognised" if not report.complete else ""
            lines = [f"No {report.scope.name} found{among}."]
        if report.scope.not_checked:
            lines.append(f"Not checked: {', '.join(report.scope.not_checked)}.")
        return lines + assessed
    top = report.findings[0]
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n)
    drugs = ", ".join(i.name for i in top.involved)
    sentences = top.management.split(". ")
    first = ". ".join(sentences[:2] if len(sentences[0]) < 40 and len(sentences) > 1 else sentences[:1]).rstrip(".") + "."
    return [_paint(top.severity.upper(), top.severity, color) + f": {top.title} ({drugs}). Findings: {counts}.",
            f"First: {first}"] + assessed


def scope_lines(report: Report) -> list:
    """Return what the rules check and what they do not, when there is something they do not check."""
    scope = report.scope
    if not scope.not_checked:
        return []
    return [f"Checked: {scope.name} only. Not checked: {', '.join(scope.not_checked)}."]


def _finding_lines(f, color: bool, explain: bool) -> list:
    out = [_paint(f"{f.severity.upper()}", f.severity, color) + f"  {f.title}"]
    drugs = []
    for inv in f.involved:
        typed = ", ".join(f'"{t}"' for t in inv.inputs)
        extra = route_doses(inv)
        drugs.append(f"{inv.name} ({typed}{'; ' + '; '.join(extra) if extra else ''})")
    out.append(f"  Drugs:   {'; '.join(drugs)}")
    if f.why:
        out.append(f"  Why:     {f.why}")
    out.append(f"  Risk:    {f.message}")
    out.append(f"  Action:  {f.management}")
    for reason in f.reasons:
        out.append(f"  Because: {reason}")
    for note in f.notes:
        out.append(f"  Note:    {note}")
    for item in f.context_needed:
        out.append(f"  Context: {item}")
    for rel in f.related:
        out.append(f"  Also:    {rel.severity.upper()} {rel.title} ({', '.join(rel.drugs)}): {rel.message} Action: {rel.management}")
    out.append(f"  Sources: {'; '.join(r.label for r in f.references)}")
    if explain or not f.why:
        for i, path in enumerate(f.paths):
            out.append(f"  {'Path:' if i == 0 else '':<8} {path}")
        out.append(f"  Rule:    {f.id}")
    return out


def route_doses(inv) -> list:
    """Return how a drug of a finding is taken, one item per route: "oral, 30 mg/day", "intrathecal assumed"."""
    extra = []
    for use in inv.routes or (inv,):
        bits = [use.route + (" assumed" if use.route_source == "default" else "")] if use.route else []
        if use.daily_dose:
            bits.append(_dose_text(use.daily_dose))
        if bits:
            extra.append(", ".join(bits))
    return extra


def load_lines(load) -> list:
    """Return the sedative load (Drug Burden Index, sedative part) in words."""
    parts = [f"{c.name or c.drug} {_n(c.contribution)}" for c in load.counted]
    value = f"{_n(load.value)} ({', '.join(parts)})" if load.value is not None else "not computed"
    out = [f"Sedative load (Drug Burden Index, sedative part): {value}. Each drug adds 0.5 at its lowest daily dose "
           "and nears 1 at high doses; 1 or more is linked to poorer physical and cognitive function in older adults."]
    if load.not_counted:
        out.append("  Not counted: " + "; ".join(f"{n.name or n.drug} ({n.reason})" for n in load.not_counted))
    return out


FORMATTERS = {"text": format_text, "json": format_json}
