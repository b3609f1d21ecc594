"""The pharmacist's web page: read the form into a CheckRequest, and render a Report as HTML.

HTTP stays in interactions.server; this module turns form fields into the same request as
`interactions check --input FILE --previous FILE --age N --egfr N`, and a report into a page
from the Jinja2 templates in interactions/templates (autoescaped: every typed name is text).
The page's words come from the text report's pieces in interactions.formatters, so the page and
the terminal say the same thing; this module adds only the layout and the drawing of each
finding's paths through the rule graph.
"""

from __future__ import annotations

import re
from collections import namedtuple
from itertools import pairwise
from urllib.parse import parse_qs, urlencode

import jinja2

from . import formatters
from .inputs import InputError, combine, parse_input, parse_number, parse_previous
from .model import DISCLAIMER, CheckRequest, ParsedInput, Report
from .version import __version__

FIELDS = ("medications", "previous", "age", "egfr")
LIST_FIELDS = ("medications", "previous")  # sent several times, each value is one or more lines
# A form has four fields; a body with many more is not from this page.
MAX_FIELDS = 16
# Above this, a result link's URL would pass h11's 16 KiB limit for a request line and headers:
# the JSON is then offered as a form that posts the same fields.
MAX_LINK = 8000


class Form(namedtuple("Form", FIELDS, defaults=("", "", "", ""))):
    """The page's fields as sent. Text may hold lone surrogates standing for bytes that were not UTF-8."""

    __slots__ = ()

    def shown(self, field: str) -> str:
        """Return a field as it can be shown back in the form (bytes that were not UTF-8 become U+FFFD)."""
        return getattr(self, field).encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "\ufffd")

    @property
    def empty(self) -> bool:
        """True when no field was sent at all: the blank form is wanted."""
        return not any(getattr(self, f).strip() for f in FIELDS)

    def query(self) -> str:
        """Return the fields as a URL query (only fields with a value)."""
        return urlencode([(f, getattr(self, f)) for f in FIELDS if getattr(self, f).strip()])


def read_form(data: bytes | str) -> Form:
    """Read an application/x-www-form-urlencoded body or URL query.

    The bytes are kept as sent (NUL, bytes that are not UTF-8), so that inputs.decode reports
    them with the same message as the command line. Raise InputError for too many fields.
    """
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    try:
        fields = parse_qs(text, keep_blank_values=True, encoding="utf-8", errors="surrogateescape", max_num_fields=MAX_FIELDS)
    except ValueError:
        raise InputError(f"the form sent more than {MAX_FIELDS} fields; use the form on this page") from None
    values = {}
    for f in FIELDS:
        given = fields.get(f)
        if not given:
            continue
        if len(given) > 1 and f in LIST_FIELDS:
            # ?medications=oxycodone&medications=lorazepam (what HTTP clients send for a list): each is a line.
            values[f] = "\n".join(given)
        elif len(set(given)) > 1:
            raise InputError(f"'{f}' was sent {len(given)} times with different values; send it once")
        else:
            values[f] = given[0]
    return Form(**values)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def read_request(form: Form, as_of) -> tuple[ParsedInput, CheckRequest]:
    """Turn the form into a request exactly as `check --input FILE --previous FILE --age --egfr` does; raise InputError.

    The medications box is read like an input file (one per line, '#' comments; JSON or FHIR
    when it starts with '{'), the previous box like a --previous file; `as_of` dates FHIR ages.
    """
    meds = _bytes(form.medications)
    parsed = parse_input(meds, "Medications", as_of)
    if not parsed.request.medications:
        raise InputError("the medication list is empty: enter the medications, one per line")
    previous = parse_previous(_bytes(form.previous), "Previous list") if form.previous.strip() else None
    age = parse_number(form.age, "Age", "age")
    egfr = parse_number(form.egfr, "eGFR", "egfr")
    return parsed, combine((), parsed, previous, age, egfr)


# --- the rule graph drawn ---------------------------------------------------------------------------

_ARROW = re.compile(r" ([→←]) ")


class Node(namedtuple("Node", "key kind label")):
    """A box of a finding's drawing: kind is "drug", "class" or "rule"."""

    __slots__ = ()


def path_chains(path: str, known: frozenset | None = None) -> list:
    """Read one rendered path (Finding.paths) back into chains of names, each from a drug up to a subject of the rule.

    Paths are written by the engine as "a → class → subject" (one drug), "a → ... → S ← ... ← b"
    (two drugs meeting at S) or "a → ... → Sa + Sb ← ... ← b" (two drugs under the rule's two
    subjects). A name may itself hold " + " ("alcohol + CNS depressant"): the middle name is split
    only when it is not a `known` name, at the first " + " whose two parts are known.
    """
    parts = _ARROW.split(path)
    names, arrows = parts[0::2], parts[1::2]
    if "←" not in arrows:
        return [names]
    pivot = arrows.index("←")
    left, middle, right = names[:pivot], names[pivot], list(reversed(names[pivot + 1:]))
    subjects = (middle, middle)
    if " + " in middle and (known is None or middle not in known):
        pieces = middle.split(" + ")
        splits = [(" + ".join(pieces[:i]), " + ".join(pieces[i:])) for i in range(1, len(pieces))]
        subjects = next((s for s in splits if known is None or (s[0] in known and s[1] in known)), splits[0])
    return [left + [subjects[0]], right + [subjects[1]]]


