"""Parse strengths, quantities, routes, forms and frequencies out of medication strings."""

from __future__ import annotations

from collections import namedtuple

from .model import Frequency
from .vocab import ROUTES, LazyPattern

NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_UNIT = r"(mg|mcg|ug|µg|micrograms?|milligrams?|g|gm|grams?|units?|iu|meq|%)"
_MASS_ALIASES = {
    "mg": "mg", "milligram": "mg", "milligrams": "mg",
    "mcg": "mcg", "ug": "mcg", "µg": "mcg", "microgram": "mcg", "micrograms": "mcg",
    "g": "g", "gm": "g", "gram": "g", "grams": "g",
}

# Order matters: the most specific shapes are consumed first.
RATE_RE = LazyPattern(NUM + r"\s*" + _UNIT + r"\s*(?:/|per)\s*(24\s*h(?:rs?|ours?)?|hr|h|hour|day|d)\b", needles=('/', 'per'))
CONC_RE = LazyPattern(NUM + r"\s*" + _UNIT + r"\s*(?:/|per|in)\s*" + NUM + r"?\s*(ml|l)\b", needles=('/', 'per', 'in'))
COMBO_RE = LazyPattern(r"(?<![\w.])" + NUM + r"(?:\s*(?:mg|mcg)?\s*[-/]\s*" + NUM + r")+\s*(mg|mcg)?(?![\w.])", needles=('-', '/'))
STRENGTH_RE = LazyPattern(NUM + r"\s*" + _UNIT + r"(?![a-z])")
VOLUME_RE = LazyPattern(NUM + r"(?:\s*(?:-|to|or)\s*" + NUM + r")?\s*(ml|cc|tsp|teaspoons?|teaspoonfuls?|tbsp|tablespoons?|tablespoonfuls?)(?![a-z])",
                        needles=("ml", "cc", "tsp", "tbsp", "teaspoon", "tablespoon"))
_COUNT_WORDS = {
    "one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "five": 5.0, "six": 6.0, "half": 0.5,
    # Latin counts on prescriptions: "i tab po tid", "ii caps bid".
    "i": 1.0, "ii": 2.0, "iii": 3.0, "iv": 4.0,
}
_COUNT = r"(\d+(?:\.\d+)?|one|two|three|four|five|six|half|iii|ii|iv|i)"
_COUNT_UNITS = (r"(tabs?|tablets?|caps?|capsules?|pills?|puffs?|sprays?|drops?|patch(?:es)?|packets?|sachets?|lozenges?"
                r"|suppositor(?:y|ies)|films?|softgels?|gelcaps?|caplets?)(?![a-z])")
TIMES_RE = LazyPattern(r"(?<![\w.])(\d+(?:\.\d+)?)\s*x\s*(?=\d)", needles=('x',))
# "2 tablets", "1-2 tabs", "1 to 2 tablets", "1 or 2 capsules", "ii tabs".
QUANTITY_RE = LazyPattern(r"(?<![\w.])" + _COUNT + r"(?:\s*(?:-|to|or)\s*" + _COUNT + r")?\s*" + _COUNT_UNITS)
# Latin order, unit first: "tab i po tid", "caps ii bid", "tab i-ii".
QUANTITY_AFTER_RE = LazyPattern(r"(?<![\w.])(tabs?|tablets?|caps?|capsules?)\s+(iii|ii|iv|i)(?:\s*-\s*(iii|ii|iv|i))?(?![\w.])", needles=('tab', 'cap'))
# Epic's "(20 mg total)": the amount of one administration, whatever the tablet count;
# "(200 mcg/hr total)" for several patches.
TOTAL_RE = LazyPattern(r"\(\s*" + NUM + r"(?:\s*(?:-|to)\s*" + NUM + r")?\s*(mg|mcg|ug|g)\s*(/\s*(?:hr|h|hour))?\s*total\s*\)", needles=('total',))
# A dose range of one drug: "5-10 mg", "25 to 50 mg" (on a line with several drugs, "5-325 mg" is a combination).
STRENGTH_RANGE_RE = LazyPattern(r"(?<![\w.])" + NUM + r"\s*(?:-|to)\s*" + NUM + r"\s*(mg|mcg|g)(?![a-z/])", needles=('-', 'to'))
# A ceiling the order sets: "max 6 tabs/day", "not to exceed 3 doses per day", "max 40 mg/day".
CAP_RE = LazyPattern(r"\b(?:max(?:imum)?|not to exceed|do not exceed|no more than)\s*(?:of\s*)?" + NUM
                     + r"\s*(tabs?|tablets?|caps?|capsules?|doses?|mg|mcg|g)\s*(?:/|per|in|a|each)\s*(?:day|24\s*h(?:ours?|rs?)?|d)\b",
                     needles=("max", "exceed", "no more"))

