"""Check one medication list against the compiled rules; pure, deterministic, never prints."""

from __future__ import annotations

from collections import defaultdict, namedtuple

from .conditions import Context, escalate, notes
from .index import Index
from .kinds import KINDS
from .model import (
    DISCLAIMER,  # noqa: F401 - re-exported for library callers
    MASS_UNITS,
    CheckRequest,
    Dose,
    Finding,
    Involved,
    LoadItem,
    MedicationInput,
    MedicationResult,
    NotCounted,
    Patient,  # noqa: F401 - re-exported for library callers
    Quantity,
    Related,
    Report,
    Resolution,
    RouteUse,
    SedativeLoad,
    to_unit,
)
from .vocab import SEVERITY_RANK

# The Drug Burden Index sedative component counts the drugs under this class.
SEDATIVE_CLASS = "class:cns-depressant"
# Deltas are oral daily doses; other routes are not comparable with them.
DBI_ROUTES = ("oral", "sublingual", "buccal")
# How many distinct medication lines and drug pairs the index remembers (see _line and _pair_outcome).
LINE_CACHE = 65_536
PAIR_CACHE = 262_144
_NONE = frozenset()
_ROUTE_PRIORITY = {"stated": 3, "product": 2, "form": 1, "default": 0, None: -1}


def as_inputs(medications) -> tuple:
    """Return MedicationInputs for strings (or MedicationInputs) as a tuple."""
    return tuple(m if isinstance(m, MedicationInput) else MedicationInput(text=str(m)) for m in medications)


class _Line(namedtuple("_Line", "drug text route route_source daily has_strength")):
    """What one medication line contributes to one of its drugs.

    `daily` (a Dose) is None when this line's daily dose of the drug is unknown.
    """

    __slots__ = ()


class _Resolved(namedtuple("_Resolved", "result parts uses warnings")):
    """One medication line, resolved: the MedicationResult, its _Line per drug, each as a one-line Involved,
    and what the line says that a pharmacist must check (e.g. an implausible dose unit)."""

    __slots__ = ()


def _line_parts(index: Index, result: MedicationResult) -> tuple:
    res = result.resolution
    out = []
    for drug in res.drugs:
        strength = next((s for s in res.strengths if s.drug == drug), None)
        out.append(_Line(drug=drug, text=result.given.text, route=res.route, route_source=res.route_source,
                         daily=strength.daily if strength is not None else None, has_strength=strength is not None))
    return tuple(out)


def _add(a, b):
    """Add two daily doses of one drug on one route; None when either is unknown or the units differ in kind."""
    if a is None or b is None:
        return None
    factor = to_unit(Quantity(value=1.0, unit=b.unit), a.unit)
    if factor is None:
        if a.unit != b.unit:
            return None
        factor = 1.0
    low = None if a.min is None or b.min is None else round(a.min + b.min * factor, 6)
    return Dose(min=low, max=round(a.max + b.max * factor, 6), unit=a.unit)


def _merge(index: Index, lines) -> Involved:
    """Merge every line that names one drug into what the list says about it, route by route."""
    groups: dict = {}  # route -> [route source, daily dose, daily known, inputs]
    for line in lines:
        route = line.route or "oral"  # most medicines on a list are oral; say so rather than leave it blank
        source = line.route_source or "default"
        group = groups.get(route)
        if group is None:
            groups[route] = [source, line.daily, line.daily is not None, [line.text]]
            continue
        if _ROUTE_PRIORITY[source] > _ROUTE_PRIORITY[group[0]]:
            group[0] = source
        group[1] = _add(group[1], line.daily)
        group[2] = group[2] and line.daily is not None
        if line.text not in group[3]:
            group[3].append(line.text)
    # The main route is the best attested; a tie goes to the one written first.
    order = sorted(groups, key=lambda r: -_ROUTE_PRIORITY[groups[r][0]])
    routes = tuple(RouteUse(route=r, route_source=groups[r][0], daily_dose=groups[r][1] if groups[r][2] else None,
                            inputs=tuple(groups[r][3])) for r in order)
    drug = lines[0].drug
    inputs = tuple(dict.fromkeys(line.text for line in lines))
    main = routes[0]
    return Involved(drug=drug, name=index.drugs[drug]["name"], inputs=inputs, route=main.route, route_source=main.route_source,
                    daily_dose=main.daily_dose, routes=routes)


