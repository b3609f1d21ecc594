"""The rule kinds: one registry entry per kind, with its fields, its sides and how it is evaluated.

The schema validates a rule with `KINDS[kind].fields`, the graph links a rule to the
nodes named by `KINDS[kind].sides(rule)`, the loader checks those names, and the
engine evaluates the rule with `KINDS[kind]`: pairwise kinds in the engine's pair pass
(behind `gate`), the others through `evaluate`. An option that is declared here is
read here, so the schema can never accept what the engine ignores.

`evaluate(checker, rule)` and `gate(checker, rule)` receive the engine's per-list
checker, which offers: `patient`, `uses` and `previous_uses` ({drug: Involved}),
`with_strength` (drugs given with a strength), `members(rule, uses=None)` (the
(drug, path) pairs that reach the rule's subject), `name(drug)`, `class_name(class id)`,
`add(...)` (record a finding, with `why`, a sentence) and `ask(text)` (record missing context).
"""

from __future__ import annotations

from collections import namedtuple

from .conditions import Context, escalate, notes, num
from .model import SEVERITY_RANK, to_unit


class Kind(namedtuple("Kind", "fields about sides pairwise gate evaluate uses_subject_conditions")):
    """One rule kind.

    - `fields`: the kind's own keys, {key: (type name, required)}, on top of RULE_COMMON
      (schema.TYPES turns each type name into its validator);
    - `about`: the key that names what the rule is about (for messages and locations);
    - `sides(rule)`: [{"of": id, "route": [...] or None}], the graph nodes the rule hangs from;
    - `pairwise`: evaluated per pair of drugs (the most severe, most specific rule wins a pair);
    - `gate(checker, rule)`: for pairwise kinds, whether the rule may fire on this list at all (None: always);
    - `evaluate(checker, rule)`: for the other kinds, add its findings;
    - `uses_subject_conditions`: whether `when` may test the subject's daily dose and route.
    """

    __slots__ = ()


# --- pairwise kinds -----------------------------------------------------------------------

def _pair_sides(rule: dict) -> list:
    return [side for side, _ in rule["between"]]


def _class_side(rule: dict) -> list:
    return [{"of": rule["class"], "route": None}]


def _additive_gate(checker, rule) -> bool:
    """An additive rule fires only when at least `min_drugs` drugs of the list belong to its class."""
    return len(checker.members(rule)) >= rule.get("min_drugs", 2)


# --- subject kinds ------------------------------------------------------------------------

def _subject_side(rule: dict) -> list:
    return [{"of": rule["subject"], "route": None}]


def _context_finding(checker, rule, drug, path, reasons, ctx: Context, others=(), why="") -> None:
    """Add a finding about one drug: escalations from `ctx`, notes from `ctx` and the drug's `others` routes."""
    esc = escalate(rule, ctx)
    texts, note_refs = [], []
    for each in (ctx, *others):
        more, refs = notes(rule, each)
        texts += [x for x in more if x not in texts]
        note_refs += refs
    checker.add(rule, [drug], [path], severity=esc.severity, reasons=[*reasons, *esc.reasons], notes=texts,
                context=esc.context_needed, extra_refs=[*esc.references, *note_refs], why=why)


def _contexts(checker, use) -> list:
    """One condition context per route the drug is on, the main route first."""
    drugs = (use.drug,)
    return ([Context(checker.patient, r.daily_dose, r.route, drugs) for r in use.routes]
            or [Context(checker.patient, use.daily_dose, use.route, drugs)])


def _burden(checker, rule) -> None:
    """Three or more drugs under one class: one finding listing them all."""
    members = checker.members(rule)
    if len(members) < rule["min_drugs"]:
        return
    esc = escalate(rule, Context(checker.patient, drugs=tuple(m[0] for m in members)))
    names = sorted(checker.name(m[0]) for m in members)
    why = f"{', '.join(names)}: {len(names)} drugs of the class '{checker.class_name(rule['class'])}' together"
    checker.add(rule, [m[0] for m in members], [m[1] for m in members], severity=esc.severity, reasons=esc.reasons,
                context=esc.context_needed, extra_refs=esc.references, why=why)


