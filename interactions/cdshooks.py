"""CDS Hooks 2.0: discovery, request handling and cards; pure (no HTTP, no I/O)."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
import uuid
from datetime import date
from typing import NamedTuple
from urllib.parse import quote, urlsplit

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


class Data(NamedTuple):
    """One prefetch key's data, given or fetched.

    `value` is a resource or Bundle, or None when the client says there is none. `missing` says why
    there is no data at all (not sent, an OperationOutcome, a fetch that failed); `incomplete` why
    only part of it is here (a Bundle with a next page that was not read).
    """

    value: object = None
    missing: str | None = None
    incomplete: str | None = None


class Call(NamedTuple):
    """A validated hook call: what is known from the request before anything is fetched."""

    service_id: str
    hook: str
    hook_instance: str
    patient_id: str
    drafts: tuple  # (fullUrl, resource) pairs of context.draftOrders
    selections: tuple | None  # order-select only
    prefetch: dict  # key -> Data, for every key of PREFETCH
    fhir_server: str | None
    access_token: str | None
    dstu2: bool  # the drafts are DSTU2 MedicationOrders: fetch MedicationOrder, not MedicationRequest


NOT_SENT = "not in the prefetch"
NO_SERVER = "no fhirServer to fetch it from"
NOT_ALLOWED = "fhirServer is not a server this service is allowed to fetch from"
FETCH_FAILED = "it could not be fetched from fhirServer"
OUTCOME = "the prefetch was an OperationOutcome"
# What each optional key tells, for the note that says it was not assessed.
OPTIONAL_MEANING = {
    "patient": "age",
    "egfr": "kidney function (eGFR)",
    "statements": "medications the patient reports taking (MedicationStatement)",
}
# A FHIR id is [A-Za-z0-9-.]{1,64}; ids are percent-encoded anyway, but "." and ".." would still be path steps.
_DOT_SEGMENTS = (".", "..")


def _entries(value, where: str) -> list:
    """Return (fullUrl, resource) pairs of a resource or Bundle (None means no data)."""
    if value is None:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise HookError(400, "invalid", f"{where} must be a FHIR resource, a Bundle or null")
    if value["resourceType"] != "Bundle":
        return [(None, value)]
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        raise HookError(400, "invalid", f"{where}.entry must be a list")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict) or not isinstance(entry["resource"].get("resourceType"), str):
            raise HookError(400, "invalid", f"{where}.entry[{i}] has no resource with a resourceType")
        url = entry.get("fullUrl")
        out.append((url if isinstance(url, str) else None, entry["resource"]))
    return out


def next_link(bundle) -> str | None:
    """Return the URL of a Bundle's next page, if it has one."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or not isinstance(bundle.get("link"), list):
        return None
    for link in bundle["link"]:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str) and link["url"]:
            return link["url"]
    return None


def _search_error(bundle: dict) -> bool:
    """True if a search Bundle carries an OperationOutcome with an error: the server says the result is not whole."""
    for _, resource in _entries(bundle, "bundle"):
        if resource.get("resourceType") == "OperationOutcome":
            issues = resource.get("issue") if isinstance(resource.get("issue"), list) else []
            if any(isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues):
                return True
    return False


def read_data(key: str, value, where: str) -> Data:
    """Classify a prefetch value or fetched resource: data, missing (an OperationOutcome) or incomplete (more pages)."""
    _entries(value, where)  # validates the shape
    if value is None:
        return Data(None)
    if value["resourceType"] == "OperationOutcome":
        return Data(None, missing=OUTCOME)
    if value["resourceType"] == "Bundle":
        if next_link(value):
            return Data(value, incomplete="not all of its pages were received")
        if _search_error(value):
            return Data(value, incomplete="the FHIR server reported an error in the search result")
    return Data(value)


def merge_page(bundle: dict, page: dict) -> dict:
    """Return `bundle` with the entries of its next `page` added and the page's own links (a new dict)."""
    entries = [e for e in (bundle.get("entry") or [])] + [e for e in (page.get("entry") or [])]
    return {**bundle, "entry": entries, "link": page.get("link") or []}


