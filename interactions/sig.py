"""Parse strengths, quantities, routes, forms and frequencies out of medication strings."""

from __future__ import annotations

import re
from collections import namedtuple

from .model import Frequency, Quantity, to_unit  # noqa: F401 - to_unit is part of this module's interface
from .vocab import ROUTES

NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_UNIT = r"(mg|mcg|ug|µg|micrograms?|milligrams?|g|gm|grams?|units?|iu|meq|%)"
_MASS_ALIASES = {
    "mg": "mg", "milligram": "mg", "milligrams": "mg",
    "mcg": "mcg", "ug": "mcg", "µg": "mcg", "microgram": "mcg", "micrograms": "mcg",
    "g": "g", "gm": "g", "gram": "g", "grams": "g",
}

# Order matters: the most specific shapes are consumed first.
RATE_RE = re.compile(NUM + r"\s*" + _UNIT + r"\s*(?:/|per)\s*(24\s*h(?:rs?|ours?)?|hr|h|hour|day|d)\b")
CONC_RE = re.compile(NUM + r"\s*" + _UNIT + r"\s*(?:/|per|in)\s*" + NUM + r"?\s*(ml|l)\b")
COMBO_RE = re.compile(r"(?<![\w.])" + NUM + r"(?:\s*(?:mg|mcg)?\s*[-/]\s*" + NUM + r")+\s*(mg|mcg)?(?![\w.])")
STRENGTH_RE = re.compile(NUM + r"\s*" + _UNIT + r"(?![a-z])")
VOLUME_RE = re.compile(NUM + r"\s*(ml|cc|tsp|teaspoons?|tbsp|tablespoons?)(?![a-z])")
_COUNT_WORDS = {"one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "half": 0.5, "1/2": 0.5}
TIMES_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*x\s*(?=\d)")
QUANTITY_RE = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?|one|two|three|four|half|1/2)\s*"
    r"(tabs?|tablets?|caps?|capsules?|pills?|puffs?|sprays?|drops?|patch(?:es)?|packets?|sachets?|lozenges?|suppositor(?:y|ies)|films?)(?![a-z])"
)

_DOTTED = re.compile(r"\b([a-z])\.([a-z])\.(?:([a-z])\.)?(?:([a-z])\.)?")

# (pattern, doses per day, interval given?)
_FREQ_PATTERNS = [
    (re.compile(r"\bq\s*(\d+(?:\.\d+)?)\s*(?:-|to)?\s*(\d+(?:\.\d+)?)?\s*(?:h|hr|hrs|hour|hours)\b"), "interval"),
    (re.compile(r"\bevery\s+(\d+(?:\.\d+)?)\s*(?:-|to)?\s*(\d+(?:\.\d+)?)?\s*(?:h|hr|hrs|hours?)\b"), "interval"),
    (re.compile(r"\b(\d+)\s*(?:x|times)\s*(?:a|per|each|/)?\s*(?:day|daily|d)\b"), "times"),
    (re.compile(r"\b(qid|q\.?i\.?d|four times (?:a |per |each )?day|four times daily)\b"), 4.0),
    (re.compile(r"\b(tid|t\.?i\.?d|three times (?:a |per |each )?day|three times daily)\b"), 3.0),
    (re.compile(r"\b(bid|b\.?i\.?d|twice (?:a |per |each )?day|twice daily|two times (?:a |per |each )?day|two times daily)\b"), 2.0),
    (re.compile(r"\b(qod|every other day|alternate days)\b"), 0.5),
    (re.compile(r"\b(weekly|once (?:a|per) week|every week|q ?week|qwk)\b"), 1.0 / 7.0),
    (re.compile(r"\b(qd|daily|once (?:a |per )?day|once daily|od|qam|qpm|qhs|hs|at bedtime|bedtime|nightly"
                r"|every (?:morning|evening|night)|in the (?:morning|evening)|q ?day|q ?am|q ?pm|q ?night|once)\b"), 1.0),
]
# Indications are only skipped right after "PRN"/"as needed" (or "for", in the resolver):
# elsewhere a word such as "sleep" or "night" can name a sedating product variant.
INDICATION_WORDS = (
    "pain", "sleep", "insomnia", "anxiety", "agitation", "spasm", "spasms", "spasticity", "nausea", "vomiting",
    "itching", "itch", "pruritus", "fever", "headache", "migraine", "constipation", "diarrhea", "seizure",
    "seizures", "muscle", "breakthrough", "severe", "moderate", "mild", "sob", "wheezing", "shortness of breath",
    "cough", "heartburn", "reflux", "dizziness", "vertigo", "restlessness", "allergies", "allergy", "cramps",
    "cramping", "back pain", "chest pain", "angina", "sedation", "withdrawal", "tremor", "psychosis",
    "neuropathy", "neuropathic", "arthritis", "breath", "back", "chest", "hypertension", "htn", "bp",
    "blood pressure", "cholesterol", "diabetes", "afib", "gout", "mood", "depression",
)
INDICATION_SET = frozenset(w for phrase in INDICATION_WORDS for w in phrase.split())
# Longest first, as a regex alternation would try them. Matched in Python: a 150-branch
# alternation costs ~2 ms to compile in every process, more than a whole check.
_INDICATIONS_LONGEST_FIRST = tuple(sorted(INDICATION_WORDS, key=len, reverse=True))
_PRN_RE = re.compile(r"\b(prn|as needed|as required|when required|if needed)\b")
_GAP_RE = re.compile(r"\s+")
_FOR_RE = re.compile(r"for\s+")
_WORD_CHAR = re.compile(r"\w")