def _line(index: Index, med: MedicationInput) -> _Resolved:
    """Resolve one medication line.

    Memoised per index by Index.cached, as lists repeat the same lines: without it a nine-drug
    check takes 1,284k instructions instead of 902k, a batch record 1,829k instead of 1,488k
    (python benchmarks/instructions.py --without-cache _line).
    """
    resolution, warnings = _checked_doses(index, _not_taken(index, _resolve_one(index, med)))
    # The drugs as people write them, beside their ids: "isopropyl alcohol", not "isopropyl-alcohol".
    resolution = resolution._replace(names=tuple(index.drugs[d]["name"] for d in resolution.drugs))
    result = MedicationResult(given=med, resolution=resolution)
    parts = _line_parts(index, result)
    return _Resolved(result=result, parts=parts, uses=tuple(_merge(index, [p]) for p in parts), warnings=warnings)


def _unplaced(med: MedicationInput) -> MedicationInput:
    """The line cache's key for a medication: the medication without `ref`.

    `ref` says where a line came from ("line 5" of a CSV file, "MedicationRequest/123"), so it
    differs on every row: as part of the key, no CSV or FHIR line was ever a cache hit, and the
    cache filled with lines that never came back (a 20,000-record long CSV: 2.75 ms a record
    and 157 MB, against 0.7 ms and 31 MB for the same lists as JSONL, whose refs repeat).
    The report gives each medication its own `ref` back (check).
    """
    if med.ref is None:
        return med
    return MedicationInput(text=med.text, dose=med.dose, route=med.route, frequency=med.frequency, code=med.code)


def _placed(meds: tuple, lines: tuple) -> tuple:
    """The MedicationResults of a list, each with the medication as given (its `ref` included)."""
    return tuple(line.result if line.result.given is med else MedicationResult(med, line.result.resolution) for med, line in zip(meds, lines, strict=True))


def _not_taken(index: Index, res: Resolution) -> Resolution:
    """Drop the drugs of a line whose stated route is not one they act by (an alcohol prep pad is not drinking)."""
    if res.route_source not in ("stated", "form", "product"):
        return res
    dropped = [d for d in res.drugs if (index.drugs[d].get("exposure_routes") or [res.route]).count(res.route) == 0]
    if not dropped:
        return res
    names = ", ".join(index.drugs[d]["name"] for d in dropped)
    return res._replace(drugs=tuple(d for d in res.drugs if d not in dropped),
                        strengths=tuple(s for s in res.strengths if s.drug not in dropped),
                        note=f"{names} by the {res.route} route is not taken into the body as its rules assume: not counted")


def _checked_doses(index: Index, res: Resolution) -> tuple:
    """Refuse a dose written in a unit the route is never dosed in (intrathecal baclofen in mg): report it, never convert it."""
    route = res.route or "oral"
    warnings, strengths, refused, units = [], [], [], []
    for s in res.strengths:
        expected = (index.drugs[s.drug].get("dose_units") or {}).get(route)
        written = [q.unit for q in (s.per_dose, s.daily) if q is not None and q.unit in MASS_UNITS]
        if expected and written and any(unit != expected for unit in written):
            name = index.drugs[s.drug]["name"]
            warnings.append(f"{name} ({route}): dose written as {_amount(s.daily or s.per_dose)}, but {route} {name} is dosed "
                            f"in {expected}; the dose was not used: check the order")
            refused.append(_amount(s.per_dose or s.daily))
            units.append(f"{name}: {route} doses are in {expected}")
            s = s._replace(per_dose=None, daily=None)
        strengths.append(s)
    if not warnings:
        return res, ()
    # The dose was not used, so the dose rules could not be checked: the line is partial and the
    # run incomplete (exit 3), never "check complete" over a possible thousand-fold error.
    note = f"dose {', '.join(refused)} not used ({'; '.join(dict.fromkeys(units))}): check the order"
    return res._replace(strengths=tuple(strengths), dose_note="implausible unit for the route; daily dose not used",
                        status="partial" if res.status == "resolved" else res.status,
                        note=f"{res.note}; {note}" if res.note else note), tuple(warnings)


