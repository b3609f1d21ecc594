"""Declare the rule-file schema as data and check YAML trees against it."""

from __future__ import annotations

from typing import Callable

from . import conditions, kinds
from .vocab import CONFIDENCES, EFFECTS, ID_PATTERN, MASS_UNITS, ROUTES, SEVERITIES, SOURCE_KINDS, did_you_mean
from .yamltree import Map, Node, Scalar, Seq


def describe(node: Node) -> str:
    """Describe a node for an error message, with a quoting hint for YAML 1.1 surprises."""
    if isinstance(node, Scalar):
        if node.type == "string":
            return f"string '{node.value}'"
        hint = f' (quote it: "{node.text}")' if node.type in ("boolean", "integer", "number", "null") else ""
        return f"{node.type} {node.text!r}{hint}"
    return "a list" if isinstance(node, Seq) else "a mapping"


class Entry(dict):
    """A validated mapping from a rule file: its keys and values, plus where it was written.

    `path` and `line` locate the mapping; `lines` gives the line of each key. The location is
    kept beside the data, never inside it, so the data can be compiled as it is.
    """

    __slots__ = ("path", "line", "lines")

    def __init__(self, path: str, line: int, data=(), lines=None):
        super().__init__(data)
        self.path = path
        self.line = line
        self.lines = dict(lines or {})

    def where(self, key: str | None = None) -> tuple:
        """Return (path, line) of the entry, or of one of its keys when that key was written."""
        return self.path, self.lines.get(key, self.line) if key else self.line


class Ctx:
    """Collect problems for one file."""

    def __init__(self, path: str, problems: list):
        self.path = path
        self.problems = problems

    def error(self, line: int, message: str) -> None:
        """Record one problem at a line of this file."""
        self.problems.append((self.path, line, message))


Validator = Callable[[Node, Ctx, str], object]


def string(node: Node, ctx: Ctx, label: str):
    """Accept a quoted, non-empty string."""
    if isinstance(node, Scalar) and node.type == "string":
        if not node.value.strip():
            ctx.error(node.line, f"{label}: must not be empty")
            return None
        return node.value
    ctx.error(node.line, f"{label}: expected a string, got {describe(node)}")
    return None


def boolean(node: Node, ctx: Ctx, label: str):
    """Accept true or false."""
    if isinstance(node, Scalar) and node.type == "boolean":
        return node.value
    ctx.error(node.line, f"{label}: expected true or false, got {describe(node)}")
    return None


def ident(node: Node, ctx: Ctx, label: str):
    """Accept a kebab-case id."""
    value = string(node, ctx, label)
    if value is not None and not ID_PATTERN.match(value):
        ctx.error(node.line, f"{label}: '{value}' is not a lowercase kebab-case id")
        return None
    return value


def enum(values) -> Validator:
    """Accept one string out of a fixed set."""

    def check(node: Node, ctx: Ctx, label: str):
        value = string(node, ctx, label)
        if value is not None and value not in values:
            ctx.error(node.line, f"{label}: '{value}' is not one of {', '.join(values)}{did_you_mean(value, values)}")
            return None
        return value

    return check


def number(minimum: float | None = None, maximum: float | None = None, integer: bool = False) -> Validator:
    """Accept a number within bounds."""

    def check(node: Node, ctx: Ctx, label: str):
        ok_types = ("integer",) if integer else ("integer", "number")
        if not (isinstance(node, Scalar) and node.type in ok_types):
            ctx.error(node.line, f"{label}: expected {'a whole number' if integer else 'a number'}, got {describe(node)}")
            return None
        value = node.value
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            ctx.error(node.line, f"{label}: {value} is out of range ({minimum} to {maximum})")
            return None
        return value

    return check


def list_of(item: Validator, min_items: int = 0, max_items: int | None = None) -> Validator:
    """Accept a list whose items pass `item`; returns (value, line) pairs."""

    def check(node: Node, ctx: Ctx, label: str):
        if not isinstance(node, Seq):
            ctx.error(node.line, f"{label}: expected a list, got {describe(node)}")
            return None
        if len(node.items) < min_items or (max_items is not None and len(node.items) > max_items):
            want = f"exactly {min_items}" if min_items == max_items else f"at least {min_items}"
            ctx.error(node.line, f"{label}: expected {want} item(s), got {len(node.items)}")
            return None
        out = []
        for child in node.items:
            value = item(child, ctx, label)
            if value is not None:
                out.append((value, child.line))
        return out

    return check