def prepare(service_id: str, body) -> Call:
    """Validate a hook call and read its context and prefetch; raise HookError (400, 404) when it cannot be answered."""
    service = SERVICES.get(service_id)
    if service is None:
        raise HookError(404, "not-found", f"unknown CDS service '{service_id}'; see GET /cds-services")
    if not isinstance(body, dict):
        raise HookError(400, "invalid", "the request body must be a JSON object")
    if body.get("hook") != service["hook"]:
        raise HookError(400, "invalid", f"service '{service_id}' answers the '{service['hook']}' hook, not {_clip(repr(body.get('hook')), 80)}")
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        raise HookError(400, "required", "missing 'hookInstance'")
    context = body.get("context")
    if not isinstance(context, dict):
        raise HookError(400, "required", "missing 'context'")
    patient_id = context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id.strip():
        raise HookError(400, "required", "context.patientId is required")
    if patient_id in _DOT_SEGMENTS:
        raise HookError(400, "invalid", "context.patientId is not a FHIR id")
    if context.get("draftOrders") is None:
        raise HookError(400, "required", "context.draftOrders (a FHIR Bundle) is required")
    drafts = _entries(context["draftOrders"], "context.draftOrders")
    selections = None
    if service["hook"] == "order-select":
        selections = context.get("selections")
        if not (isinstance(selections, list) and all(isinstance(s, str) for s in selections)):
            raise HookError(400, "required", "context.selections (a list of references) is required for order-select")
        selections = tuple(selections)
    prefetch = body.get("prefetch")
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise HookError(400, "invalid", "'prefetch' must be an object")
    server = body.get("fhirServer")
    if server is not None and not isinstance(server, str):
        raise HookError(400, "invalid", "'fhirServer' must be a URL")
    auth = body.get("fhirAuthorization")
    if auth is not None and not (isinstance(auth, dict) and isinstance(auth.get("access_token"), str)):
        raise HookError(400, "invalid", "'fhirAuthorization' must be an object with an access_token")
    return Call(
        service_id=service_id, hook=service["hook"], hook_instance=body["hookInstance"], patient_id=patient_id,
        drafts=tuple(drafts), selections=selections,
        prefetch={key: read_data(key, prefetch[key], f"prefetch.{key}") if key in prefetch else Data(None, missing=NOT_SENT) for key in PREFETCH},
        fhir_server=server or None, access_token=auth["access_token"] if auth else None,
        dstu2=any(r.get("resourceType") == "MedicationOrder" for _, r in drafts),
    )


def query(call: Call, key: str) -> str:
    """Return the relative URL that fetches prefetch `key` for this call from fhirServer.

    The patient id is percent-encoded (a '/', '?', '&' or '#' in it stays inside the id). DSTU2
    servers have MedicationOrder instead of MedicationRequest and sort with _sort:desc.
    """
    relative = PREFETCH[key].replace("{{context.patientId}}", quote(call.patient_id, safe=""))
    if call.dstu2:
        relative = relative.replace("MedicationRequest?", "MedicationOrder?").replace("_sort=-date", "_sort:desc=date")
    return relative


def queries(call: Call) -> dict:
    """Return {key: relative URL} to fetch from fhirServer for each key the prefetch left missing."""
    return {key: query(call, key) for key, data in call.prefetch.items() if data.missing is not None}


# --- which FHIR servers may be fetched from ----------------------------------------------
#
# The service sends the EHR's bearer token to fhirServer, so a caller must never be able to point it
# anywhere else: fetching is off unless the operator allow-lists a server; only https is allowed, or
# plain http to a loopback IP address given explicitly; a URL is compared after normalising it, and
# anything that could mean a different host or path than it seems to (user info, a backslash, dot
# segments, percent-encoded dots or slashes, control characters) is refused rather than interpreted.

_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_ENCODED_PATH_TRICKS = re.compile(r"%(2e|2f|5c|00)", re.I)


