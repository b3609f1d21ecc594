"""Check one medication list against the compiled rules; pure, deterministic, never prints."""

from __future__ import annotations

from collections import defaultdict, namedtuple
from itertools import chain
from operator import itemgetter

from .index import Index
from .model import (
    DISCLAIMER,  # noqa: F401 - re-exported for library callers
    CheckRequest,
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
    SedativeLoad,
    to_unit,
)
from .vocab import SEVERITY_RANK

# The Drug Burden Index sedative component counts the drugs under this class.
SEDATIVE_CLASS = "class:cns-depressant"
# Deltas are oral daily doses; other routes are not comparable with them.
DBI_ROUTES = ("oral", "sublingual", "buccal")


def as_inputs(medications) -> tuple:
    """Return MedicationInputs for strings (or MedicationInputs) as a tuple."""
    out = []
    for m in medications:
        if type(m) is str:
            made = _INPUTS.get(m)
            if made is None:
                if len(_INPUTS) >= LINE_MEMO_LIMIT:
                    _INPUTS.clear()
                # tuple.__new__ is what MedicationInput(text) does, minus the keyword handling.
                made = _INPUTS[m] = plain_input(m)
            out.append(made)
        else:
            out.append(m if isinstance(m, MedicationInput) else plain_input(str(m)))
    return tuple(out)


_INPUTS: dict = {}  # str -> MedicationInput: lists repeat the same strings


def plain_input(text: str, ref: str | None = None) -> MedicationInput:
    """MedicationInput(text, ref=ref) without the keyword handling of the namedtuple constructor (hot paths)."""
    return _tuple_new(MedicationInput, (text, None, None, None, ref, None))


def request(medications: tuple, previous: tuple, patient: Patient) -> CheckRequest:
    """CheckRequest(medications, previous, patient), without the keyword layer (the library's hot path)."""
    return _tuple_new(CheckRequest, (medications, previous, patient))


_tuple_new = tuple.__new__
# Fields of a pair outcome (rule id, path, related rule ids, (drug a, drug b)).
_PATH_OF, _RELATED_OF, _DRUGS_OF = itemgetter(1), itemgetter(2), itemgetter(3)


class _Line(namedtuple("_Line", "drug text route route_source daily has_strength")):
    """What one medication line contributes to each of its drugs, computed once per distinct line.

    `daily` is None when this line's daily dose of the drug is unknown.
    """

    __slots__ = ()


REPORT_MEMO_LIMIT = 2_048
PAIR_MEMO_LIMIT = 200_000
LINE_MEMO_LIMIT = 100_000
_ROUTE_PRIORITY = {"stated": 3, "product": 2, "form": 1, "default": 0, None: -1}


def _line_parts(result: MedicationResult) -> tuple:
    res = result.resolution
    out = []
    for drug in res.drugs:
        strength = None
        for s in res.strengths:
            if s.drug == drug:
                strength = s
                break
        out.append(_Line(drug, result.given.text, res.route, res.route_source,
                         strength.daily if strength is not None else None, strength is not None))
    return tuple(out)


def _merge(index: Index, lines: list) -> Involved:
    """Merge every line that names one drug into what the list says about it."""
    inputs: list = []
    route = source = None
    daily = None
    daily_unknown = False
    for line in lines:
        if line.text not in inputs:
            inputs.append(line.text)
        if _ROUTE_PRIORITY[line.route_source] > _ROUTE_PRIORITY[source]:
            route, source = line.route, line.route_source
        if line.daily is None:
            daily_unknown = True
        elif daily is None:
            daily = line.daily
        else:
            added = to_unit(line.daily, daily.unit)
            if added is not None:
                daily = Quantity(daily.value + added, daily.unit)
    if route is None:
        # Most medicines on a list are oral; say so rather than leave it blank.
        route, source = "oral", "default"
    drug = lines[0].drug
    return Involved(drug, index.drugs[drug]["name"], tuple(inputs), route, source, None if daily_unknown else daily)


