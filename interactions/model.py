"""Value types shared by every stage: what comes in, what the resolver reads, what a check reports.

Every type is an immutable named tuple, built by field name (`Finding(id=..., kind=...)`),
hashable so that the engine can memoise on it, and free of behaviour beyond small,
derived properties. Nothing here imports another module of the package.
"""

from __future__ import annotations

from collections import namedtuple

DISCLAIMER = "Decision support only: it does not replace the judgement of a pharmacist or prescriber."

SEVERITIES = ("contraindicated", "major", "moderate", "minor")
# Higher is more severe.
SEVERITY_RANK = {"minor": 1, "moderate": 2, "major": 3, "contraindicated": 4}

# Mass units and their factor to milligrams.
MASS_UNITS = {"mg": 1.0, "mcg": 0.001, "g": 1000.0}


def severity_at_least(severity: str, threshold: str) -> bool:
    """Return True if `severity` is at or above `threshold`."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]


# --- quantities --------------------------------------------------------------------------


class Quantity(namedtuple("Quantity", "value unit")):
    """A number with a unit (mg, mcg, g, mL, tablet...)."""

    __slots__ = ()


def to_unit(quantity: Quantity, unit: str) -> float | None:
    """Convert a mass quantity to another mass unit; None if either is not a mass."""
    if quantity.unit not in MASS_UNITS or unit not in MASS_UNITS:
        return None
    return quantity.value * MASS_UNITS[quantity.unit] / MASS_UNITS[unit]


class Frequency(namedtuple("Frequency", "text per_day as_needed per_day_min", defaults=(None,))):
    """How often a dose is taken.

    `per_day` is the most administrations a day the order allows (None when it cannot be
    counted); `per_day_min` the fewest, when the order gives a range ("every 4-6 hours").
    """

    __slots__ = ()

    @property
    def fewest(self):
        """The fewest administrations a day (per_day when the order gives no range)."""
        return self.per_day_min if self.per_day_min is not None else self.per_day


# --- input -------------------------------------------------------------------------------


class MedicationInput(namedtuple("MedicationInput", "text dose route frequency ref code", defaults=(None, None, None, None, None))):
    """One medication as given: the text, optional structured fields, and where it came from.

    `code` is an RxNorm code (rxcui), e.g. from a FHIR coding.
    """

    __slots__ = ()


class Patient(namedtuple("Patient", "age egfr", defaults=(None, None))):
    """Patient context that changes severities."""

    __slots__ = ()


NO_PATIENT = Patient()


class CheckRequest(namedtuple("CheckRequest", "medications previous patient", defaults=((), NO_PATIENT))):
    """Everything one check needs."""

    __slots__ = ()


class Skipped(namedtuple("Skipped", "ref name reason")):
    """A record entry deliberately not checked (e.g. a stopped FHIR MedicationRequest), and why."""

    __slots__ = ()


class ParsedInput(namedtuple("ParsedInput", "request skipped notes", defaults=((), ()))):
    """A request plus what the input format said about it (FHIR skips and provenance)."""

    __slots__ = ()


# --- resolution --------------------------------------------------------------------------


class Suggestion(namedtuple("Suggestion", "name drugs lookalike_of", defaults=((),))):
    """A close known name for an unrecognised word; never applied."""

    __slots__ = ()


class Dose(namedtuple("Dose", "min max unit")):
    """An amount an order allows, which may be a range: 1-2 tablets, 20-40 mg/day.

    `min` is None when the order sets only a ceiling (as needed: "up to" `max`).
    `value` is `max`, the most the order allows, which maximum-dose rules use.
    """

    __slots__ = ()

    @property
    def value(self) -> float:
        """The most the order allows."""
        return self.max


class Strength(namedtuple("Strength", "drug per_dose daily basis")):
    """A parsed strength attributed to one drug of the medication.

    per_dose and daily are Dose or None; basis is "scheduled", "as-needed-maximum", "stated-daily" or "rate".
    """

    __slots__ = ()


class Resolution(namedtuple(
    "Resolution",
    "text status drugs matched unrecognized suggestions route route_source frequency strengths dose_note via indication note products names",
    defaults=((), (), (), (), None, None, None, (), None, "name", None, None, (), ()),
)):
    """What one medication string resolved to; status is "resolved", "partial" or "unresolved".

    `dose_note` says why no daily dose was computed; `note` says how the line was read when
    that is not obvious (a bracketed brand kept as a label, a negation, alcohol not drunk).
    `products` groups `drugs` by product: the ingredients of one product were formulated
    together and never interact with each other ("NyQuil"; "hydrocodone 10 MG / acetaminophen
    325 MG"), while medicines written on one line with a separator ("gabapentin; Norco") do.
    Empty means one product.
    """

    __slots__ = ()


class MedicationResult(namedtuple("MedicationResult", "given resolution")):
    """A medication as given and what it resolved to."""

    __slots__ = ()


# --- report ------------------------------------------------------------------------------


class Reference(namedtuple("Reference", "id citation kind confidence url short about", defaults=(None, None, None))):
    """A source a finding rests on; `short` is how people cite it, `about` the drug a label is about."""

    __slots__ = ()

    @property
    def label(self) -> str:
        """The short citation, or the id when the rules give none."""
        return self.short or self.id


class Scope(namedtuple("Scope", "name checked not_checked")):
    """What the rules check and what they do not: every answer says it, so that silence is never read as "safe"."""

    __slots__ = ()


NO_SCOPE = Scope(name="interactions", checked=(), not_checked=())


class RouteUse(namedtuple("RouteUse", "route route_source daily_dose inputs")):
    """A drug on one route of a list: doses are added up within a route, never across routes."""

    __slots__ = ()


class Involved(namedtuple("Involved", "drug name inputs route route_source daily_dose routes", defaults=((),))):
    """One drug of a finding, with what the user typed and the route and dose that applied.

    `route`, `route_source` and `daily_dose` are those of the main route (the best-attested
    one); `routes` lists every route the drug is on in the list, main route first.
    """

    __slots__ = ()


class Related(namedtuple("Related", "id severity effect title drugs references message management", defaults=("", ""))):
    """Another rule that matched the same drugs with a different effect, folded into the finding, with its own risk and action."""

    __slots__ = ()


class Finding(namedtuple(
    "Finding",
    "id kind severity effect title message mechanism management drugs inputs involved paths references reasons notes context_needed related why",
    defaults=((), (), (), (), ""),
)):
    """One warning: a rule, the drugs it applies to, why (a sentence, and the paths through the rule graph), and what to do."""

    __slots__ = ()


class LoadItem(namedtuple("LoadItem", "drug daily_dose delta contribution sources name", defaults=(None,))):
    """One drug counted in the sedative load; `name` is how people write it (drug "ethanol" is "alcohol")."""

    __slots__ = ()


class NotCounted(namedtuple("NotCounted", "drug reason name", defaults=(None,))):
    """A CNS depressant left out of the sedative load, and why; `name` as in LoadItem."""

    __slots__ = ()


class SedativeLoad(namedtuple("SedativeLoad", "method value counted not_counted references")):
    """Drug Burden Index sedative component."""

    __slots__ = ()


class Report(namedtuple(
    "Report",
    "medications previous patient findings context_needed rules_digest sedative_load skipped notes scope",
    defaults=(None, (), (), NO_SCOPE),
)):
    """The whole result of one check."""

    __slots__ = ()

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
        """Count findings by severity, most severe first."""
        out = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            out[f.severity] += 1
        return out