_DOTTED = LazyPattern(r"\b([a-z])\.([a-z])\.(?:([a-z])\.)?(?:([a-z])\.)?", needles=('.',))

# (pattern, doses per day, or "interval" (hours, maybe a range) or "times" (a count, maybe a range)).
_TIMES_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|twelve"
_TIMES_VALUES = {w: float(i) for i, w in enumerate(("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"))}
_TIMES_VALUES["twelve"] = 12.0
# Between two schedules, these add them up: "qam and qpm" is twice a day, "tid and at bedtime" four times.
_TITRATION = LazyPattern(r"\b(?:day|week)\s*\d+\b|\bincrease\w*\b|\btitrat\w*|\btaper\w*", needles=("day", "week", "increas", "titrat", "taper"))
_TIMES_WORD = LazyPattern(r"\btimes\b", needles=("times",))
_JOINED = LazyPattern(r"\band\b|[,&+]|\bplus\b|\balso\b")
_FREQ_PATTERNS = [
    # "4.5 g at bedtime and 4.5 g 2.5 to 4 hours later" (sodium oxybate): one more administration.
    (LazyPattern(r"\b\d+(?:\.\d+)?\s*(?:(?:-|to)\s*\d+(?:\.\d+)?\s*)?(?:h|hrs?|hours?)\s+later\b", needles=("later",)), "later"),
    (LazyPattern(r"\bq\s*(\d+(?:\.\d+)?)\s*(?:(?:-|to)\s*(\d+(?:\.\d+)?))?\s*(?:h|hr|hrs|hour|hours)\b", needles=("q",)), "interval"),
    (LazyPattern(r"\bevery\s+(\d+(?:\.\d+)?)\s*(?:(?:-|to)\s*(\d+(?:\.\d+)?))?\s*(?:h|hr|hrs|hours?)\b", needles=("every",)), "interval"),
    (LazyPattern(r"\b(\d+|" + _TIMES_WORDS + r")\s*(?:(?:-|to|or)\s*(\d+|" + _TIMES_WORDS + r")\s*)?(?:x|times)\s*(?:a|per|each|/)?\s*(?:day|daily|d)\b",
                 needles=("x", "times")), "times"),
    # Around meals: "with meals", "ac" (before meals) and "pc" (after meals) are three times a day.
    (LazyPattern(r"\b(with meals|before meals|after meals|ac|pc|tid ac|tid pc)\b", needles=("meals", "ac", "pc")), 3.0),
    # A clock time is one administration: "at 8am, 12pm, 4pm and 8pm".
    (LazyPattern(r"\b(?:at\s+)?\d{1,2}(?::\d{2})?\s*(?:am|pm)\b", needles=("am", "pm")), 1.0),
    (LazyPattern(r"\b(qid|q\.?i\.?d|qds|four times (?:a |per |each )?day|four times daily)\b", needles=("q", "four")), 4.0),
    (LazyPattern(r"\b(tid|t\.?i\.?d|three times (?:a |per |each )?day|three times daily)\b", needles=("t",)), 3.0),
    (LazyPattern(r"\b(bid|b\.?i\.?d|twice (?:a |per |each )?day|twice daily|two times (?:a |per |each )?day|two times daily)\b"), 2.0),
    (LazyPattern(r"\b(qod|every other day|alternate days)\b", needles=("qod", "other", "alternate")), 0.5),
    (LazyPattern(r"\b(weekly|once (?:a|per) week|every week|q ?week|qwk)\b", needles=("week", "qwk")), 1.0 / 7.0),
    (LazyPattern(r"\b(qd|daily|once (?:a |per )?day|once daily|od|qam|qpm|qhs|hs|at bedtime|bedtime|nightly"
                r"|every (?:morning|evening|night)|in the (?:morning|evening)|q ?day|q ?am|q ?pm|q ?night|once"
                r"|every day|each day|per day|a day|every (?:night|evening) at bedtime)\b"), 1.0),
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
_PRN_RE = LazyPattern(r"\b(prn|as needed|as required|when required|if needed)\b", needles=('prn', 'needed', 'required'))
_GAP_RE = LazyPattern(r"\s+")
_FOR_RE = LazyPattern(r"for\s+")
_WORD_CHAR = LazyPattern(r"\w")


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
    "pad": "topical", "pads": "topical", "swab": "topical", "swabs": "topical", "swabstick": "topical", "wipe": "topical", "wipes": "topical",
    "cream": "topical", "gel": "topical", "ointment": "topical", "lotion": "topical", "foam": "topical",
    "suppository": "rectal", "suppositories": "rectal", "enema": "rectal",
    "inhaler": "inhaled", "hfa": "inhaled", "mdi": "inhaled", "diskus": None, "nebulizer": "inhaled", "respimat": "inhaled",
    "tube": None, "tubes": None,
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
    # How people record drinking: "wine 2 glasses nightly", "beer 3 cans on weekends".
    "glass", "glasses", "drinks", "drinking", "shot", "shots", "bottle", "bottles", "can", "cans", "pint", "pints",
    "oz", "ounce", "ounces", "socially", "social", "occasionally", "occasional", "weekend", "weekends", "uses",
    # Epic and pharmacy-label words around a sig.
    "total", "tab", "tabs", "s", "infusion", "directed", "instructions", "divided", "infuse", "into", "space",
    "implanted", "simple", "mode", "flex", "programmed", "program", "onto", "skin", "affected", "area", "remove", "old",
}