def finding_graph(finding, known: frozenset | None = None) -> tuple[list, list]:
    """Return (nodes, edges) of a finding's paths: drug → class → ... → subject → the rule."""
    nodes: dict = {}
    edges: dict = {}
    rule = Node(("rule", finding.id), "rule", finding.title)
    for path in finding.paths:
        for chain in path_chains(path, known):
            keys = []
            for i, name in enumerate(chain):
                kind = "drug" if i == 0 else "class"
                key = (kind, name)
                nodes.setdefault(key, Node(key, kind, name))
                keys.append(key)
            keys.append(rule.key)
            for a, b in pairwise(keys):
                edges[(a, b)] = None
    nodes[rule.key] = rule
    return list(nodes.values()), list(edges)


# Sizes in SVG user units (CSS pixels at 100%).
_BOX_W, _GAP_X, _GAP_Y, _LINE_H, _PAD, _CHARS = 176, 44, 14, 16, 8, 23


def _wrap(label: str, bold: bool = False) -> list:
    """Break a label into at most 4 lines that fit a box (bold type is wider); a longer label ends with '…'."""
    width = _CHARS - 3 if bold else _CHARS
    lines: list = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word if len(word) <= width else word[: width - 1] + "…")
    if len(lines) > 4:
        lines = lines[:4]
        lines[-1] = lines[-1][: width - 1] + "…"
    return lines or [""]


