"""Check one medication list against the compiled rules; pure, deterministic, never prints."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple, Optional

from .index import Index
from .names import Resolution
from .sig import Quantity, to_unit
from .vocab import SEVERITY_RANK, severity_at_least

DISCLAIMER = "Decision support only: it does not replace the judgement of a pharmacist or prescriber."
# The Drug Burden Index sedative component counts the drugs under this class.
SEDATIVE_CLASS = "class:cns-depressant"
# Deltas are oral daily doses; other routes are not comparable with them.
DBI_ROUTES = ("oral", "sublingual", "buccal")


class MedicationInput(NamedTuple):
    """One medication as given: the text, optional structured fields, and where it came from."""

    text: str
    dose: Optional[str] = None
    route: Optional[str] = None
    frequency: Optional[str] = None
    ref: Optional[str] = None
    code: Optional[str] = None  # an RxNorm code (rxcui), e.g. from a FHIR coding


class Patient(NamedTuple):
    """Patient context that changes severities."""

    age: Optional[float] = None
    egfr: Optional[float] = None


class CheckRequest(NamedTuple):
    """Everything one check needs."""

    medications: tuple
    previous: tuple = ()
    patient: Patient = Patient()


class MedicationResult(NamedTuple):
    """A medication as given and what it resolved to."""

    given: MedicationInput
    resolution: Resolution


class Reference(NamedTuple):
    """A source a finding rests on."""

    id: str
    citation: str
    kind: str
    confidence: str
    url: Optional[str] = None


class Involved(NamedTuple):
    """One drug of a finding, with what the user typed and the route and dose that applied."""

    drug: str
    name: str
    inputs: tuple
    route: Optional[str]
    route_source: Optional[str]
    daily_dose: Optional[Quantity]


class Related(NamedTuple):
    """Another rule that matched the same drugs with a different effect, folded into the finding."""

    id: str
    severity: str
    effect: str
    title: str
    drugs: tuple
    references: tuple


class Finding(NamedTuple):
    """One warning: a rule, the drugs it applies to, why, and what to do."""

    id: str
    kind: str
    severity: str
    effect: str
    title: str
    message: str
    mechanism: str
    management: str
    drugs: tuple
    inputs: tuple
    involved: tuple
    paths: tuple
    references: tuple
    reasons: tuple = ()
    notes: tuple = ()
    context_needed: tuple = ()
    related: tuple = ()


class LoadItem(NamedTuple):
    """One drug counted in the sedative load."""

    drug: str
    daily_dose: Quantity
    delta: Quantity
    contribution: float
    sources: tuple


class NotCounted(NamedTuple):
    """A CNS depressant left out of the sedative load, and why."""

    drug: str
    reason: str


class SedativeLoad(NamedTuple):
    """Drug Burden Index sedative component."""

    method: str
    value: Optional[float]
    counted: tuple
    not_counted: tuple
    references: tuple


@dataclass(frozen=True)
class Report:
    """The whole result of one check."""

    medications: tuple
    previous: tuple
    patient: Patient
    findings: tuple
    context_needed: tuple
    rules_digest: str
    sedative_load: SedativeLoad | None = None
    skipped: tuple = ()
    notes: tuple = ()

    @property
    def complete(self) -> bool:
        """False when any medication, current or previous, is not fully resolved."""
        return all(m.resolution.status == "resolved" for m in self.medications + self.previous)

    @property
    def highest_severity(self) -> str | None:
        """Return the most severe finding's severity, or None."""
        return self.findings[0].severity if self.findings else None

    def fails(self, fail_on: str) -> bool:
        """True if any finding is at or above the `fail_on` severity."""
        return any(severity_at_least(f.severity, fail_on) for f in self.findings)

    def counts(self) -> dict:
        """Count findings by severity."""
        out = {s: 0 for s in SEVERITY_RANK}
        for f in self.findings:
            out[f.severity] += 1
        return out