_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty[- ]?four|forty[- ]?eight|seventy[- ]?two"
# Epic repeats numbers in words: "3 (three) times daily", "every 6 (six) hours".
_WORD_AFTER_NUMBER = LazyPattern(r"(\d+(?:\.\d+)?)\s*\((?:" + _NUMBER_WORDS + r")\)", needles=('(',))
_PLURAL_PARENS = LazyPattern(r"(?<=[a-z])\((?:s|es)\)", needles=('(',))  # Cerner's "tab(s)"
_THOUSANDS = LazyPattern(r"(?<![\d.,])(\d{1,3}),(\d{3})(?![\d,])", needles=(',',))  # "1,000 mg"
# Cerner's "20 mg = 2 tab(s)": the strength is the dose and the count only describes it.
_DOSE_EQUALS = LazyPattern(r"(\d(?:\.\d+)?\s*(?:mg|mcg|g))\s*=\s*\d+(?:\.\d+)?(?:\s*-\s*\d+(?:\.\d+)?)?\s*"
                           r"(?:tabs?|tablets?|caps?|capsules?|ml|packets?|patch(?:es)?)(?![a-z])", needles=("=",))
_MIXED_NUMBER = LazyPattern(r"(?<![\w./])(\d+)\s+(\d)/(\d)(?![\w/.])", needles=('/',))  # "1 1/2"
_FRACTION = LazyPattern(r"(?<![\w./])(\d)/(\d)(?=\s*(?:tab|cap|pill|packet|patch|of\b))", needles=('/',))  # "1/2 tab"
_AND_A_HALF = LazyPattern(r"\b(one|two|three|four|\d+)\s+and\s+(?:a|one)[\s-]+half\b", needles=('half',))
_HALF_OF = LazyPattern(r"\b(?:one[\s-]+half|half\s+(?:of\s+)?(?:a|one))\b", needles=('half',))
_WORD_VALUES = {"one": 1, "two": 2, "three": 3, "four": 4}
_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-"})
# A label's "2 tabs (20 mg)", "1/2 tablet (5 mg)": the bracket is the amount of one administration,
# as Epic's "(20 mg total)" is; read as such, it is never multiplied by the count again.
_COUNT_THEN_AMOUNT = LazyPattern(r"((?<![\w.])(?:\d+(?:\.\d+)?|one|two|three|four|half)\s*(?:-\s*\d+(?:\.\d+)?\s*)?"
                                 r"(?:tabs?|tablets?|caps?|capsules?|packets?|ml))\s*\(\s*(\d+(?:\.\d+)?\s*(?:-\s*\d+(?:\.\d+)?\s*)?(?:mg|mcg|g))\s*\)",
                                 needles=("(",))
