"""CDS Hooks 2.0: discovery, request handling and cards; pure (no HTTP, no I/O)."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date
from typing import Callable, NamedTuple

from .engine import check
from .fhir import EGFR_LOINC, MEDICATION_TYPES, FhirError, read_fhir, resource_ref
from .index import Index
from .model import DISCLAIMER, Finding, Report

CARD_NAMESPACE = uuid.UUID("7b0c4f2e-5a3d-4e8b-9c61-3f2d8a1e9b40")
OVERRIDE_SYSTEM = "urn:interactions:override-reason"
INDICATORS = {"contraindicated": "critical", "major": "warning", "moderate": "warning", "minor": "info"}
SOURCE_LABEL = "interactions: CNS-depressant interaction rules"
_EGFR_CODES = ",".join(f"http://loinc.org|{code}" for code in EGFR_LOINC)
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "statements": "MedicationStatement?patient={{context.patientId}}&status=active",
    "egfr": f"Observation?patient={{{{context.patientId}}}}&code={_EGFR_CODES}&_sort=-date&_count=1",
}
# Without the active medication list no interaction with the new order can be seen.
REQUIRED_PREFETCH = ("medications",)
SERVICES = {
    "interactions-order-select": {
        "hook": "order-select",
        "title": "CNS-depressant interaction check (order select)",
        "description": "Warns when a selected order adds up to dangerous CNS depression with the patient's medications, age or kidney function.",
    },
    "interactions-order-sign": {
        "hook": "order-sign",
        "title": "CNS-depressant interaction check (order sign)",
        "description": "Checks the orders being signed against the patient's active medications, age and kidney function before signature.",
    },
}
OVERRIDE_REASONS = [
    {"system": OVERRIDE_SYSTEM, "code": "benefit-outweighs-risk", "display": "Benefit outweighs risk; will monitor"},
    {"system": OVERRIDE_SYSTEM, "code": "already-tolerated", "display": "Patient already tolerates this combination"},
    {"system": OVERRIDE_SYSTEM, "code": "dose-adjusted", "display": "Doses adjusted or taper planned"},
    {"system": OVERRIDE_SYSTEM, "code": "not-applicable", "display": "Not applicable to this patient"},
]


class HookError(Exception):
    """A request the service must refuse: HTTP status, OperationOutcome code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def operation_outcome(code: str, message: str) -> dict:
    """Return a FHIR OperationOutcome for an error response."""
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": message}]}


def discovery(scope=None) -> dict:
    """Return the discovery document for GET /cds-services; each description says what is not checked.

    This service is meant to run beside a general interaction service: `scope` (the rules'
    Scope) names what it leaves to that service.
    """
    tail = f" Checks {scope.name} only; does not check {', '.join(scope.not_checked)}." if scope is not None and scope.not_checked else ""
    return {
        "services": [
            {"id": sid, "hook": s["hook"], "title": s["title"], "description": s["description"] + tail, "prefetch": dict(PREFETCH)}
            for sid, s in SERVICES.items()
        ]
    }


def _prefetch(body: dict) -> dict:
    prefetch = body.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        raise HookError(400, "invalid", "'prefetch' must be an object")
    return prefetch


def needs_fetch(body) -> bool:
    """True if the request names a fhirServer and leaves a prefetch key to fetch from it."""
    if not isinstance(body, dict) or not body.get("fhirServer"):
        return False
    prefetch = _prefetch(body)
    return any(key not in prefetch for key in PREFETCH)


def _resources(value) -> list:
    """Return (fullUrl, resource) pairs of a prefetched resource or Bundle (None means no data)."""
    if value is None:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise HookError(400, "invalid", "prefetch values must be FHIR resources or null")
    if value["resourceType"] == "Bundle":
        out = []
        for entry in value.get("entry") or []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                out.append((entry.get("fullUrl"), entry["resource"]))
        return out
    return [(None, value)]


def _focus(drafts: list, selections) -> tuple[set, list]:
    """Return the refs of the medication orders to warn about, and the selections that name no draft order.

    A selection names a draft by Type/id (MedicationRequest/1, DSTU2 MedicationOrder/1), by its
    fullUrl (urn:uuid:...) or by an absolute URL ending in Type/id. Without selections (order-sign),
    every medication draft is in focus. The refs are those the FHIR reader gives each medication.
    """
    by_name: dict = {}
    meds = []
    for url, resource in drafts:
        if not isinstance(resource.get("resourceType"), str):
            continue
        ref = resource_ref(resource, url)
        names = [ref]
        if isinstance(url, str) and url:
            names.append(url)
        if isinstance(resource.get("id"), str):
            names.append(f"{resource['resourceType']}/{resource['id']}")
        for name in names:
            by_name.setdefault(name, (ref, resource))
        if resource["resourceType"] in MEDICATION_TYPES:
            meds.append(ref)
    if not selections:
        return set(meds), []
    focus, unmatched = set(), []
    for selection in selections:
        found = by_name.get(selection) or by_name.get("/".join(selection.rstrip("/").split("/")[-2:]))
        if found is None:
            unmatched.append(selection)
        elif found[1]["resourceType"] in MEDICATION_TYPES:
            focus.add(found[0])
    return focus, unmatched