class PrnMatch(namedtuple("PrnMatch", "start end word")):
    """Where "PRN" (or "as needed"...) and the indications that follow it were found."""

    __slots__ = ()

    def span(self) -> tuple:
        return self.start, self.end


def _indication_end(text: str, pos: int) -> int | None:
    """Return where an indication starting at `pos` ends (at a word boundary), or None."""
    for phrase in _INDICATIONS_LONGEST_FIRST:
        end = pos + len(phrase)
        if text.startswith(phrase, pos) and (end == len(text) or not _WORD_CHAR.match(text, end)):
            return end
    return None


def find_prn(text: str) -> PrnMatch | None:
    """Find "PRN" / "as needed" and up to two indications after it ("prn for back pain")."""
    head = _PRN_RE.search(text)
    if head is None:
        return None
    end = head.end()
    gap = _GAP_RE.match(text, end)
    if gap:
        pos = gap.end()
        after_for = _FOR_RE.match(text, pos)
        first = _indication_end(text, after_for.end()) if after_for else None
        if first is None:
            first = _indication_end(text, pos)
        if first is not None:
            end = first
            gap = _GAP_RE.match(text, first)
            second = _indication_end(text, gap.end()) if gap else None
            if second is not None:
                end = second
    return PrnMatch(head.start(), end, head.group(1))