def _uses(index: Index, lines: tuple) -> tuple[dict, set, dict]:
    """Return {drug: Involved} over a list's lines, the drugs given with a strength, and each drug's pair memo key."""
    uses: dict = {}
    strength: set = set()
    keys: dict = {}
    repeated = None
    for _, items, _ in lines:
        for drug, involved, has_strength, key in items:
            if has_strength:
                strength.add(drug)
            if drug in uses:
                repeated = repeated or set()
                repeated.add(drug)
            else:
                uses[drug] = involved
                keys[drug] = key
    if repeated:
        for drug in repeated:
            uses[drug] = _merge(index, [line for _, _, parts in lines for line in parts if line.drug == drug])
            keys[drug] = _pair_key(index, uses[drug])
    return uses, strength, keys


def _pair_key(index: Index, use: Involved) -> str | None:
    """The pair memo key of a drug on its route ("drug route"), or None if it takes part in no pair rule.

    A string, not a tuple: a string caches its hash.
    """
    return f"{use.drug} {use.route}" if index.pair_rules[use.drug] else None


class _Checker:
    """Evaluate every rule kind over one list; one method per kind."""

    def __init__(self, index: Index, request: CheckRequest, current: tuple, previous: tuple):
        self.index = index
        self.patient = request.patient
        self.uses, self.with_strength, self.pair_keys = _uses(index, current)
        self.previous_uses = _uses(index, previous)[0] if previous else {}
        self.drugs = sorted(self.uses)
        self.findings: list = []
        self.context_needed: list = []
        # rule id -> [(drug, path to the rule's subject)], drugs in order; one pass serves every rule.
        self.subjects: dict = {}
        subjects = self.subjects
        subject_hits = index.subject_hits
        for drug in self.drugs:
            for rid, member in subject_hits[drug]:
                hit = subjects.get(rid)
                if hit is None:
                    subjects[rid] = [member]
                else:
                    hit.append(member)

    # --- helpers ------------------------------------------------------------------
    def refs(self, ids) -> tuple:
        return self.index.references(ids)

    def finding(self, rule_id: str, drugs, paths, severity=None, reasons=(), notes=(), context=(), related=(), uses=None, extra_refs=()) -> Finding:
        static = self.index.rule_static[rule_id]
        drugs = tuple(sorted(drugs))
        uses = uses or self.uses
        involved = tuple([uses[d] for d in drugs])
        inputs = self.inputs(involved)
        refs = static.references if not extra_refs else self.refs(dict.fromkeys([*static.reference_ids, *extra_refs]))
        return _tuple_new(Finding, (
            rule_id, static.kind, severity or static.severity, static.effect, static.title, static.message,
            static.mechanism, static.management, drugs, inputs, involved,
            tuple(sorted(set(paths))) if len(paths) > 1 else tuple(paths),
            refs, tuple(reasons), tuple(notes), tuple(context), tuple(related),
        ))

    # --- pairwise rules -------------------------------------------------------------
    def pairs(self) -> None:
        index = self.index
        outcomes = index.pair_outcomes
        uses = self.uses
        keys = self.pair_keys
        keyed = [keys[d] for d in self.drugs if keys[d] is not None]
        winners = defaultdict(list)  # rule id -> [outcome, ...]
        for i, key_a in enumerate(keyed):
            row = outcomes.get(key_a)
            if row is None:
                row = outcomes[key_a] = {}
            for key_b in keyed[i + 1:]:
                outcome = row.get(key_b)
                if outcome is None:
                    index.pair_outcome_count += 1
                    if index.pair_outcome_count > PAIR_MEMO_LIMIT:
                        outcomes.clear()
                        index.pair_outcome_count = 1
                        outcomes[key_a] = row
                    # Drug ids have no spaces (the loader checks them); a route from the API might.
                    outcome = row[key_b] = _pair_outcome(index, *key_a.split(" ", 1), *key_b.split(" ", 1))
                if outcome:
                    winners[outcome[0]].append(outcome)
        static = index.rule_static
        findings = self.findings
        for rid, hits in winners.items():
            rule = static[rid]
            if len(hits) == 1:
                _, path, related, drugs = hits[0]
                paths = (path,)
                related = self.related([(related, *drugs)]) if related else ()
            else:
                drugs = tuple(sorted(set(chain.from_iterable(map(_DRUGS_OF, hits)))))
                paths = tuple(sorted(set(map(_PATH_OF, hits))))
                related = self.related([(o[2], *o[3]) for o in hits if o[2]]) if any(map(_RELATED_OF, hits)) else ()
            involved = tuple(map(uses.__getitem__, drugs))
            findings.append(_tuple_new(Finding, (
                rid, rule.kind, rule.severity, rule.effect, rule.title, rule.message, rule.mechanism, rule.management,
                drugs, self.inputs(involved), involved, paths, rule.references, (), (), (), related,
            )))

    def inputs(self, involved: tuple) -> tuple:
        """Every input text of the involved drugs, once, in order."""
        if len(involved) == 1:
            return involved[0].inputs
        out: list = []
        for inv in involved:
            out += inv.inputs
        # A combination product names two drugs on one line; two lines with the same text can
        # also resolve differently (e.g. by their codes).
        return tuple(dict.fromkeys(out))

    def related(self, hits) -> tuple:
        """Fold the other rules that matched the same drugs with another effect into one list."""
        grouped: dict = {}
        for others, a, b in hits:
            for other in others:
                grouped.setdefault(other, set()).update((a, b))
        out = []
        for other, other_drugs in sorted(grouped.items()):
            r = self.index.rules[other]
            out.append(Related(other, r["severity"], r["effect"], r["title"], tuple(sorted(other_drugs)), tuple(r["references"])))
        return tuple(out)

    # --- group and context rules --------------------------------------------------------
    def members(self, rule, uses=None) -> list:
        """Return (drug, path) for each drug of `uses` (default: the current list) that reaches the rule's subject."""
        rid = rule["id"]
        if uses is None:
            return self.subjects.get(rid, [])
        out = []
        for drug in sorted(uses):
            for hit_rid, member in self.index.subject_hits[drug]:
                if hit_rid == rid:
                    out.append(member)
        return out

    def escalate(self, rule, context) -> tuple:
        """Return (severity, reasons, context needed, extra references), memoised per patient and context."""
        key = (rule["id"], self.patient, context.get("daily"), context.get("route"))
        memo = self.index.escalations
        hit = memo.get(key)
        if hit is None:
            if len(memo) >= LINE_MEMO_LIMIT:
                memo.clear()
            hit = memo[key] = tuple(tuple(x) if isinstance(x, list) else x for x in self._escalate(rule, context))
        return hit

    def _escalate(self, rule, context) -> tuple:
        severity = rule["severity"]
        reasons, needed, refs = [], [], []
        for item in rule.get("escalate", []):
            ok, missing = self.when(item["when"], context)
            if ok and SEVERITY_RANK[item["severity"]] > SEVERITY_RANK[severity]:
                severity = item["severity"]
                reasons.append(f"{item['severity']} because " + item["reason"].format(**self.fields(context)))
                refs.extend(item["references"])
            elif missing:
                needed.append(f"{', '.join(missing)} not given: would be {item['severity']} when {self.describe_when(item['when'])}")
        return severity, reasons, needed, refs

    def fields(self, context) -> dict:
        daily = context.get("daily")
        return {
            "age": _num(self.patient.age),
            "egfr": _num(self.patient.egfr),
            "daily_dose": f"{_num(daily.value)} {daily.unit}/day" if daily else "unknown",
            "route": context.get("route") or "unknown",
        }

    def when(self, cond, context) -> tuple[bool, list]:
        """Evaluate a condition; return (holds, missing context that could still make it hold)."""
        missing, failed = [], False
        if "age_at_least" in cond:
            if self.patient.age is None:
                missing.append("age")
            elif self.patient.age < cond["age_at_least"]:
                failed = True
        if "egfr_below" in cond:
            if self.patient.egfr is None:
                missing.append("eGFR")
            elif self.patient.egfr >= cond["egfr_below"]:
                failed = True
        if "route" in cond and context.get("route") not in cond["route"]:
            failed = True
        if "daily_dose_at_least" in cond:
            limit = cond["daily_dose_at_least"]
            daily = context.get("daily")
            value = to_unit(daily, limit["unit"]) if daily else None
            if value is None:
                missing.append("daily dose")
            elif value < limit["value"]:
                failed = True
        # A known part that is false settles it: asking for the rest would only be noise.
        return (not failed and not missing), ([] if failed else missing)

    @staticmethod
    def describe_when(cond) -> str:
        parts = []
        if "age_at_least" in cond:
            parts.append(f"age >= {_num(cond['age_at_least'])}")
        if "egfr_below" in cond:
            parts.append(f"eGFR < {_num(cond['egfr_below'])}")
        if "daily_dose_at_least" in cond:
            parts.append(f"daily dose >= {_num(cond['daily_dose_at_least']['value'])} {cond['daily_dose_at_least']['unit']}")
        if "route" in cond:
            parts.append(f"route {' or '.join(cond['route'])}")
        return " and ".join(parts)

    def rule_notes(self, rule, context) -> tuple[list, list]:
        out, refs = [], []
        for item in rule.get("notes", []):
            ok, _ = self.when(item["when"], context)
            if ok:
                out.append(item["text"].format(**self.fields(context)))
                refs.extend(item["references"])
        return out, refs

    def burden(self, rule) -> None:
        members = self.members(rule)
        if len(members) < rule["min_drugs"]:
            return
        severity, reasons, needed, refs = self.escalate(rule, {})
        self.findings.append(self.finding(rule["id"], [m[0] for m in members], [m[1] for m in members], severity, reasons, (), needed, extra_refs=refs))

    def renal(self, rule) -> None:
        for drug, path in self.members(rule):
            use = self.uses[drug]
            context = {"daily": use.daily_dose, "route": use.route}
            if self.patient.egfr is None:
                self.context_needed.append(self.index.text(
                    ("egfr-needed", rule["id"], drug),
                    lambda: f"{rule['id']}: eGFR not given; {self.index.drugs[drug]['name']} is {rule['severity']} when eGFR < {_num(rule['egfr_below'])}",
                ))
                continue
            if self.patient.egfr >= rule["egfr_below"]:
                continue
            reasons = [f"{rule['severity']} because eGFR {_num(self.patient.egfr)} < {_num(rule['egfr_below'])}"]
            self.context_finding(rule, drug, path, reasons, context)

    def context_finding(self, rule, drug, path, reasons, context) -> None:
        severity, more, needed, refs = self.escalate(rule, context)
        notes, note_refs = self.rule_notes(rule, context)
        self.findings.append(self.finding(rule["id"], [drug], [path], severity, [*reasons, *more], notes, needed, extra_refs=[*refs, *note_refs]))

    def dose_limit(self, rule) -> None:
        limit = rule["max_daily"]
        for drug, path in self.members(rule):
            use = self.uses[drug]
            if use.route not in rule["route"]:
                continue
            if use.daily_dose is None:
                if drug not in self.with_strength:
                    continue
                self.context_needed.append(self.index.text(
                    ("dose-needed", rule["id"], drug, use.route),
                    lambda: f"{rule['id']}: daily dose of {self.index.drugs[drug]['name']} not computed; above {_num(limit['value'])} {limit['unit']}/day ({use.route}) is {rule['severity']}",
                ))
                continue
            value = to_unit(use.daily_dose, limit["unit"])
            if value is None or value <= limit["value"]:
                continue
            reasons = [f"{rule['severity']} because {_num(value)} {limit['unit']}/day ({use.route}) > {_num(limit['value'])} {limit['unit']}/day"]
            self.context_finding(rule, drug, path, reasons, {"daily": use.daily_dose, "route": use.route})

    def discontinuation(self, rule) -> None:
        if not self.previous_uses:
            return  # nothing can have been stopped without a previous list
        by_route = rule.get("severity_by_route", {})
        for drug, path in self.members(rule, self.previous_uses):
            before, now = self.previous_uses[drug], self.uses.get(drug)
            if now is None or before.route == now.route or before.route not in by_route:
                continue
            # e.g. intrathecal baclofen replaced by oral: the pump is being stopped, and oral doses
            # do not replace it; that is an intrathecal discontinuation.
            severity = by_route[before.route]
            reasons = [f"{severity} because {before.route} {self.index.drugs[drug]['name']} on the previous list is now {now.route}: the {before.route} route is being stopped"]
            self.findings.append(self.finding(rule["id"], [drug], [path], severity, reasons, uses=self.previous_uses))
        if self.members(rule):
            # Something still reaches the subject (e.g. one benzodiazepine replaced by
            # another): that is a switch, not abrupt stopping.
            return
        stopped = {d: u for d, u in self.previous_uses.items() if d not in self.uses}
        for drug, path in self.members(rule, stopped):
            use = stopped[drug]
            severity = by_route.get(use.route, rule["severity"])
            reasons = []
            context = []
            if use.route in by_route:
                reasons.append(f"{severity} because the route was {use.route}")
            if use.route_source == "default" and by_route:
                alternatives = ", ".join(f"{r}: {s}" for r, s in sorted(by_route.items()))
                context.append(f"route not stated, assumed {use.route}; would be different if {alternatives}")
            notes, note_refs = self.rule_notes(rule, {"daily": use.daily_dose, "route": use.route})
            self.findings.append(self.finding(rule["id"], [drug], [path], severity, reasons, notes, context, uses=stopped, extra_refs=note_refs))

    def sedative_load(self) -> SedativeLoad | None:
        """Drug Burden Index sedative component over drugs with a known daily dose and delta."""
        reach = self.index.reach
        counted, not_counted, sources = [], [], ["hilmer-2007-dbi"]
        for drug in self.drugs:
            if SEDATIVE_CLASS in reach[drug]:
                item = _load_item(self.index, self.uses[drug])
                if type(item) is LoadItem:
                    counted.append(item)
                    sources += item.sources
                else:
                    not_counted.append(item)
        if not counted and not not_counted:
            return None
        return SedativeLoad(
            "Drug Burden Index, sedative component: sum of D/(D + delta), D = daily dose, delta = minimum recommended daily dose",
            round(sum([c.contribution for c in counted]), 2) if counted else None,
            tuple(counted),
            tuple(not_counted),
            self.refs(dict.fromkeys(sources)),
        )

    def run(self) -> None:
        self.pairs()
        for rule in self.index.other_rules.values():
            _KIND_METHODS[rule["kind"]](self, rule)