@dataclass
class _Use:
    """A distinct drug on a list, merged over every line that names it."""

    drug: str
    inputs: list = field(default_factory=list)
    route: str | None = None
    route_source: str | None = None
    daily: Quantity | None = None
    daily_unknown: bool = False
    has_strength: bool = False


REPORT_MEMO_LIMIT = 2_048
_ROUTE_PRIORITY = {"stated": 3, "product": 2, "form": 1, "default": 0, None: -1}


def _uses(results: tuple) -> dict:
    uses: dict = {}
    for result in results:
        res = result.resolution
        for drug in res.drugs:
            use = uses.get(drug)
            if use is None:
                use = uses[drug] = _Use(drug)
            if result.given.text not in use.inputs:
                use.inputs.append(result.given.text)
            if _ROUTE_PRIORITY[res.route_source] > _ROUTE_PRIORITY[use.route_source]:
                use.route, use.route_source = res.route, res.route_source
            strength = None
            for s in res.strengths:
                if s.drug == drug:
                    strength = s
                    break
            if strength is not None:
                use.has_strength = True
            if strength is None or strength.daily is None:
                use.daily_unknown = True
                continue
            if use.daily is None:
                use.daily = strength.daily
            else:
                added = to_unit(strength.daily, use.daily.unit)
                use.daily = Quantity(use.daily.value + added, use.daily.unit) if added is not None else use.daily
    for use in uses.values():
        if use.route is None:
            # Most medicines on a list are oral; say so rather than leave it blank.
            use.route, use.route_source = "oral", "default"
        if use.daily_unknown:
            use.daily = None
    return uses