def _amount(dose) -> str:
    value = dose.max if dose.min in (None, dose.max) else f"{dose.min:g}-{dose.max:g}"
    return f"{value:g} {dose.unit}" if isinstance(value, float) else f"{value} {dose.unit}"


def _uses(index: Index, lines: tuple) -> tuple[dict, set, dict]:
    """Return {drug: Involved} over a list's resolved lines, the drugs given with a strength,
    and {drug: the (line, product) positions that name it}."""
    uses: dict = {}
    strength: set = set()
    repeated: set = set()
    positions: dict = {}
    for position, line in enumerate(lines):
        products = line.result.resolution.products
        for part, involved in zip(line.parts, line.uses, strict=True):
            product = next((i for i, group in enumerate(products) if part.drug in group), 0) if products else 0
            positions.setdefault(part.drug, set()).add((position, product))
            if part.has_strength:
                strength.add(part.drug)
            if part.drug in uses:
                repeated.add(part.drug)
            else:
                uses[part.drug] = involved
    for drug in repeated:
        uses[drug] = _merge(index, [p for line in lines for p in line.parts if p.drug == drug])
    return uses, strength, positions


class _Checker:
    """Evaluate every rule over one list; what kinds.KINDS entries call back into."""

    def __init__(self, index: Index, request: CheckRequest, current: tuple, previous: tuple, explain: bool = True):
        self.index = index
        self.explain = explain
        self.patient = request.patient
        self.uses, self.with_strength, self.positions = _uses(index, current)
        self.previous_uses = _uses(index, previous)[0] if previous else {}
        self.drugs = sorted(self.uses)
        self.findings: list = []
        self.context_needed: list = [w for line in current + previous for w in line.warnings]
        # rule id -> [(drug, path to the rule's subject)], drugs in order; one pass serves every rule.
        self.subjects: dict = {}
        for drug in self.drugs:
            for rid, member in index.subject_hits(drug):
                self.subjects.setdefault(rid, []).append(member)

    # --- what rule kinds use ---------------------------------------------------------------
    def name(self, drug: str) -> str:
        """Return a drug's display name."""
        return self.index.drugs[drug]["name"]

    def class_name(self, class_id: str) -> str:
        """Return a class's display name."""
        return self.index.classes[class_id]["name"]

    def ask(self, text: str) -> None:
        """Record context that is missing and would change the answer."""
        self.context_needed.append(text)

    def members(self, rule, uses=None) -> list:
        """Return (drug, path) for each drug of `uses` (default: the current list) that reaches the rule's subject."""
        rid = rule["id"]
        if uses is None:
            return self.subjects.get(rid, [])
        return [member for drug in sorted(uses) for hit_rid, member in self.index.subject_hits(drug) if hit_rid == rid]

    def add(self, rule, drugs, paths, *, severity=None, reasons=(), notes=(), context=(), related=(), uses=None, extra_refs=(),
            why="") -> None:
        """Record a finding of `rule` about `drugs`, explained by `why` (a sentence) and `paths` (through the rule graph)."""
        static = self.index.rule_static(rule["id"])
        drugs = tuple(sorted(drugs))
        uses = uses or self.uses
        involved = tuple(uses[d] for d in drugs)
        if not self.explain:
            self.findings.append(Finding(
                id=rule["id"], kind=static.kind, severity=severity or static.severity, effect=static.effect, title=static.title,
                message=static.message, mechanism=static.mechanism, management=static.management, drugs=drugs, inputs=(),
                involved=involved, paths=tuple(paths), references=(), reasons=tuple(reasons), notes=tuple(notes),
                context_needed=tuple(context),
            ))
            return
        refs = static.references
        if extra_refs:
            refs = self.index.references(tuple(dict.fromkeys([*static.reference_ids, *extra_refs])))
        self.findings.append(Finding(
            id=rule["id"], kind=static.kind, severity=severity or static.severity, effect=static.effect, title=static.title,
            message=static.message, mechanism=static.mechanism, management=_management(rule, involved), drugs=drugs,
            inputs=_inputs(involved), involved=involved, paths=tuple(sorted(set(paths))) if len(paths) > 1 else tuple(paths),
            references=_cited(refs, drugs), reasons=tuple(reasons), notes=tuple(notes), context_needed=tuple(context),
            related=tuple(related), why=why,
        ))

    # --- pairwise rules ----------------------------------------------------------------------
    def pairs(self) -> None:
        """Per pair of drugs the most severe, most specific pairwise rule wins; one finding per rule."""
        index = self.index
        uses = self.uses
        # A pairwise rule whose gate is shut for this list (e.g. min_drugs not reached) takes no part.
        excluded = frozenset(rid for rid in index.gated if not KINDS[index.rules[rid]["kind"]].gate(self, index.rules[rid])) or _NONE
        # One key per drug and route: intrathecal and oral baclofen meet other drugs separately.
        keyed = [(d, key) for d in self.drugs for key in _pair_keys(index, uses[d])]
        positions = self.positions
        outcome_of = index.cached(_pair_outcome, PAIR_CACHE)
        winners = defaultdict(list)  # rule id -> [outcome, ...]
        for i, (drug_a, key_a) in enumerate(keyed):
            lines_a = positions[drug_a]
            one_line = len(lines_a) == 1
            for drug_b, key_b in keyed[i + 1:]:
                if drug_a == drug_b:
                    continue  # a drug never interacts with itself
                if one_line and lines_a == positions[drug_b]:
                    continue  # the ingredients of one product were formulated together (CLINICAL.md C)
                outcome = outcome_of(key_a, key_b, excluded)
                if outcome:
                    winners[outcome.rule].append(outcome)
        for rid, hits in winners.items():
            rule = index.rules[rid]
            drugs = sorted({d for o in hits for d in o.drugs})
            related = self.related([(o.related, *o.drugs) for o in hits if o.related]) if self.explain else ()
            why = self.pair_why(hits) if self.explain else ""
            if "escalate" not in rule and "notes" not in rule:
                self.add(rule, drugs, [o.path for o in hits], related=related, why=why)
                continue
            ctx = Context(self.patient, drugs=drugs)
            esc = escalate(rule, ctx)
            texts, note_refs = notes(rule, ctx)
            self.add(rule, drugs, [o.path for o in hits], severity=esc.severity, reasons=esc.reasons, notes=texts,
                     context=esc.context_needed, related=related, extra_refs=[*esc.references, *note_refs], why=why)

    def pair_why(self, hits) -> str:
        """Say in words why the drugs meet: "oxycodone (opioid) taken with lorazepam (benzodiazepine)"."""
        by_side: dict = {}  # side name -> {drug id: None}, in order
        placed: set = set()
        for hit in hits:
            for drug, side in hit.sides:
                by_side.setdefault(side, {})
                if drug not in placed:  # a drug is named once: oxycodone with hydrocodone is not "oxycodone ... taken with oxycodone"
                    by_side[side][drug] = None
                    placed.add(drug)
        sides = {side: [self.name(d) for d in drugs] for side, drugs in by_side.items() if drugs}
        if len(sides) == 1:
            (side, names), = sides.items()
            return f"{_and(names)} are {'both' if len(names) == 2 else 'all'} {_plural(side)}"
        parts = [_and(names) if names == [side] else f"{_and(names)} ({side})" for side, names in sides.items()]
        return " taken with ".join(parts)

    def related(self, hits) -> tuple:
        """Fold the other rules that matched the same drugs with another effect into one list."""
        grouped: dict = {}
        for others, a, b in hits:
            for other in others:
                grouped.setdefault(other, set()).update((a, b))
        out = []
        for other, other_drugs in sorted(grouped.items()):
            r = self.index.rules[other]
            involved = tuple(self.uses[d] for d in sorted(other_drugs))
            out.append(Related(id=other, severity=r["severity"], effect=r["effect"], title=r["title"],
                               drugs=tuple(sorted(other_drugs)), references=tuple(r["references"]),
                               message=r["message"], management=_management(r, involved)))
        return tuple(out)

    # --- sedative load --------------------------------------------------------------------------
    def sedative_load(self) -> SedativeLoad | None:
        """Drug Burden Index sedative component over drugs with a known daily dose and delta."""
        counted, not_counted, sources = [], [], ["hilmer-2007-dbi"]
        for drug in self.drugs:
            if SEDATIVE_CLASS in self.index.reach(drug):
                item = _load_item(self.index, self.uses[drug])
                if isinstance(item, LoadItem):
                    counted.append(item)
                    sources += item.sources
                else:
                    not_counted.append(item)
        if not counted and not not_counted:
            return None
        return SedativeLoad(
            method="Drug Burden Index, sedative component: sum of D/(D + delta), D = daily dose, delta = minimum recommended daily dose",
            value=round(sum(c.contribution for c in counted), 2) if counted else None,
            counted=tuple(counted),
            not_counted=tuple(not_counted),
            references=self.index.references(tuple(dict.fromkeys(sources))),
        )

    def run(self) -> None:
        """Evaluate the pairwise rules, then every other rule through its kind."""
        self.pairs()
        for rule in self.index.other_rules.values():
            KINDS[rule["kind"]].evaluate(self, rule)