def _pair_outcome(index: Index, a: str, route_a: str, b: str, route_b: str):
    """Return (winning rule, explanation path, related rule ids, (a, b)) for two drugs on their routes, or ().

    Per pair, the most severe rule wins, then the most specific one (the fewest drugs on its sides).
    Depends only on the index, so callers memoise it per (drug, route) pair.
    """
    rules_a = index.pair_rules[a]
    rules_b = index.pair_rules[b]
    matched = []
    for rid in rules_a.keys() & rules_b.keys():
        rule = index.rules[rid]
        hit = _match_pair(rule, route_a, route_b, rules_a[rid], rules_b[rid])
        if hit:
            weight = sum(s["weight"] for s in rule["sides"]) * (2 if len(rule["sides"]) == 1 else 1)
            matched.append((-SEVERITY_RANK[rule["severity"]], weight, rid, hit))
    if not matched:
        return ()
    matched.sort()
    _, _, rid, (first, second) = matched[0]
    effect = index.rules[rid]["effect"]
    related = tuple(other for _, _, other, _ in matched[1:] if index.rules[other]["effect"] != effect)
    return rid, _pair_path(index, first, second), related, (a, b)


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
    """Return the drug's LoadItem in the sedative load, or NotCounted with the reason (memoised per use)."""
    hit = index.load_items.get(use)
    if hit is not None:
        return hit
    delta = index.drugs[use.drug]["dbi_delta"]
    reason = None
    if delta is None:
        reason = "no minimum daily dose (delta) in the rules"
    elif use.route not in DBI_ROUTES:
        reason = f"route {use.route}: the delta is an oral dose"
    elif use.daily_dose is None:
        reason = "daily dose unknown"
    dose = to_unit(use.daily_dose, delta["unit"]) if reason is None else None
    if reason is None and dose is None:
        reason = "daily dose is not a mass"
    if reason:
        hit = NotCounted(use.drug, reason)
    else:
        contribution = round(dose / (dose + delta["value"]), 3)
        hit = LoadItem(use.drug, Quantity(dose, delta["unit"]), Quantity(float(delta["value"]), delta["unit"]), contribution, tuple(delta["source"]))
    if len(index.load_items) >= LINE_MEMO_LIMIT:
        index.load_items.clear()
    index.load_items[use] = hit
    return hit