class _Checker:
    """Evaluate every rule kind over one list; one method per kind."""

    def __init__(self, index: Index, request: CheckRequest, current: tuple, previous: tuple):
        self.index = index
        self.patient = request.patient
        self.uses = _uses(current)
        self.previous_uses = _uses(previous)
        self.findings: list = []
        self.context_needed: list = []

    # --- helpers ------------------------------------------------------------------
    def refs(self, ids) -> tuple:
        key = tuple(ids)
        cached = self.index.ref_cache.get(key)
        if cached is None:
            out = []
            for rid in key:
                s = self.index.sources[rid]
                out.append(Reference(rid, s["citation"], s["kind"], s["confidence"], s.get("url")))
            cached = self.index.ref_cache[key] = tuple(out)
        return cached

    def involved(self, drug: str, uses: dict | None = None) -> Involved:
        use = (uses or self.uses)[drug]
        key = (drug, *use.inputs, use.route, use.route_source, use.daily)
        cache = self.index.involved_cache
        hit = cache.get(key)
        if hit is None:
            if len(cache) >= 100_000:
                cache.clear()
            hit = cache[key] = Involved(drug, self.index.drugs[drug]["name"], tuple(use.inputs), use.route, use.route_source, use.daily)
        return hit

    def render(self, path) -> str:
        return self.index.render_path(path)

    def pair_path(self, path_a, path_b) -> str:
        a = self.render(path_a)
        if path_a[-1] == path_b[-1]:
            tail = " ← ".join(self.index.name_of(k) for k in reversed(path_b[:-1]))
            return f"{a} ← {tail}" if tail else a
        return f"{a} + " + " ← ".join(self.index.name_of(k) for k in reversed(path_b))

    def finding(self, rule_id: str, drugs, paths, severity=None, reasons=(), notes=(), context=(), related=(), uses=None, extra_refs=()) -> Finding:
        rule = self.index.rules[rule_id]
        drugs = tuple(sorted(drugs))
        involved = tuple([self.involved(d, uses) for d in drugs])
        if len(involved) == 1:
            inputs = involved[0].inputs
        else:
            inputs = tuple(dict.fromkeys([i for inv in involved for i in inv.inputs]))
        refs = self.refs(rule["references"] if not extra_refs else dict.fromkeys(list(rule["references"]) + list(extra_refs)))
        return Finding(
            rule_id, rule["kind"], severity or rule["severity"], rule["effect"], rule["title"], rule["message"],
            rule["mechanism"], rule["management"], drugs, inputs, involved,
            tuple(sorted(set(paths))) if len(paths) > 1 else tuple(paths),
            refs, tuple(reasons), tuple(notes), tuple(context), tuple(related),
        )

    def side_matches(self, side_entry, rule, drug) -> bool:
        side = rule["sides"][side_entry[0]]
        return side["route"] is None or self.uses[drug].route in side["route"]

    # --- pairwise rules -------------------------------------------------------------
    def pairs(self) -> None:
        pair_rules = self.index.pair_rules
        memo = self.index.pair_outcomes
        keyed = [(d, self.uses[d].route) for d in sorted(self.uses) if pair_rules.get(d)]
        winners: dict = {}  # rule id -> ([drug, ...], [path, ...], [(related ids, a, b), ...])
        for i, (a, route_a) in enumerate(keyed):
            for b, route_b in keyed[i + 1:]:
                key = (a, route_a, b, route_b)
                outcome = memo.get(key)
                if outcome is None:
                    if len(memo) >= 200_000:
                        memo.clear()
                    outcome = memo[key] = self.pair_outcome(a, b)
                if not outcome:
                    continue
                win = winners.get(outcome[0])
                if win is None:
                    win = winners[outcome[0]] = ([], [], [])
                win[0].append(a)
                win[0].append(b)
                win[1].append(outcome[1])
                if outcome[2]:
                    win[2].append((outcome[2], a, b))
        for rid, (drugs, paths, related_hits) in winners.items():
            related = []
            if related_hits:
                grouped: dict = {}
                for others, a, b in related_hits:
                    for other in others:
                        grouped.setdefault(other, set()).update((a, b))
                for other, other_drugs in sorted(grouped.items()):
                    r = self.index.rules[other]
                    related.append(Related(other, r["severity"], r["effect"], r["title"], tuple(sorted(other_drugs)), tuple(r["references"])))
            self.findings.append(self.finding(rid, set(drugs), paths, related=related))

    def pair_outcome(self, a: str, b: str):
        """Return (winning rule, explanation path, related rule ids) for two drugs, or ()."""
        rules_a = self.index.pair_rules[a]
        rules_b = self.index.pair_rules[b]
        matched = []
        for rid in rules_a.keys() & rules_b.keys():
            rule = self.index.rules[rid]
            hit = self.match_pair(rule, a, b, rules_a[rid], rules_b[rid])
            if hit:
                weight = sum(s["weight"] for s in rule["sides"]) * (2 if len(rule["sides"]) == 1 else 1)
                matched.append((-SEVERITY_RANK[rule["severity"]], weight, rid, hit))
        if not matched:
            return ()
        matched.sort()
        _, _, rid, (first, second) = matched[0]
        effect = self.index.rules[rid]["effect"]
        related = tuple(other for _, _, other, _ in matched[1:] if self.index.rules[other]["effect"] != effect)
        return rid, self.pair_path(first, second), related

    def match_pair(self, rule, a, b, entries_a, entries_b):
        """Return the two explanation paths if drugs a and b satisfy the rule's sides."""
        n_sides = len(rule["sides"])
        for ea in entries_a:
            if not self.side_matches(ea, rule, a):
                continue
            for eb in entries_b:
                if not self.side_matches(eb, rule, b):
                    continue
                if n_sides == 1 or ea[0] != eb[0]:
                    first, second = (ea, eb) if ea[0] <= eb[0] else (eb, ea)
                    return first[2], second[2]
        return None

    # --- group and context rules --------------------------------------------------------
    def members(self, rule, uses) -> list:
        """Return (drug, path) for each drug of `uses` that reaches the rule's subject."""
        rid = rule["id"]
        out = []
        for drug in sorted(uses):
            hits = self.index.subject_hits[drug]
            if rid in hits:
                out.append((drug, hits[rid]))
        return out

    def escalate(self, rule, context) -> tuple:
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
        members = self.members(rule, self.uses)
        if len(members) < rule["min_drugs"]:
            return
        severity, reasons, needed, refs = self.escalate(rule, {})
        paths = [self.render(path) for _, path in members]
        self.findings.append(self.finding(rule["id"], [d for d, _ in members], paths, severity, reasons, (), needed, extra_refs=refs))

    def renal(self, rule) -> None:
        for drug, path in self.members(rule, self.uses):
            use = self.uses[drug]
            context = {"daily": use.daily, "route": use.route}
            if self.patient.egfr is None:
                self.context_needed.append(f"{rule['id']}: eGFR not given; {self.index.drugs[drug]['name']} is {rule['severity']} when eGFR < {_num(rule['egfr_below'])}")
                continue
            if self.patient.egfr >= rule["egfr_below"]:
                continue
            reasons = [f"{rule['severity']} because eGFR {_num(self.patient.egfr)} < {_num(rule['egfr_below'])}"]
            self.context_finding(rule, drug, path, reasons, context)

    def context_finding(self, rule, drug, path, reasons, context) -> None:
        severity, more, needed, refs = self.escalate(rule, context)
        notes, note_refs = self.rule_notes(rule, context)
        self.findings.append(self.finding(rule["id"], [drug], [self.render(path)], severity, reasons + more, notes, needed, extra_refs=refs + note_refs))

    def dose_limit(self, rule) -> None:
        limit = rule["max_daily"]
        for drug, path in self.members(rule, self.uses):
            use = self.uses[drug]
            if use.route not in rule["route"]:
                continue
            if use.daily is None:
                if not use.has_strength:
                    continue
                self.context_needed.append(f"{rule['id']}: daily dose of {self.index.drugs[drug]['name']} not computed; above {_num(limit['value'])} {limit['unit']}/day ({use.route}) is {rule['severity']}")
                continue
            value = to_unit(use.daily, limit["unit"])
            if value is None or value <= limit["value"]:
                continue
            reasons = [f"{rule['severity']} because {_num(value)} {limit['unit']}/day ({use.route}) > {_num(limit['value'])} {limit['unit']}/day"]
            self.context_finding(rule, drug, path, reasons, {"daily": use.daily, "route": use.route})

    def discontinuation(self, rule) -> None:
        by_route = rule.get("severity_by_route", {})
        for drug, path in self.members(rule, self.previous_uses):
            before, now = self.previous_uses[drug], self.uses.get(drug)
            if now is None or before.route == now.route or before.route not in by_route:
                continue
            # e.g. intrathecal baclofen replaced by oral: the pump is being stopped, and oral doses
            # do not replace it; that is an intrathecal discontinuation.
            severity = by_route[before.route]
            reasons = [f"{severity} because {before.route} {self.index.drugs[drug]['name']} on the previous list is now {now.route}: the {before.route} route is being stopped"]
            self.findings.append(self.finding(rule["id"], [drug], [self.render(path)], severity, reasons, uses=self.previous_uses))
        if self.members(rule, self.uses):
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
            notes, note_refs = self.rule_notes(rule, {"daily": use.daily, "route": use.route})
            self.findings.append(self.finding(rule["id"], [drug], [self.render(path)], severity, reasons, notes, context, uses=stopped, extra_refs=note_refs))

    def sedative_load(self) -> SedativeLoad | None:
        """Drug Burden Index sedative component over drugs with a known daily dose and delta."""
        sedatives = [d for d in sorted(self.uses) if SEDATIVE_CLASS in self.index.reach[d]]
        if not sedatives:
            return None
        counted, not_counted = [], []
        for drug in sedatives:
            use = self.uses[drug]
            delta = self.index.drugs[drug]["dbi_delta"]
            reason = None
            if delta is None:
                reason = "no minimum daily dose (delta) in the rules"
            elif use.route not in DBI_ROUTES:
                reason = f"route {use.route}: the delta is an oral dose"
            elif use.daily is None:
                reason = "daily dose unknown"
            dose = to_unit(use.daily, delta["unit"]) if reason is None else None
            if reason is None and dose is None:
                reason = "daily dose is not a mass"
            if reason:
                not_counted.append(NotCounted(drug, reason))
                continue
            contribution = round(dose / (dose + delta["value"]), 3)
            counted.append(LoadItem(drug, Quantity(dose, delta["unit"]), Quantity(float(delta["value"]), delta["unit"]), contribution, tuple(delta["source"])))
        return SedativeLoad(
            "Drug Burden Index, sedative component: sum of D/(D + delta), D = daily dose, delta = minimum recommended daily dose",
            round(sum(c.contribution for c in counted), 2) if counted else None,
            tuple(counted),
            tuple(not_counted),
            self.refs(dict.fromkeys(["hilmer-2007-dbi", *(sid for c in counted for sid in c.sources)])),
        )

    def run(self) -> None:
        self.pairs()
        kinds = {"burden": self.burden, "renal": self.renal, "dose-limit": self.dose_limit, "discontinuation": self.discontinuation}
        for rid in sorted(self.index.other_rules):
            kinds[self.index.rules[rid]["kind"]](self.index.rules[rid])