def _management(rule: dict, involved: tuple) -> str:
    """The rule's advice, or its advice for a route when a drug is on that route (intrathecal baclofen is never stopped)."""
    by_route = rule.get("management_by_route")
    if not by_route:
        return rule["management"]
    # Only the drugs on a route with its own advice decide (intrathecal baclofen): the routes of the
    # other drugs (oral clonazepam) say nothing about which advice applies.
    on_special = [inv for inv in involved if any(r.route in by_route for r in (inv.routes or (inv,)))]
    routes = [r.route for inv in on_special for r in (inv.routes or (inv,))]
    matched = list(dict.fromkeys(by_route[r] for r in routes if r in by_route))
    if not matched:
        return rule["management"]
    if all(r in by_route for r in routes):
        return " ".join(matched)
    other = ", ".join(sorted({r for r in routes if r not in by_route}))
    return f"{other.capitalize()}: {rule['management']} " + " ".join(
        f"{r.capitalize()}: {by_route[r]}" for r in dict.fromkeys(routes) if r in by_route)


def _cited(refs: tuple, drugs: tuple) -> tuple:
    """The references that apply: a drug's own label only where that drug is involved."""
    kept = tuple(r for r in refs if r.about is None or r.about in drugs)
    return kept or refs


def _and(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _plural(name: str) -> str:
    """'CNS depressant' -> 'CNS depressants'; 'CNS-active drug (Beers)' -> 'CNS-active drugs (Beers)'."""
    head, paren, tail = name.partition(" (")
    head = head if head.endswith("s") else head + "s"
    return f"{head}{paren}{tail}"


def _inputs(involved: tuple) -> tuple:
    """Every input text of the involved drugs, once, in order.

    A combination product names two drugs on one line; two lines with the same text can
    also resolve differently (e.g. by their codes).
    """
    return tuple(dict.fromkeys(text for inv in involved for text in inv.inputs))


def _pair_keys(index: Index, use: Involved) -> list:
    """A drug on each of its routes ("drug route"), as the pair cache knows it; none if the drug takes part in no pairwise rule.

    Strings, not tuples: a string keeps its hash, and the pair cache hashes each key per pair.
    Drug ids have no spaces (the loader checks them); a route from the API might.
    """
    return [f"{use.drug} {r.route}" for r in use.routes] if index.pair_rules(use.drug) else []


class _PairOutcome(namedtuple("_PairOutcome", "rule path related drugs sides")):
    """The winning rule for two drugs, the path that explains it, the other rules with another effect, the two drugs,
    and each drug with the name of the rule side it reached ((drug, side name), (drug, side name))."""

    __slots__ = ()


def _pair_outcome(index: Index, key_a: str, key_b: str, excluded: frozenset):
    """Return the _PairOutcome for two drugs on their routes, or None.

    Per pair, the most severe rule wins, then the most specific one (the fewest drugs on its sides).
    A pure function of the index and its arguments, memoised per index by Index.cached:
    without it a nine-drug check takes 2,112k instructions instead of 902k, a batch record
    2,539k instead of 1,488k (python benchmarks/instructions.py --without-cache _pair_outcome).
    """
    a, route_a = key_a.split(" ", 1)
    b, route_b = key_b.split(" ", 1)
    rules_a = index.pair_rules(a)
    rules_b = index.pair_rules(b)
    matched = []
    for rid in rules_a.keys() & rules_b.keys():
        if rid in excluded:
            continue
        rule = index.rules[rid]
        hit = _match_pair(rule, route_a, route_b, rules_a[rid], rules_b[rid])
        if hit:
            weight = sum(s["weight"] for s in rule["sides"]) * (2 if len(rule["sides"]) == 1 else 1)
            matched.append((-SEVERITY_RANK[rule["severity"]], weight, rid, hit))
    if not matched:
        return None
    matched.sort()
    _, _, rid, (first, second) = matched[0]
    effect = index.rules[rid]["effect"]
    related = tuple(other for _, _, other, _ in matched[1:] if index.rules[other]["effect"] != effect)
    sides = tuple((path[0].split(":", 1)[1], index.name_of(path[-1])) for path in (first, second))
    return _PairOutcome(rule=rid, path=_pair_path(index, first, second), related=related, drugs=(a, b), sides=sides)


def _match_pair(rule, route_a, route_b, entries_a, entries_b):
    """Return the two explanation paths if the drugs, on their routes, satisfy the rule's sides."""
    sides = rule["sides"]
    one_sided = len(sides) == 1
    for ea in entries_a:
        allowed = sides[ea[0]]["route"]
        if allowed is not None and route_a not in allowed:
            continue
        for eb in entries_b:
            allowed = sides[eb[0]]["route"]
            if allowed is not None and route_b not in allowed:
                continue
            if one_sided or ea[0] != eb[0]:
                first, second = (ea, eb) if ea[0] <= eb[0] else (eb, ea)
                return first[2], second[2]
    return None


def _pair_path(index: Index, path_a, path_b) -> str:
    a = index.render_path(path_a)
    if path_a[-1] == path_b[-1]:
        tail = " ← ".join(index.name_of(k) for k in reversed(path_b[:-1]))
        return f"{a} ← {tail}" if tail else a
    return f"{a} + " + " ← ".join(index.name_of(k) for k in reversed(path_b))


def _load_item(index: Index, use: Involved):
    """Return the drug's LoadItem in the sedative load, or NotCounted with the reason."""
    delta = index.drugs[use.drug]["dbi_delta"]
    oral = next((r for r in use.routes if r.route in DBI_ROUTES), None)
    reason = None
    if delta is None:
        reason = "no minimum daily dose (delta) in the rules"
    elif oral is None:
        reason = f"route {use.route}: the delta is an oral dose"
    elif oral.daily_dose is None:
        reason = "daily dose unknown"
    dose = to_unit(oral.daily_dose, delta["unit"]) if reason is None else None
    if reason is None and dose is None:
        reason = "daily dose is not a mass"
    if reason:
        return NotCounted(drug=use.drug, reason=reason, name=use.name)
    return LoadItem(drug=use.drug, daily_dose=Quantity(value=dose, unit=delta["unit"]),
                    delta=Quantity(value=float(delta["value"]), unit=delta["unit"]),
                    contribution=round(dose / (dose + delta["value"]), 3), sources=tuple(delta["source"]), name=use.name)


def _resolve_one(index: Index, med: MedicationInput) -> Resolution:
    extra = " ".join(p for p in (med.dose, med.frequency) if p)
    entry = index.table.codes.get(med.code) if med.code else None
    if entry is not None:
        drugs = tuple(sorted(entry["drugs"]))
        res = index.resolve(med.text)._replace(text=med.text, status="resolved", drugs=drugs,
                                               matched=(f"rxcui {med.code}" + (f": {entry['display']}" if entry.get("display") else ""),),
                                               unrecognized=(), suggestions=(), via="code")
        if entry.get("route") and res.route_source not in ("stated", "product"):
            res = res._replace(route=entry["route"], route_source="product")
        base = entry.get("display") or med.text
    else:
        res = index.resolve(med.text)
        drugs = res.drugs
        base = med.text
    if extra and drugs:
        # Structured fields (JSON, CSV, FHIR dosage) describe the dose: an explicit dose replaces any
        # strength in the name, which is only used when no dose is given.
        names = " ".join(index.drugs[d]["name"] for d in drugs)
        text = f"{names} {extra}" if med.dose and _has_strength(med.dose) else f"{base} {extra}"
        parsed = index.resolve(text)
        if tuple(sorted(parsed.drugs)) != tuple(sorted(drugs)):
            parsed = index.resolve(f"{names} {extra}")
        note = parsed.dose_note
        if med.dose and len(drugs) > 1:
            note = "one dose given for a combination product; daily dose not computed"
        res = res._replace(frequency=parsed.frequency or res.frequency,
                           strengths=() if med.dose and len(drugs) > 1 else parsed.strengths, dose_note=note)
    if med.route and res.drugs:
        res = res._replace(route=med.route, route_source="stated")
    return res


def _has_strength(text: str) -> bool:
    from .sig import has_strength
    from .vocab import fold

    return has_strength(fold(text))


def check(index: Index, request: CheckRequest, skipped: tuple = (), notes: tuple = (), explain: bool = True) -> Report:
    """Resolve every medication and evaluate every rule; return the report.

    `skipped` and `notes` come from the input format (FHIR) and are carried into the report.
    With `explain=False` the findings are decided exactly as with it (the same rules, pairs,
    gates and escalations, hence the same ids, severities and drugs, and the same
    medications), but what only explains them is left out: a pair's `why`, `related` rules,
    `inputs`, `references`, route-specific `management` and the sedative load. That is
    what batch --detail summary and `screen` show, at about half the cost of a full check
    (instructions per benchmark batch record: see benchmarks/README.md).
    """
    line = index.cached(_line, LINE_CACHE)
    current = tuple([line(_unplaced(med)) for med in request.medications])
    previous = tuple([line(_unplaced(med)) for med in request.previous])
    checker = _Checker(index, request, current, previous, explain)
    checker.run()
    findings = sorted(checker.findings, key=lambda f: (-SEVERITY_RANK[f.severity], index.rules[f.id].get("rank", 0), f.id, f.drugs))
    return Report(
        medications=_placed(request.medications, current),
        previous=_placed(request.previous, previous) if previous else (),
        patient=request.patient,
        findings=tuple(findings),
        context_needed=tuple(sorted(set(checker.context_needed))),
        rules_digest=index.digest,
        sedative_load=checker.sedative_load() if explain else None,
        skipped=tuple(skipped),
        notes=tuple(notes),
        scope=index.scope,
    )