def handle(index: Index, service_id: str, body, as_of: date, fetch: Callable | None = None) -> dict:
    """Answer POST /cds-services/{id}: return {"cards": [...]} or raise HookError."""
    service = SERVICES.get(service_id)
    if service is None:
        raise HookError(404, "not-found", f"unknown CDS service '{service_id}'; see GET /cds-services")
    if not isinstance(body, dict):
        raise HookError(400, "invalid", "the request body must be a JSON object")
    if body.get("hook") != service["hook"]:
        raise HookError(400, "invalid", f"service '{service_id}' answers the '{service['hook']}' hook, not {body.get('hook')!r}")
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        raise HookError(400, "required", "missing 'hookInstance'")
    context = body.get("context")
    if not isinstance(context, dict):
        raise HookError(400, "required", "missing 'context'")
    if not isinstance(context.get("patientId"), str):
        raise HookError(400, "required", "context.patientId is required")
    drafts = _resources(context.get("draftOrders"))
    if context.get("draftOrders") is None:
        raise HookError(400, "required", "context.draftOrders (a FHIR Bundle) is required")
    selections = context.get("selections") if service["hook"] == "order-select" else None
    if service["hook"] == "order-select" and not (isinstance(selections, list) and all(isinstance(s, str) for s in selections)):
        raise HookError(400, "required", "context.selections (a list of references) is required for order-select")

    prefetch = dict(_prefetch(body))  # a copy: the caller's request is never changed
    missing = [key for key in PREFETCH if key not in prefetch]
    if missing:
        if body.get("fhirServer") and fetch is not None:
            for key in missing:
                prefetch[key] = fetch(body, PREFETCH[key].replace("{{context.patientId}}", context["patientId"]))
        elif any(key in REQUIRED_PREFETCH for key in missing):
            names = ", ".join(k for k in missing if k in REQUIRED_PREFETCH)
            raise HookError(412, "processing", f"missing required prefetch {names} and no fhirServer to fetch it from")

    entries = list(drafts)
    for key in PREFETCH:
        entries.extend(_resources(prefetch.get(key)))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": url, "resource": r} for url, r in entries]}
    try:
        read = read_fhir(bundle, as_of, "request")
    except FhirError as exc:
        raise HookError(400, "invalid", str(exc)) from None
    focus, unmatched = _focus(drafts, selections)
    report = check(index, read.request)
    not_checked = [f"{escape(ref)} was not found in context.draftOrders" for ref in unmatched]
    not_checked += [f"{escape(s.ref)} ({escape(s.name)}): {escape(s.reason)}" for s in read.skipped if s.ref in focus]
    return {"cards": cards(report, focus, not_checked, body["hookInstance"])}


def _focus_drugs(report: Report, focus: set) -> set:
    drugs = set()
    for m in report.medications:
        if m.given.ref in focus:
            drugs.update(m.resolution.drugs)
    return drugs


# Text from the request is echoed into Markdown that EHRs render, often as HTML: HTML's specials become
# entities (rendered as the character, never as a tag) and Markdown's punctuation is backslash-escaped
# (CommonMark renders a backslash and a star as the star), so a medication name can neither inject
# markup nor make a link, and a line break in it cannot start a heading or a list.
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_MARKDOWN_PUNCTUATION = frozenset("\\`*_{}[]()#+-.!|~:@=$^")


def escape(text) -> str:
    """Return request text safe to echo in card Markdown: one line, no HTML, no Markdown syntax."""
    out = []
    for ch in str(text):
        if ch in _HTML_ENTITIES:
            out.append(_HTML_ENTITIES[ch])
        elif ch in _MARKDOWN_PUNCTUATION:
            out.append("\\" + ch)
        elif unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029":
            out.append(" ")  # control, format (bidi overrides, zero-width) and line-separator characters
        else:
            out.append(ch)
    return "".join(out)