def _renal(checker, rule) -> None:
    """The subject with eGFR below the rule's threshold; asks for eGFR when it is not given."""
    patient = checker.patient
    for drug, path in checker.members(rule):
        if patient.egfr is None:
            checker.ask(f"{rule['title']}: eGFR not given; {checker.name(drug)} is {rule['severity']} when eGFR < {num(rule['egfr_below'])}")
            continue
        if patient.egfr >= rule["egfr_below"]:
            continue
        reasons = [f"{rule['severity']} because eGFR {num(patient.egfr)} < {num(rule['egfr_below'])}"]
        first, *others = _contexts(checker, checker.uses[drug])
        why = f"{checker.name(drug)} with eGFR {num(patient.egfr)}, below {num(rule['egfr_below'])}"
        _context_finding(checker, rule, drug, path, reasons, first, others, why=why)


def _dose_limit(checker, rule) -> None:
    """The subject's daily dose on each of the rule's routes above `max_daily`; the most the order allows counts."""
    limit = rule["max_daily"]
    for drug, path in checker.members(rule):
        for use in checker.uses[drug].routes:
            if use.route not in rule["route"]:
                continue
            value = to_unit(use.daily_dose, limit["unit"]) if use.daily_dose is not None else None
            if value is None:
                if drug in checker.with_strength:
                    above = f"{num(limit['value'])} {limit['unit']}/day ({use.route})"
                    checker.ask(f"{rule['title']}: daily dose of {checker.name(drug)} not computed; above {above} is {rule['severity']}")
                continue
            if value <= limit["value"]:
                continue
            allowed = "up to " if use.daily_dose.min != use.daily_dose.max else ""
            reasons = [f"{rule['severity']} because {allowed}{num(value)} {limit['unit']}/day ({use.route}) > {num(limit['value'])} {limit['unit']}/day"]
            why = (f"{use.route} {checker.name(drug)} at {allowed}{num(value)} {limit['unit']}/day, "
                   f"above the {num(limit['value'])} {limit['unit']}/day maximum")
            _context_finding(checker, rule, drug, path, reasons, Context(checker.patient, use.daily_dose, use.route, (drug,)), why=why)


def _discontinuation(checker, rule) -> None:
    """The subject on the previous list and not on the current one, or taken off a route in `severity_by_route`."""
    previous = checker.previous_uses
    if not previous:
        return  # nothing can have been stopped without a previous list
    by_route = rule.get("severity_by_route", {})
    for drug, path in checker.members(rule, previous):
        now = checker.uses.get(drug)
        if now is None:
            continue
        current_routes = {r.route for r in now.routes}
        for before in previous[drug].routes:
            if before.route in current_routes or before.route not in by_route:
                continue
            units = checker.index.drugs[drug].get("dose_units") or {}
            dosed_as_before = before.daily_dose is not None and units.get(before.route) == before.daily_dose.unit != units.get(now.route)
            if before.route_source == "default" and not dosed_as_before:
                # "baclofen" with no route before, intrathecal now: perhaps the same pump. Ask, never assume an oral stop.
                # ("baclofen 10 mg TID" is oral all the same: intrathecal baclofen is never dosed in mg.)
                checker.ask(f"{rule['title']}: {checker.name(drug)} on the previous list has no route (assumed {before.route}); "
                            f"this list has it only {now.route}: if it was {before.route}, it is being stopped")
                continue
            # e.g. intrathecal baclofen replaced by oral: the pump is being stopped, and oral doses
            # do not replace it; that is an intrathecal discontinuation. The other way round, oral
            # baclofen replaced by the pump is an oral discontinuation (taper the oral doses) when
            # the rule lists oral in severity_by_route. Routes not listed are switches, not stops.
            severity = by_route[before.route]
            reasons = [f"{severity} because {before.route} {checker.name(drug)} on the previous list is now {now.route}: "
                       f"the {before.route} route is being stopped"]
            why = f"{before.route} {checker.name(drug)} was on the previous list; this list has it only {now.route}"
            _stopped(checker, rule, drug, path, severity, reasons, [], previous, Context(checker.patient, before.daily_dose, before.route, (drug,)), why)
    if checker.members(rule):
        # Something still reaches the subject (e.g. one benzodiazepine replaced by
        # another): that is a switch, not abrupt stopping.
        return
    stopped = {d: u for d, u in previous.items() if d not in checker.uses}
    for drug, path in checker.members(rule, stopped):
        use = stopped[drug]
        # Only a stated route sets the severity; an assumed one is said to be assumed.
        stated = [r for r in use.routes if r.route in by_route and r.route_source != "default"]
        worst = max(stated, key=lambda r: SEVERITY_RANK[by_route[r.route]], default=None)
        severity = by_route[worst.route] if worst else rule["severity"]
        reasons = []
        context = []
        if worst and severity != rule["severity"]:
            reasons.append(f"{severity} because the route was {worst.route}")
        others = {r: s for r, s in by_route.items() if r != use.route and s != rule["severity"]}
        if use.route_source == "default" and others and not worst:
            alternatives = ", ".join(f"{r}: {s}" for r, s in sorted(others.items()))
            context.append(f"route not stated, assumed {use.route}; would be different if {alternatives}")
        routes = ", ".join(r.route for r in use.routes if r.route_source != "default")
        why = f"{checker.name(drug)}{f' ({routes})' if routes else ''} was on the previous list and is not on this one"
        _stopped(checker, rule, drug, path, severity, reasons, context, stopped, Context(checker.patient, use.daily_dose, use.route, (drug,)), why)