class Origin(NamedTuple):
    """A normalised http(s) URL: scheme, host, port, path (no trailing slash) and query."""

    scheme: str
    host: str
    port: int
    path: str
    query: str

    @property
    def base(self) -> str:
        """The URL without its query: scheme://host[:port]/path (the port only when it is not the default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == (443 if self.scheme == "https" else 80) else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    def contains(self, other: Origin) -> bool:
        """True if `other` is this URL or a path below it, on the same scheme, host and port."""
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port) and (
            other.path == self.path or other.path.startswith(self.path + "/"))


def parse_url(url, *, query: bool = False) -> Origin:
    """Normalise an http(s) URL or raise ValueError saying why it is refused (`query`: allow a query string)."""
    if not isinstance(url, str) or not url:
        raise ValueError("not a URL")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in url) or not url.isascii():
        raise ValueError("the URL has spaces, control characters, backslashes or non-ASCII characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError("only https URLs are allowed (or http to a loopback IP address)")
    if "@" in parts.netloc:
        raise ValueError("user information in a URL is not allowed")
    if parts.fragment or "#" in url:
        raise ValueError("a URL with a fragment is not allowed")
    if parts.query and not query:
        raise ValueError("a base URL with a query string is not allowed")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise ValueError("the port is not a number from 0 to 65535") from None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
        if not _HOST.fullmatch(host):
            raise ValueError("the host is not a DNS name or an IP address") from None
    if scheme == "http" and not (ip is not None and ip.is_loopback):
        raise ValueError("plain http is allowed only to a loopback IP address such as 127.0.0.1; use https")
    path = parts.path.rstrip("/")
    if _ENCODED_PATH_TRICKS.search(path) or any(seg in (".", "..") for seg in path.split("/")):
        raise ValueError("the path has dot segments or percent-encoded dots, slashes or backslashes")
    return Origin(scheme, host, port, path, parts.query)


def allowed_server(fhir_server, allowed) -> Origin | None:
    """Return the normalised fhirServer if it is one of the `allowed` Origins or a path below one, else None."""
    try:
        origin = parse_url(fhir_server)
    except ValueError:
        return None
    return origin if any(a.contains(origin) for a in allowed) else None


def fetch_url(server: Origin, relative: str) -> str:
    """Return the URL of a query relative to the server (the query's own parts are already encoded)."""
    return f"{server.base}/{relative}"


def may_follow(server: Origin, link, resource_type: str) -> bool:
    """True if a Bundle's next link is a page of the same search on the same server.

    Links come from the FHIR server or from the caller's prefetch, so they are checked like the
    server itself: the same scheme, host and port, and a path that is the server's base (as HAPI
    pages with ?_getpages=) or the searched type, never another endpoint.
    """
    try:
        origin = parse_url(link, query=True)
    except ValueError:
        return False
    same = (server.scheme, server.host, server.port) == (origin.scheme, origin.host, origin.port)
    return same and origin.path in (server.path, f"{server.path}/{resource_type}")


def searched_type(relative: str) -> str:
    """The resource type a relative query asks for: 'MedicationRequest?patient=1' -> 'MedicationRequest'."""
    return relative.split("?", 1)[0].split("/", 1)[0]


# RFC 6750 b64token: what may follow "Bearer " in a header (nothing that could end the header).
_BEARER = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def bearer_token(call: Call) -> str | None:
    """Return the fhirAuthorization access token to send, or raise HookError if it cannot be sent as a bearer token."""
    if call.access_token is None:
        return None
    if not _BEARER.fullmatch(call.access_token) or len(call.access_token) > 8192:
        raise HookError(400, "invalid", "fhirAuthorization.access_token is not a bearer token")
    return call.access_token


def expects(key: str, resource) -> bool:
    """True if a fetched resource is what the query for `key` asks for (a Patient, or a search Bundle)."""
    if not isinstance(resource, dict):
        return False
    kind = resource.get("resourceType")
    return kind == "OperationOutcome" or kind == ("Patient" if key == "patient" else "Bundle")


def handle(index: Index, service_id: str, body, as_of: date) -> dict:
    """Answer a hook call from its prefetch alone (nothing is fetched): {"cards": [...]} or HookError."""
    call = prepare(service_id, body)
    return answer(index, call, call.prefetch, as_of, NO_SERVER if not call.fhir_server else NOT_ALLOWED)


def answer(index: Index, call: Call, data: dict, as_of: date, not_fetched: str | None = None) -> dict:
    """Check the drafts against the data and return {"cards": [...]}; 412 when required data is missing.

    `data` maps each prefetch key to its Data after any fetching; `not_fetched` says why keys that
    were not sent were not fetched either (NO_SERVER, NOT_ALLOWED), or None when a fetch was tried.
    Optional data that is missing becomes a note on the cards, never a refusal.
    """
    def why(key: str) -> str:
        reason = data[key].missing
        return f"{reason}, and {not_fetched}" if reason in (NOT_SENT, OUTCOME) and not_fetched else reason

    missing = [key for key in REQUIRED_PREFETCH if data[key].missing]
    if missing:
        raise HookError(412, "processing", "; ".join(f"missing required prefetch {key}: {why(key)}" for key in missing))
    entries = list(call.drafts)
    for key in PREFETCH:
        entries.extend(_entries(data[key].value, f"prefetch.{key}"))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": url, "resource": r} for url, r in entries]}
    try:
        read = read_fhir(bundle, as_of, "request")
    except FhirError as exc:
        raise HookError(400, "invalid", str(exc)) from None
    focus, unmatched = _focus(list(call.drafts), call.selections)
    report = check(index, read.request)
    not_checked = [f"{escape(ref)} was not found in context.draftOrders" for ref in unmatched]
    not_checked += [f"{escape(s.ref)} ({escape(s.name)}): {escape(s.reason)}" for s in read.skipped if s.ref in focus]
    not_checked += [f"prefetch {key}: {data[key].incomplete}; medications in the rest were not checked"
                    for key in ("medications", "statements") if data[key].incomplete]
    not_assessed = {key: f"{OPTIONAL_MEANING[key]}: {why(key)}" for key in OPTIONAL_MEANING if data[key].missing}
    return {"cards": cards(report, focus, not_checked, call.hook_instance, not_assessed)}


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


def cards(report: Report, focus: set, not_checked=(), hook_instance: str = "", not_assessed=None) -> list:
    """Turn a report into cards: one per finding that involves a focused order, plus an incomplete card.

    `not_checked` lists, as Markdown with request text escaped, what could not be checked at all (a
    selection that names no draft order, a draft with a status that is not checked, a medication list
    of which only a first page arrived). `not_assessed` maps optional prefetch keys that are missing
    to a note: it goes on every card, and when there is no card but a rule needed that context, an
    info card says so. Each card's uuid derives from the hookInstance and the rule, unique in the answer.
    """
    not_assessed = not_assessed or {}
    notes = [f"**Not assessed:** {text}" for text in not_assessed.values()]
    out = []
    taken: set = set()
    focus_drugs = _focus_drugs(report, focus)
    for finding in report.findings:
        if focus_drugs & set(finding.drugs):
            out.append(card(finding, card_uuid(hook_instance, f"{finding.id}|{','.join(finding.drugs)}", taken), notes))
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
            detail += ["", "These were not checked:", ""]
            detail += [f"- {item}" for item in not_checked]
        for note in notes:
            detail += ["", note]
        detail += ["", f"_{DISCLAIMER}_"]
        summary = f"{len(problems)} medication(s) not identified" if problems and not not_checked else "not everything could be checked"
        out.append({
            "uuid": card_uuid(hook_instance, "incomplete", taken),
            "summary": _clip(f"Interaction check incomplete: {summary}"),
            "indicator": "warning",
            "detail": "\n".join(detail),
            "source": {"label": SOURCE_LABEL},
        })
    context_keys = [key for key in ("patient", "egfr") if key in not_assessed]
    if not out and context_keys and report.context_needed:
        # No finding, but a rule would have needed the age or eGFR that could not be had: say so rather than
        # answer with an empty, reassuring list.
        detail = [f"**{_capital(' and '.join(OPTIONAL_MEANING[k] for k in context_keys))} could not be assessed.** "
                  "These rules depend on it:", ""]
        detail += [f"- {escape(item)}" for item in report.context_needed]
        detail += [""] + notes + ["", f"_{DISCLAIMER}_"]
        out.append({
            "uuid": card_uuid(hook_instance, "not-assessed", taken),
            "summary": _clip(f"Not assessed: {', '.join(OPTIONAL_MEANING[k] for k in context_keys)}"),
            "indicator": "info",
            "detail": "\n".join(detail),
            "source": {"label": SOURCE_LABEL},
        })
    return out


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _clip(text: str, limit: int = 139) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def card(f: Finding, card_id: str, notes=()) -> dict:
    """Return the card for one finding (its text comes from the rules, not from the request) with the call's notes."""
    names = ", ".join(i.name for i in f.involved)
    lines = [f"**{f.message}**", ""]
    if f.why:
        lines += [f"**Why:** {_capital(f.why)}.", ""]
    lines += [f"**What to do:** {f.management}", "", f"**Mechanism:** {f.mechanism}", "", "**Rule path:**"]
    lines += [f"- {p}" for p in f.paths]
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
    for note in notes:
        lines += ["", note]
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