def one_or_many(item: Validator) -> Validator:
    """Accept one item or a non-empty list of them; returns (value, line) pairs."""
    many = list_of(item, min_items=1)

    def check(node: Node, ctx: Ctx, label: str):
        if isinstance(node, Seq):
            return many(node, ctx, label)
        value = item(node, ctx, label)
        return None if value is None else [(value, node.line)]

    return check


def map_of(key: Validator, value: Validator, min_items: int = 0) -> Validator:
    """Accept a mapping; returns {key: (value, line)}."""

    def check(node: Node, ctx: Ctx, label: str):
        if not isinstance(node, Map):
            ctx.error(node.line, f"{label}: expected a mapping, got {describe(node)}")
            return None
        if len(node.items) < min_items:
            ctx.error(node.line, f"{label}: expected at least {min_items} entry")
            return None
        out = {}
        for name, child in node.items.items():
            line = node.key_lines[name]
            k = key(Scalar(line, name, "string", name), ctx, label)
            v = value(child, ctx, f"{label} '{name}'")
            if k is not None and v is not None:
                out[k] = (v, line)
        return out

    return check


def record(fields: dict, what: str = "entry") -> Validator:
    """Accept a mapping with known keys; `fields` maps key -> (validator, required)."""

    def check(node: Node, ctx: Ctx, label: str):
        if not isinstance(node, Map):
            ctx.error(node.line, f"{label}: expected a mapping, got {describe(node)}")
            return None
        out = Entry(ctx.path, node.line)
        for name in node.items:
            if name not in fields:
                ctx.error(node.key_lines[name], f"{label}: unknown key '{name}'{did_you_mean(name, fields)}")
        for name, (validator, required) in fields.items():
            if name in node.items:
                value = validator(node.items[name], ctx, f"{label}: '{name}'")
                if value is not None:
                    out[name] = value
                    out.lines[name] = node.key_lines[name]
            elif required:
                ctx.error(node.line, f"{label}: missing required key '{name}'")
        return out

    return check


def entity_label(node: Node, what: str) -> str:
    """Name an entry by its id for messages, e.g. "drug 'baclofen'"."""
    if isinstance(node, Map):
        ident_node = node.items.get("id")
        if isinstance(ident_node, Scalar) and ident_node.type == "string":
            return f"{what} '{ident_node.value}'"
    return what


# --- The schema ------------------------------------------------------------------

REFS = one_or_many(ident)
QUANTITY = record({"value": (number(minimum=0), True), "unit": (enum(tuple(MASS_UNITS)), True)})
ROUTE_LIST = one_or_many(enum(ROUTES))
CODE = record({"code": (string, True), "source": (ident, True)})

SOURCE = {
    "id": (ident, True),
    "citation": (string, True),
    # A short readable citation for people, e.g. "Baclofen label §7.1" or "Beers 2023 Table 5".
    "short": (string, False),
    # The drug a label is about: a finding cites it only when that drug is involved.
    "about": (ident, False),
    "kind": (enum(SOURCE_KINDS), True),
    "confidence": (enum(CONFIDENCES), True),
    "url": (string, False),
}
CLASS = {
    "id": (ident, True),
    "name": (string, True),
    "description": (string, False),
    "parents": (map_of(ident, REFS), False),
}
DRUG = {
    "id": (ident, True),
    "name": (string, True),
    "brands": (list_of(string), False),
    "synonyms": (list_of(string), False),
    "salts": (list_of(string), False),
    "classes": (map_of(ident, REFS, min_items=1), True),
    "codes": (record({"rxnorm": (CODE, False), "atc": (CODE, False)}), False),
    "dbi_delta": (record({"value": (number(minimum=0), True), "unit": (enum(tuple(MASS_UNITS)), True), "source": (REFS, True)}), False),
    # The mass unit each route is dosed in (baclofen: mg/day oral, mcg/day intrathecal): a dose
    # written in the other unit is reported as implausible, never converted.
    "dose_units": (record({"routes": (map_of(enum(ROUTES), enum(tuple(MASS_UNITS)), min_items=1), True), "source": (REFS, True)}), False),
    # The routes by which the drug acts as its classes say (alcohol: drunk). On another stated
    # route (an alcohol prep pad, hand gel) the line is read but takes part in no rule.
    "exposure_routes": (record({"routes": (ROUTE_LIST, True), "source": (REFS, True)}), False),
    # "denies alcohol", "EtOH: none" mean not taken. Left out for medicines, where a negation is
    # not trusted: the drug is still checked and the line is marked partial.
    "negation_means_not_taken": (boolean, False),
    "note": (string, False),
}
PRODUCT = {
    "id": (ident, True),
    "name": (string, True),
    "names": (list_of(string, min_items=1), True),
    "ingredients": (list_of(ident, min_items=1), True),
    "route": (enum(ROUTES), False),
    "source": (REFS, True),
    "note": (string, False),
}
LOOKALIKE = {
    "names": (list_of(string, min_items=2, max_items=2), True),
    "source": (REFS, True),
}