# Cerner's dispense quantity: "PO, TID, 30 tab(s), 0 Refill(s)" (after "tab(s)" became "tabs"): 30 is
# what the pharmacy hands out, not what one dose is.
_DISPENSED = LazyPattern(r"(?<![\w.])\d+(?:\.\d+)?\s*(?:tabs?|tablets?|caps?|capsules?|ml|packets?|patch(?:es)?)\s*,\s*(\d+\s*refills?)\b",
                         needles=("refill",))
# Epic's "Max Daily Amount: 120 mg" is the order's own ceiling, as "max 120 mg/day" is.
_MAX_DAILY_AMOUNT = LazyPattern(r"\bmax(?:imum)?\s+daily\s+(?:amount|dose)\s*:?\s*(\d+(?:\.\d+)?\s*[a-z]+)", needles=("daily",))
# "PRN: anxiety" (Cerner): the indication follows as it does after "PRN for".
_PRN_COLON = LazyPattern(r"\b(prn|as needed)\s*:", needles=("prn", "needed"))
# Feeding tubes are enteral, which is oral here: "via G-tube", "per PEG tube", "NG tube".
# Not after a number: "30 g tube" is a package of cream.
_TUBE = LazyPattern(r"(?<![\d.])(?<![\d.]\s)\b(?:g|j|gj|ng|nj|og|peg|feeding|gastrostomy|jejunostomy|nasogastric)[\s-]*tubes?\b|\bngt\b",
                    needles=("tube", "ngt"))


def normalize(text: str) -> str:
    """Rewrite how systems print amounts into plain numbers, on folded text.

    "3 (three) times daily" -> "3 times daily"; "tab(s)" -> "tabs"; "1 1/2" -> "1.5";
    "1/2 tab" -> "0.5 tab"; "one and a half" -> "1.5"; "half a tablet" -> "half tablet".
    """
    text = text.replace("\u2044", "/").translate(_DASHES)  # NFKD turns "½" into "1⁄2" with a fraction slash; "1–2" is "1-2"
    text = _WORD_AFTER_NUMBER.sub(r"\1", text)
    text = _PLURAL_PARENS.sub("s", text)
    text = _THOUSANDS.sub(r"\1\2", text)
    text = _DOSE_EQUALS.sub(r"\1", text)
    text = _MIXED_NUMBER.sub(lambda m: f"{int(m.group(1)) + int(m.group(2)) / int(m.group(3)):g}" if int(m.group(3)) else m.group(0), text)
    text = _FRACTION.sub(lambda m: f"{int(m.group(1)) / int(m.group(2)):g}" if int(m.group(2)) else m.group(0), text)
    text = _AND_A_HALF.sub(lambda m: f"{(_WORD_VALUES.get(m.group(1)) or float(m.group(1))) + 0.5:g}", text)
    text = _HALF_OF.sub("half", text)
    text = _COUNT_THEN_AMOUNT.sub(r"\1 (\2 total)", text)
    text = _DISPENSED.sub(r"\1", text)
    text = _MAX_DAILY_AMOUNT.sub(r"max \1/day", text)
    text = _PRN_COLON.sub(r"\1", text)
    text = _TUBE.sub("enteral", text)
    return text