def _num(value) -> str:
    if value is None:
        return "unknown"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _resolve_one(index: Index, med: MedicationInput) -> Resolution:
    extra = " ".join(p for p in (med.dose, med.frequency) if p)
    entry = index.table.codes.get(med.code) if med.code else None
    if entry is not None:
        drugs = tuple(sorted(entry["drugs"]))
        res = replace(index.resolve(med.text), text=med.text, status="resolved", drugs=drugs,
                      matched=(f"rxcui {med.code}" + (f": {entry['display']}" if entry.get("display") else ""),),
                      unrecognized=(), suggestions=(), via="code")
        if entry.get("route") and res.route_source not in ("stated", "product"):
            res = replace(res, route=entry["route"], route_source="product")
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
        res = replace(res, frequency=parsed.frequency or res.frequency,
                      strengths=() if med.dose and len(drugs) > 1 else parsed.strengths, dose_note=note)
    if med.route and res.drugs:
        res = replace(res, route=med.route, route_source="stated")
    return res


def _has_strength(text: str) -> bool:
    from .sig import has_strength
    from .vocab import fold

    return has_strength(fold(text))


def _resolve_all(index: Index, meds: tuple) -> tuple:
    return tuple(MedicationResult(med, _resolve_one(index, med)) for med in meds)