ROUTE_WORDS = {
    "po": "oral", "oral": "oral", "orally": "oral", "mouth": "oral", "enteral": "oral", "ng": "oral", "peg": "oral",
    "sl": "sublingual", "sublingual": "sublingual", "sublingually": "sublingual",
    "buccal": "buccal",
    "it": "intrathecal", "intrathecal": "intrathecal", "intrathecally": "intrathecal", "itb": "intrathecal",
    "epidural": "epidural",
    "iv": "intravenous", "intravenous": "intravenous", "intravenously": "intravenous",
    "im": "intramuscular", "intramuscular": "intramuscular", "intramuscularly": "intramuscular",
    "sc": "subcutaneous", "sq": "subcutaneous", "subq": "subcutaneous", "subcut": "subcutaneous",
    "subcutaneous": "subcutaneous", "subcutaneously": "subcutaneous",
    "td": "transdermal", "transdermal": "transdermal",
    "top": "topical", "topical": "topical", "topically": "topical",
    "pr": "rectal", "rectal": "rectal", "rectally": "rectal",
    "inh": "inhaled", "inhaled": "inhaled", "inhalation": "inhaled", "inhale": "inhaled", "nebulized": "inhaled", "neb": "inhaled",
    "nasal": "nasal", "intranasal": "nasal", "intranasally": "nasal",
    "ophthalmic": "ophthalmic", "eye": "ophthalmic", "ou": "ophthalmic", "os": "ophthalmic", "od": None,
    "otic": "otic", "ear": "otic",
    "vaginal": "vaginal", "vaginally": "vaginal", "pv": "vaginal",
}
# A dosage form implies a route when none is stated.
FORM_WORDS = {
    "tablet": "oral", "tablets": "oral", "tab": "oral", "tabs": "oral", "caplet": "oral", "caplets": "oral",
    "capsule": "oral", "capsules": "oral", "cap": "oral", "caps": "oral", "softgel": "oral", "softgels": "oral",
    "gelcap": "oral", "gelcaps": "oral", "liquigels": "oral", "liquigel": "oral", "pill": "oral", "pills": "oral",
    "solution": None, "soln": None, "sol": None, "suspension": "oral", "susp": "oral", "syrup": "oral", "elixir": "oral",
    "liquid": "oral", "granules": "oral", "granule": "oral", "packet": "oral", "packets": "oral", "sachet": "oral",
    "odt": "oral", "disintegrating": "oral", "soltab": "oral", "solutab": "oral", "dispersible": "oral",
    "sprinkle": "oral", "sprinkles": "oral", "orodispersible": "oral", "chewable": "oral", "chew": "oral", "lozenge": "oral", "troche": "oral",
    "concentrate": "oral", "drink": "oral", "powder": None, "tincture": "oral", "gummy": "oral", "gummies": "oral",
    "film": None, "films": None, "strip": None,
    "patch": "transdermal", "patches": "transdermal", "system": None,
    "injection": None, "injectable": None, "inj": None, "vial": None, "syringe": None, "prefilled": None,
    "cartridge": None, "pen": None, "infusion": None, "ampule": None, "ampoule": None,
    "cream": "topical", "gel": "topical", "ointment": "topical", "lotion": "topical", "foam": "topical",
    "suppository": "rectal", "suppositories": "rectal", "enema": "rectal",
    "inhaler": "inhaled", "hfa": "inhaled", "mdi": "inhaled", "diskus": None, "nebulizer": "inhaled", "respimat": "inhaled",
    "spray": None, "drops": None, "drop": None, "kit": None, "pump": None, "implant": None, "ring": None,
}
RELEASE_WORDS = {
    "er", "xr", "xl", "sr", "cr", "la", "dr", "ir", "ec", "cd", "xt", "sa", "ds", "hr", "h", "hrs",
    "extended", "release", "released", "immediate", "delayed", "controlled", "sustained", "modified",
    "long", "acting", "short", "rapid", "fast", "enteric", "coated", "24", "12",
}
SALT_WORDS = {
    "hydrochloride", "hcl", "hci", "dihydrochloride", "hydrobromide", "hbr", "bitartrate", "tartrate", "sulfate",
    "sulphate", "phosphate", "citrate", "acetate", "maleate", "fumarate", "succinate", "besylate", "besilate",
    "mesylate", "mesilate", "tosylate", "bromide", "chloride", "sodium", "potassium", "calcium", "magnesium",
    "monohydrate", "dihydrate", "trihydrate", "hemihydrate", "anhydrous", "hyclate", "pamoate", "decanoate",
    "enanthate", "palmitate", "lauroxil", "xinafoate", "propionate", "furoate", "valerate", "dipropionate",
    "napsylate", "salicylate", "lactate", "gluconate", "oxalate", "camsylate", "embonate", "disodium",
    "dimesylate", "hydrate", "base", "free", "bisulfate", "hemitartrate", "polistirex", "estolate", "ethylsuccinate",
    "stearate", "trometamol", "tromethamine", "medoxomil", "cilexetil", "axetil", "proxetil", "pivoxil", "alafenamide",
    "disoproxil", "erbumine", "arginine", "lysine", "olamine", "meglumine", "tannate",
}
SIG_WORDS = {
    "take", "takes", "taking", "give", "use", "apply", "inject", "inhale", "instill", "place", "insert", "chew",
    "dissolve", "swallow", "whole", "by", "mouth", "under", "tongue", "on", "the", "a", "an", "of", "with", "and",
    "or", "to", "in", "at", "as", "if", "for", "per", "each", "every", "times", "time", "day", "days", "daily",
    "hour", "hours", "hr", "hrs", "week", "weeks", "month", "months", "morning", "evening", "night", "nightly",
    "bedtime", "noon", "meals", "meal", "food", "before", "after", "needed", "required", "up", "max", "maximum",
    "dose", "doses", "dosage", "one", "two", "three", "four", "half", "twice", "once", "then", "until", "continue",
    "continuous", "via", "route", "units", "unit", "strength", "regular", "extra", "generic", "brand", "rx", "otc",
    "prn", "qd", "bid", "tid", "qid", "qhs", "hs", "qod", "qam", "qpm", "q", "sig", "disp", "refill", "refills",
    "qty", "quantity", "tablet", "tablets", "mg", "mcg", "ml", "g", "meq", "iu", "x", "no", "w", "usp", "nf",
    "oral", "solution", "other", "dosing", "current", "home", "med", "meds", "medication", "medications", "active",
    "adult", "adults", "children", "childrens", "child", "pediatric", "infant", "infants", "junior", "jr", "mini",
    "formula", "original", "plus", "do", "exceed", "pump", "bolus", "basal", "rate",
    "intermittent", "scheduled", "standing", "order", "ordered", "hold", "sbp", "indication",
    # RxNorm dose-form vocabulary
    "abuse", "deterrent", "actuat", "actuation", "actuations", "mucosal", "oromucosal", "metered", "pack",
    "matrix", "delivery", "effervescent", "auto", "injector", "drug", "dispenser", "device", "applicator",
    "prefilled", "orally", "product", "pak", "dosepak",
}


