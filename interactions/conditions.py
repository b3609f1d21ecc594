"""The `when` language of rule escalations and notes: its schema, how it is evaluated and described.

A condition is a mapping such as `{age_at_least: 65}` or
`{daily_dose_at_least: {value: 20, unit: "mg"}, route: ["oral"]}`; every key must hold.
Patient keys (age, eGFR) work on every rule; dose and route keys need a rule about
one subject drug, which has a dose and a route. `involves` holds when one of the named
drugs is among the finding's drugs (e.g. a note for buprenorphine or methadone only).
"""

from __future__ import annotations

from collections import namedtuple

from .model import SEVERITY_RANK, to_unit

# The schema, as data ({key: (type name, required)}; schema.TYPES gives each type its validator).
WHEN_FIELDS = {
    "age_at_least": ("age", False),
    "egfr_below": ("egfr-threshold", False),
    "daily_dose_at_least": ("quantity", False),
    "route": ("routes", False),
    "involves": ("drug-ids", False),
}
ESCALATION_FIELDS = {"when": ("when", True), "severity": ("severity", True), "reason": ("string", True), "references": ("refs", True)}
NOTE_FIELDS = {"when": ("when", True), "text": ("string", True), "references": ("refs", True)}
# Keys that only make sense for a rule about one subject drug.
SUBJECT_KEYS = ("daily_dose_at_least", "route")


class Context(namedtuple("Context", "patient daily route drugs", defaults=(None, None, ()))):
    """What a condition is evaluated against: the patient, the subject drug's daily dose and route, and the finding's drugs."""

    __slots__ = ()


class Escalation(namedtuple("Escalation", "severity reasons context_needed references")):
    """A rule's severity after its escalations, with why, what context is missing, and extra sources."""

    __slots__ = ()


def num(value) -> str:
    """Write a number as people read it: 80, 25.5; 'unknown' for None."""
    if value is None:
        return "unknown"
    return f"{value:g}" if isinstance(value, float) else str(value)


def holds(cond: dict, ctx: Context) -> tuple[bool, list]:
    """Evaluate a condition; return (holds, missing context that could still make it hold)."""
    patient = ctx.patient
    missing, failed = [], False
    if "age_at_least" in cond:
        if patient.age is None:
            missing.append("age")
        elif patient.age < cond["age_at_least"]:
            failed = True
    if "egfr_below" in cond:
        if patient.egfr is None:
            missing.append("eGFR")
        elif patient.egfr >= cond["egfr_below"]:
            failed = True
    if "route" in cond and ctx.route not in cond["route"]:
        failed = True
    if "involves" in cond and not any(d in ctx.drugs for d in cond["involves"]):
        failed = True
    if "daily_dose_at_least" in cond:
        limit = cond["daily_dose_at_least"]
        value = to_unit(ctx.daily, limit["unit"]) if ctx.daily else None
        if value is None:
            missing.append("daily dose")
        elif value < limit["value"]:
            failed = True
    # A known part that is false settles it: asking for the rest would only be noise.
    return (not failed and not missing), ([] if failed else missing)


def describe(cond: dict) -> str:
    """Describe a condition in words, e.g. 'age >= 65 and eGFR < 30'."""
    parts = []
    if "age_at_least" in cond:
        parts.append(f"age >= {num(cond['age_at_least'])}")
    if "egfr_below" in cond:
        parts.append(f"eGFR < {num(cond['egfr_below'])}")
    if "daily_dose_at_least" in cond:
        parts.append(f"daily dose >= {num(cond['daily_dose_at_least']['value'])} {cond['daily_dose_at_least']['unit']}")
    if "route" in cond:
        parts.append(f"route {' or '.join(cond['route'])}")
    if "involves" in cond:
        parts.append(f"with {' or '.join(cond['involves'])}")
    return " and ".join(parts)


def text_fields(ctx: Context) -> dict:
    """The {placeholders} a reason or note text may use."""
    daily = ctx.daily
    return {
        "age": num(ctx.patient.age),
        "egfr": num(ctx.patient.egfr),
        "daily_dose": f"{num(daily.value)} {daily.unit}/day" if daily else "unknown",
        "route": ctx.route or "unknown",
    }


def escalate(rule: dict, ctx: Context) -> Escalation:
    """Apply a rule's escalations: the highest severity whose condition holds wins."""
    severity = rule["severity"]
    reasons, needed, refs = [], [], []
    for item in rule.get("escalate", ()):
        ok, missing = holds(item["when"], ctx)
        if ok and SEVERITY_RANK[item["severity"]] > SEVERITY_RANK[severity]:
            severity = item["severity"]
            reasons.append(f"{item['severity']} because " + item["reason"].format(**text_fields(ctx)))
            refs.extend(item["references"])
        elif missing:
            needed.append(f"{', '.join(missing)} not given: would be {item['severity']} when {describe(item['when'])}")
    return Escalation(severity=severity, reasons=tuple(reasons), context_needed=tuple(needed), references=tuple(refs))


def notes(rule: dict, ctx: Context) -> tuple[tuple, tuple]:
    """Return the texts of the rule's notes whose conditions hold, and their sources."""
    out, refs = [], []
    for item in rule.get("notes", ()):
        ok, _ = holds(item["when"], ctx)
        if ok:
            out.append(item["text"].format(**text_fields(ctx)))
            refs.extend(item["references"])
    return tuple(out), tuple(refs)