def _stopped(checker, rule, drug, path, severity, reasons, context, uses, ctx: Context, why: str) -> None:
    """Add a stopping finding: the route's severity, raised further by the rule's escalations, with its notes."""
    esc = escalate(rule, ctx)
    if SEVERITY_RANK[esc.severity] > SEVERITY_RANK[severity]:
        severity = esc.severity
    texts, note_refs = notes(rule, ctx)
    checker.add(rule, [drug], [path], severity=severity, reasons=[*reasons, *esc.reasons], notes=texts,
                context=[*context, *esc.context_needed], uses=uses, extra_refs=[*esc.references, *note_refs], why=why)


KINDS = {
    "pair": Kind(
        fields={"between": ("two-sides", True)},
        about="between", sides=_pair_sides, pairwise=True, gate=None, evaluate=None, uses_subject_conditions=False,
    ),
    "additive": Kind(
        fields={"class": ("id", True), "min_drugs": ("drug-count", False)},
        about="class", sides=_class_side, pairwise=True, gate=_additive_gate, evaluate=None, uses_subject_conditions=False,
    ),
    "burden": Kind(
        fields={"class": ("id", True), "min_drugs": ("drug-count", True)},
        about="class", sides=_class_side, pairwise=False, gate=None, evaluate=_burden, uses_subject_conditions=False,
    ),
    "renal": Kind(
        fields={"subject": ("id", True), "egfr_below": ("egfr-threshold", True)},
        about="subject", sides=_subject_side, pairwise=False, gate=None, evaluate=_renal, uses_subject_conditions=True,
    ),
    "dose-limit": Kind(
        fields={"subject": ("id", True), "route": ("routes", True), "max_daily": ("quantity", True)},
        about="subject", sides=_subject_side, pairwise=False, gate=None, evaluate=_dose_limit, uses_subject_conditions=True,
    ),
    "discontinuation": Kind(
        fields={"subject": ("id", True), "severity_by_route": ("severity-by-route", False)},
        about="subject", sides=_subject_side, pairwise=False, gate=None, evaluate=_discontinuation, uses_subject_conditions=True,
    ),
}
# Keys every rule has, whatever its kind.
RULE_COMMON = {
    "id": ("id", True),
    "kind": ("kind", True),
    "severity": ("severity", True),
    "effect": ("effect", True),
    "title": ("string", True),
    "message": ("string", True),
    "mechanism": ("string", True),
    "management": ("string", True),
    # Advice that replaces `management` when a drug of the finding is on that route
    # (intrathecal baclofen: never stop the pump; restore delivery when it has stopped).
    "management_by_route": ("route-texts", False),
    "references": ("refs", True),
    "escalate": ("escalations", False),
    "notes": ("notes", False),
}


def sides(rule: dict) -> list:
    """Return the rule's sides as [{'of': id, 'route': [...] or None}]."""
    return KINDS[rule["kind"]].sides(rule)