def count_of(word: str) -> float:
    """Return the number a count word stands for: "2", "1.5", "two", "half", "ii"."""
    return _COUNT_WORDS[word] if word in _COUNT_WORDS else float(word)


def count_unit(word: str) -> str:
    """Return the unit a count is in: "tabs" -> "tablet", "caps" -> "capsule", "patches" -> "patch"."""
    for prefix, unit in (("tab", "tablet"), ("cap", "capsule"), ("patch", "patch"), ("packet", "packet"), ("sachet", "packet"),
                         ("suppositor", "suppository"), ("film", "film"), ("softgel", "capsule"), ("gelcap", "capsule")):
        if word.startswith(prefix):
            return unit
    return word.rstrip("s") or word


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
    """Find a frequency in folded text; return it and the spans it used.

    Ranges give a minimum and a maximum per day ("every 4-6 hours": 4 to 6). Several
    schedules that agree ("daily at bedtime") are one; schedules that differ ("QID and
    qhs") give a frequency that cannot be counted.
    """
    spans: list[tuple[int, int]] = []
    prn_match = find_prn(text)
    as_needed = prn_match is not None
    if prn_match:
        spans.append(prn_match.span())
    found = []
    for pattern, meaning in _FREQ_PATTERNS:
        for match in pattern.finditer(text):
            if not any(a < match.end() and match.start() < b for a, b in [m.span() for _, m, _ in found]):
                found.append((meaning, match, _per_day(meaning, match)))
    if _TITRATION.search(text):
        # "Day 1 ..., day 2 ...", "increase by 1 tab weekly": the dose changes; no single daily dose.
        return Frequency(text="titration", per_day=None, as_needed=as_needed), spans
    if _TIMES_WORD.search(text) and not any(isinstance(meaning, float) and meaning > 1 or meaning == "times" for meaning, _, _ in found):
        # "20 mg nine-times-a-day-ish": a count of times it does not understand; never fall back to once a day.
        return Frequency(text="times per day not understood", per_day=None, as_needed=as_needed), spans
    if not found:
        return (Frequency(text=prn_match.word, per_day=None, as_needed=True) if as_needed else None), spans
    found.sort(key=lambda f: f[1].start())
    for _, match, _ in found:
        spans.append(match.span())
    label = "; ".join(m.group(0).strip() for _, m, _ in found)
    low, high = found[0][2]
    for (_, before, _), (meaning_after, after, (more_low, more_high)) in zip(found, found[1:], strict=False):
        if meaning_after == "later" or _JOINED.search(text[before.end():after.start()]):
            # "qam and qpm", "tid and at bedtime", "8am, 12pm and 4pm": administrations add up.
            low, high = (None, None) if low is None or more_low is None else (low + more_low, high + more_high)
        elif (more_low, more_high) != (low, high):
            # "20 mg QID, then 20 mg qhs" written apart with different counts: never guess a total.
            return Frequency(text=label, per_day=None, as_needed=as_needed), spans
    if high is None:
        return Frequency(text=label, per_day=None, as_needed=as_needed), spans
    if as_needed:
        label = f"{label} {prn_match.word}"
    return Frequency(text=label, per_day=high, as_needed=as_needed, per_day_min=low), spans


def _per_day(meaning, match) -> tuple:
    """(fewest, most) administrations per day for one frequency match."""
    if meaning == "interval":
        hours = [float(g) for g in match.groups() if g]
        if min(hours) <= 0:
            return None, None
        return round(24.0 / max(hours), 6), round(24.0 / min(hours), 6)
    if meaning == "later":
        return 1.0, 1.0  # one more administration
    if meaning == "times":
        counts = [_TIMES_VALUES[g] if g in _TIMES_VALUES else float(g) for g in match.groups() if g]
        return min(counts), max(counts)
    return float(meaning), float(meaning)