def layout(nodes: list, edges: list) -> dict:
    """Place the nodes in columns (drugs left, the rule right) and route the edges; return what the template draws.

    A layered drawing of the DAG: a node's column is as far right as its successors allow, drugs
    stay in the first column, and an edge spanning columns passes through a reserved slot in each
    column it crosses, so that it never runs through a box. Within a column nodes are ordered by
    the mean position of their predecessors, which keeps the crossings few for these small graphs.
    """
    succ: dict = {n.key: [] for n in nodes}
    pred: dict = {n.key: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    depth: dict = {}

    def to_rule(key):  # longest distance to the rule (a sink); the graphs are acyclic and tiny
        if key not in depth:
            depth[key] = max((to_rule(s) + 1 for s in succ[key]), default=0)
        return depth[key]

    top = max(to_rule(n.key) for n in nodes)
    column = {n.key: 0 if n.kind == "drug" else top - to_rule(n.key) for n in nodes}
    # Slots: real nodes, and one dummy per column an edge crosses.
    slots: dict = {c: [] for c in range(top + 1)}
    routes = []
    for n in nodes:
        slots[column[n.key]].append(n.key)
    for a, b in edges:
        hops = [a]
        for c in range(column[a] + 1, column[b]):
            dummy = ("via", a, b, c)
            column[dummy] = c
            slots[c].append(dummy)
            pred[dummy] = [hops[-1]]
            hops.append(dummy)
        if len(hops) > 1:
            pred[b] = [hops[-1] if p == a else p for p in pred[b]]
        hops.append(b)
        routes.append(hops)
    after: dict = {}
    for key, before in pred.items():
        for p in before:
            after.setdefault(p, []).append(key)
    order = {key: i for c in slots for i, key in enumerate(slots[c])}

    def sweep(columns, neighbours):
        for c in columns:
            slots[c].sort(key=lambda k: sum(order[n] for n in neighbours.get(k, ())) / len(neighbours[k]) if neighbours.get(k) else order[k])
            order.update((key, i) for i, key in enumerate(slots[c]))

    # Barycentre ordering: right, left, then right again (sorted() is stable, so ties keep the paths' order).
    sweep(range(1, top + 1), pred)
    sweep(range(top - 1, -1, -1), after)
    sweep(range(1, top + 1), pred)
    by_key = {n.key: n for n in nodes}
    labels = {k: _wrap(n.label, n.kind != "class") for k, n in by_key.items()}
    heights = {k: (_PAD * 2 + _LINE_H * len(labels[k]) if k in by_key else 12) for c in slots for k in slots[c]}
    totals = {c: sum(heights[k] for k in slots[c]) + _GAP_Y * (len(slots[c]) - 1) for c in slots}
    height = max(totals.values())
    boxes, centre = [], {}
    for c, keys in slots.items():
        y = (height - totals[c]) / 2
        x = c * (_BOX_W + _GAP_X)
        for key in keys:
            h = heights[key]
            centre[key] = (x, y + h / 2)
            if key in by_key:
                n = by_key[key]
                boxes.append({"kind": n.kind, "x": x, "y": y, "w": _BOX_W, "h": h, "lines": labels[key], "label": n.label,
                              "tx": x + _BOX_W / 2, "ty": y + _PAD + _LINE_H * 0.8})
            y += h + _GAP_Y
    lines = []
    for hops in routes:
        d = []
        for a, b in pairwise(hops):
            (xa, ya), (xb, yb) = centre[a], centre[b]
            x1, x2 = xa + _BOX_W, xb - (0 if b not in by_key else 2)
            if not d:
                d.append(f"M{x1:g},{ya:g}")
            mid = (x1 + x2) / 2
            d.append(f"C{mid:g},{ya:g} {mid:g},{yb:g} {x2:g},{yb:g}")
            if b not in by_key:
                d.append(f"L{xb + _BOX_W:g},{yb:g}")
        lines.append(" ".join(d))
    return {"width": (top + 1) * _BOX_W + top * _GAP_X, "height": height, "boxes": boxes, "edges": lines}


# Severity colours of the rule box: fill and ink, contrast 4.5:1 or more (the word is always written too).
FILLS = {"contraindicated": "#5c0011", "major": "#b00020", "moderate": "#f2b01e", "minor": "#1f5fa8"}
INKS = {"contraindicated": "#ffffff", "major": "#ffffff", "moderate": "#1d1d1d", "minor": "#ffffff"}

# --- the page -------------------------------------------------------------------------------------

_ENV = None
_CSS = None


def stylesheet() -> bytes:
    """Return the page's stylesheet, shipped in the package (read once)."""
    global _CSS
    if _CSS is None:
        from importlib.resources import files

        _CSS = files("interactions").joinpath("static", "page.css").read_bytes()
    return _CSS


def environment():
    """Return the Jinja2 environment (built once): templates shipped in the package, autoescaped."""
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(loader=jinja2.PackageLoader("interactions", "templates"), autoescape=True,
                                  undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return _ENV


def _finding_view(f, number: int, known) -> dict:
    return {
        "number": number,
        "id": f.id,
        "severity": f.severity,
        "title": f.title,
        "why": f.why,
        "risk": f.message,
        "action": f.management,
        "mechanism": f.mechanism,
        "drugs": [{"name": i.name, "typed": list(i.inputs), "uses": formatters.route_doses(i)} for i in f.involved],
        "reasons": list(f.reasons),
        "notes": list(f.notes),
        "context": list(f.context_needed),
        "related": list(f.related),
        "sources": [{"label": r.label, "citation": r.citation, "url": r.url if (r.url or "").startswith("https://") else None}
                    for r in f.references],
        "paths": list(f.paths),
        "graph": layout(*finding_graph(f, known)),
    }


def report_view(report: Report, known: frozenset | None = None) -> dict:
    """Return what the result part of the page shows, from the text report's pieces (no second wording of them)."""
    def read_as(meds):
        return [{"typed": m.given.text, "ref": m.given.ref, "read": formatters.describe_medication(m), "status": m.resolution.status}
                for m in meds]

    return {
        "status": formatters.status_line(report),
        "complete": report.complete,
        "summary": formatters.summary_lines(report),
        "highest": report.highest_severity,
        "counts": report.counts(),
        "unresolved": [line.strip() for line in formatters.problem_lines(report)],
        "unresolved_heading": formatters.problem_heading(report),
        "findings": [_finding_view(f, i, known) for i, f in enumerate(report.findings, start=1)],
        "load": formatters.load_lines(report.sedative_load) if report.sedative_load else [],
        "skipped": list(report.skipped),
        "notes": list(report.notes),
        "context_needed": list(report.context_needed),
        "read_as": read_as(report.medications),
        "previous": read_as(report.previous),
        "scope": report.scope,
        "scope_lines": formatters.scope_lines(report),
        "patient": report.patient,
        "rules_digest": report.rules_digest,
    }


def render(form: Form | None = None, report: Report | None = None, error: str | None = None, now=None, known=None) -> str:
    """Render the page: the blank form, a result (with the form filled in below it), or the form with an error.

    `now` (a datetime) is printed on the record; `known` is the set of the rules' drug and class
    names, used to read paths back (see path_chains).
    """
    form = form or Form()
    query = form.query() if report is not None else ""
    return environment().get_template("page.html").render(
        form={f: form.shown(f) for f in FIELDS},
        fields=[(f, form.shown(f)) for f in FIELDS if getattr(form, f).strip()],
        result=report_view(report, known) if report is not None else None,
        error=error,
        now=now,
        version=__version__,
        disclaimer=DISCLAIMER,
        fills=FILLS,
        inks=INKS,
        query=query,
        link=len(query) <= MAX_LINK,
    )