def route_of(value: str) -> str | None:
    """Map a route word or code (PO, IT, intrathecal) to the route vocabulary."""
    word = value.strip().lower()
    if word in ROUTES:
        return word
    return ROUTE_WORDS.get(word)


def mass_unit(unit: str) -> str | None:
    """Return the canonical mass unit (mg, mcg, g) or None."""
    return _MASS_ALIASES.get(unit)


def has_strength(text: str) -> bool:
    """Return True if the text states a strength, a concentration or a rate."""
    return bool(RATE_RE.search(text) or CONC_RE.search(text) or STRENGTH_RE.search(text))


def undot(text: str) -> str:
    """Turn 'b.i.d.' into 'bid' so abbreviations match."""
    return _DOTTED.sub(lambda m: "".join(g for g in m.groups() if g), text)


def parse_frequency(text: str) -> tuple[Frequency | None, list[tuple[int, int]]]:
    """Find a frequency in folded text; return it and the spans it used."""
    spans: list[tuple[int, int]] = []
    prn_match = find_prn(text)
    as_needed = prn_match is not None
    if prn_match:
        spans.append(prn_match.span())
    found = []
    for pattern, meaning in _FREQ_PATTERNS:
        for match in pattern.finditer(text):
            if not any(a < match.end() and match.start() < b for a, b in [m.span() for _, m in found]):
                found.append((meaning, match))
    if len(found) > 1:
        # "20 mg QID plus 20 mg qhs": several schedules on one line; never guess a total.
        for _, match in found:
            spans.append(match.span())
        label = "; ".join(m.group(0).strip() for _, m in sorted(found, key=lambda f: f[1].start()))
        return Frequency(text=label, per_day=None, as_needed=as_needed), spans
    for meaning, match in found:
        spans.append(match.span())
        if meaning == "interval":
            hours = float(match.group(1))
            per_day = 24.0 / hours if hours > 0 else None
        elif meaning == "times":
            per_day = float(match.group(1))
        else:
            per_day = float(meaning)
        label = match.group(0).strip()
        if as_needed:
            label = f"{label} {prn_match.word}"
        return Frequency(text=label, per_day=per_day, as_needed=as_needed), spans
    if as_needed:
        return Frequency(text=prn_match.word, per_day=None, as_needed=True), spans
    return None, spans