def card_uuid(hook_instance: str, key: str, taken: set) -> str:
    """Return a card uuid: the same for the same hookInstance and key (so feedback can name it), unique in `taken`."""
    n = 0
    while True:
        value = str(uuid.uuid5(CARD_NAMESPACE, f"{hook_instance}|{key}" + (f"|{n}" if n else "")))
        if value not in taken:
            taken.add(value)
            return value
        n += 1


def cards(report: Report, focus: set, not_checked=(), hook_instance: str = "") -> list:
    """Turn a report into cards: one per finding that involves a focused order, plus an incomplete card.

    `not_checked` lists, as Markdown with request text escaped, the orders in focus that could not be
    checked at all (a selection that names no draft order, a draft with a status that is not checked).
    Each card's uuid derives from the hookInstance and the rule (or "incomplete"), unique in the answer.
    """
    out = []
    taken: set = set()
    focus_drugs = _focus_drugs(report, focus)
    for finding in report.findings:
        if focus_drugs & set(finding.drugs):
            out.append(card(finding, card_uuid(hook_instance, f"{finding.id}|{','.join(finding.drugs)}", taken)))
    problems = [m for m in report.medications if m.resolution.status != "resolved"]
    if problems or not_checked:
        detail = ["**The interaction check is incomplete.**"]
        if problems:
            detail += ["", "These medications could not be identified, so interactions with them were not checked:", ""]
            for m in problems:
                hint = ""
                if m.resolution.suggestions:
                    hint = f" (did you mean {', '.join(s.name for s in m.resolution.suggestions)}? not applied)"
                detail.append(f"- {escape(m.given.text)} ({escape(m.given.ref)}){hint}")
        if not_checked:
            detail += ["", "These orders were not checked:", ""]
            detail += [f"- {item}" for item in not_checked]
        detail += ["", f"_{DISCLAIMER}_"]
        summary = f"{len(problems)} medication(s) not identified" if problems and not not_checked else "some orders were not checked"
        out.append({
            "uuid": card_uuid(hook_instance, "incomplete", taken),
            "summary": _clip(f"Interaction check incomplete: {summary}"),
            "indicator": "warning",
            "detail": "\n".join(detail),
            "source": {"label": SOURCE_LABEL},
        })
    return out


def _clip(text: str, limit: int = 139) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def card(f: Finding, card_id: str) -> dict:
    """Return the card for one finding (its text comes from the rules, not from the request)."""
    names = ", ".join(i.name for i in f.involved)
    lines = [f"**{f.message}**", "", "**Why:**"]
    lines += [f"- {p}" for p in f.paths]
    lines += ["", f"**What to do:** {f.management}", "", f"**Mechanism:** {f.mechanism}"]
    routes = [f"{i.name}: {i.route}{' (assumed)' if i.route_source == 'default' else ''}" for i in f.involved if i.route]
    if routes:
        lines += ["", f"**Route:** {'; '.join(routes)}"]
    for reason in f.reasons:
        lines += ["", f"**Severity:** {reason}"]
    for note in f.notes:
        lines += ["", f"**Note:** {note}"]
    for item in f.context_needed:
        lines += ["", f"**Missing context:** {item}"]
    for rel in f.related:
        lines += ["", f"**Also ({rel.severity}):** {rel.title}"]
    lines += ["", "**Sources:**"]
    lines += [f"- {r.citation} [{r.id}]" for r in f.references]
    lines += ["", f"_{DISCLAIMER}_"]
    out = {
        "uuid": card_id,
        "summary": _clip(f"{f.severity.capitalize()}: {f.title} ({names})"),
        "indicator": INDICATORS[f.severity],
        "detail": "\n".join(lines),
        "source": {"label": SOURCE_LABEL, "topic": {"system": "urn:interactions:rule", "code": f.id, "display": f.title}},
    }
    if f.severity != "minor":
        out["overrideReasons"] = [dict(r) for r in OVERRIDE_REASONS]
    return out


class Feedback(NamedTuple):
    """One accepted or overridden card, as the CDS client reported it."""

    card: str
    outcome: str


def read_feedback(body) -> list:
    """Validate a feedback POST body and return its entries."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        raise HookError(400, "invalid", "feedback must be an object with a 'feedback' list")
    out = []
    for item in body["feedback"]:
        if not isinstance(item, dict) or not isinstance(item.get("card"), str) or item.get("outcome") not in ("accepted", "overridden"):
            raise HookError(400, "invalid", "each feedback entry needs 'card' and an 'outcome' of accepted or overridden")
        out.append(Feedback(item["card"], item["outcome"]))
    return out