def check(index: Index, request: CheckRequest, skipped: tuple = (), notes: tuple = ()) -> Report:
    """Resolve every medication and evaluate every rule; return the report.

    `skipped` and `notes` come from the input format (FHIR) and are carried into the report.

    The report is a pure function of the index and the request, and every part
    of it is immutable, so identical requests (an EHR re-checking the same list
    on each order, the same regimen across many patients) share one report.
    """
    memo = index.report_cache
    try:
        hit = memo.get(request)
    except TypeError:  # an unhashable field: compute without the memo
        hit = _check(index, request)
    else:
        if hit is None:
            if len(memo) >= REPORT_MEMO_LIMIT:
                memo.clear()
            hit = memo[request] = _check(index, request)
    return replace(hit, skipped=tuple(skipped), notes=tuple(notes)) if skipped or notes else hit


def _check(index: Index, request: CheckRequest) -> Report:
    current = _resolve_all(index, request.medications)
    previous = _resolve_all(index, request.previous)
    checker = _Checker(index, request, current, previous)
    checker.run()
    findings = sorted(checker.findings, key=lambda f: (-SEVERITY_RANK[f.severity], f.id, f.drugs))
    return Report(
        medications=current,
        previous=previous,
        patient=request.patient,
        findings=tuple(findings),
        context_needed=tuple(sorted(set(checker.context_needed))),
        rules_digest=index.digest,
        sedative_load=checker.sedative_load(),
    )