_KIND_METHODS = {"burden": _Checker.burden, "renal": _Checker.renal, "dose-limit": _Checker.dose_limit, "discontinuation": _Checker.discontinuation}


def _num(value) -> str:
    if value is None:
        return "unknown"
    return f"{value:g}" if isinstance(value, float) else str(value)


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


def _lines(index: Index, meds: tuple) -> tuple:
    """Resolve each medication: (MedicationResult, its _Line parts, each part as a one-line Involved).

    Memoised per medication input, since lists repeat the same lines.
    """
    memo = index.lines
    out = []
    for med in meds:
        hit = memo.get(med)
        if hit is None:
            result = MedicationResult(med, _resolve_one(index, med))
            parts = _line_parts(result)
            # (result, ((drug, Involved for this line alone, strength given, pair memo key or None), ...), parts)
            items = []
            for p in parts:
                involved = _merge(index, [p])
                items.append((p.drug, involved, p.has_strength, _pair_key(index, involved)))
            hit = (result, tuple(items), parts)
            if len(memo) >= LINE_MEMO_LIMIT:
                memo.clear()
            memo[med] = hit
        out.append(hit)
    return tuple(out)


def check(index: Index, request: CheckRequest, skipped: tuple = (), notes: tuple = (), memo: bool = True) -> Report:
    """Resolve every medication and evaluate every rule; return the report.

    `skipped` and `notes` come from the input format (FHIR) and are carried into the report.

    The report is a pure function of the index and the request, and every part
    of it is immutable, so identical requests (an EHR re-checking the same list
    on each order) share one report. `memo=False` skips that: a batch of
    mostly distinct lists would only churn 2,048 reports through the garbage
    collector (measured: ~35 us per record).
    """
    if not memo:
        report = _check(index, request)
        return report._replace(skipped=tuple(skipped), notes=tuple(notes)) if skipped or notes else report
    cache = index.report_cache
    try:
        hit = cache.get(request)
    except TypeError:  # an unhashable field: compute without the memo
        hit = _check(index, request)
    else:
        if hit is None:
            if len(cache) >= REPORT_MEMO_LIMIT:
                cache.clear()
            hit = cache[request] = _check(index, request)
    return hit._replace(skipped=tuple(skipped), notes=tuple(notes)) if skipped or notes else hit


def _check(index: Index, request: CheckRequest) -> Report:
    current = _lines(index, request.medications)
    previous = _lines(index, request.previous)
    checker = _Checker(index, request, current, previous)
    checker.run()
    findings = checker.findings
    if len(findings) > 1:
        findings.sort(key=_finding_order)
    # Report(...) field by field, without the keyword layer of the namedtuple constructor.
    return _tuple_new(Report, (
        tuple(map(_RESULT_OF, current)),
        tuple(map(_RESULT_OF, previous)) if previous else (),
        request.patient,
        tuple(findings),
        tuple(sorted(set(checker.context_needed))) if checker.context_needed else (),
        index.digest,
        checker.sedative_load(),
        (),
        (),
    ))


def _finding_order(f: Finding) -> tuple:
    return -SEVERITY_RANK[f.severity], f.id, f.drugs


_RESULT_OF = itemgetter(0)