def side(node: Node, ctx: Ctx, label: str):
    """Accept a rule side: an id, or {of: id, route: [...]}."""
    if isinstance(node, Map):
        value = record({"of": (ident, True), "route": (ROUTE_LIST, False)})(node, ctx, label)
        if value is None or "of" not in value:
            return None
        return {"of": value["of"], "route": [r for r, _ in value.get("route", [])] or None}
    value = ident(node, ctx, label)
    return None if value is None else {"of": value, "route": None}


def _ignore(node: Node, ctx: Ctx, label: str):
    return None


def _declared(spec: dict) -> dict:
    """Turn fields declared as data, {key: (type name, required)}, into {key: (validator, required)}."""
    return {key: (TYPES[type_name], required) for key, (type_name, required) in spec.items()}


TYPES: dict = {
    "id": ident,
    "string": string,
    "refs": REFS,
    "routes": ROUTE_LIST,
    "quantity": QUANTITY,
    "severity": enum(SEVERITIES),
    "effect": enum(EFFECTS),
    "kind": enum(tuple(kinds.KINDS)),
    "age": number(minimum=0, maximum=150),
    "egfr-threshold": number(minimum=1, maximum=300),
    "drug-count": number(minimum=2, maximum=50, integer=True),
    "drug-ids": list_of(ident, min_items=1),
    "two-sides": list_of(side, min_items=2, max_items=2),
    "severity-by-route": map_of(enum(ROUTES), enum(SEVERITIES)),
    "route-texts": map_of(enum(ROUTES), string),
}
TYPES["when"] = record(_declared(conditions.WHEN_FIELDS))
TYPES["escalations"] = list_of(record(_declared(conditions.ESCALATION_FIELDS)))
TYPES["notes"] = list_of(record(_declared(conditions.NOTE_FIELDS)))
RULE_COMMON = _declared(kinds.RULE_COMMON)
KIND_FIELDS = {name: _declared(kind.fields) for name, kind in kinds.KINDS.items()}


def rule(node: Node, ctx: Ctx, label: str):
    """Accept a rule: the keys every rule has, plus those its kind declares in kinds.KINDS."""
    kind_node = node.items.get("kind") if isinstance(node, Map) else None
    kind = kind_node.value if isinstance(kind_node, Scalar) and kind_node.value in KIND_FIELDS else None
    fields = dict(RULE_COMMON)
    if kind:
        fields.update(KIND_FIELDS[kind])
    else:
        # Unknown kind: accept any kind's keys, so that only the kind itself is reported.
        for extra in KIND_FIELDS.values():
            for name in extra:
                fields.setdefault(name, (_ignore, False))
    return record(fields)(node, ctx, label)


# What the rule set checks and what it does not: shown on every answer (exactly one per rule set).
SCOPE = {
    "name": (string, True),  # e.g. "CNS-depressant interactions": "No CNS-depressant interactions found."
    "checked": (list_of(string, min_items=1), True),
    "not_checked": (list_of(string, min_items=1), True),
    "source": (REFS, True),
}
# Top-level keys that hold one mapping rather than a list of entries.
SINGLETONS = {"scope": ("scope", record(SCOPE))}

SECTIONS = {
    "sources": ("source", record(SOURCE)),
    "classes": ("class", record(CLASS)),
    "drugs": ("drug", record(DRUG)),
    "products": ("product", record(PRODUCT)),
    "rules": ("rule", rule),
    "lookalikes": ("look-alike pair", record(LOOKALIKE)),
}
