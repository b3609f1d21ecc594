"""Fixed vocabularies shared by the rule schema, the resolver and the output contract."""

from __future__ import annotations

import re
import unicodedata

from .model import MASS_UNITS, SEVERITIES, SEVERITY_RANK, severity_at_least  # noqa: F401 - shared vocabulary

EFFECTS = (
    "cns-depression",
    "hypotension",
    "neuropsychiatric",
    "therapeutic-duplication",
    "falls-and-fractures",
    "renal-accumulation",
    "dose-above-maximum",
    "withdrawal",
)

ROUTES = (
    "oral",
    "sublingual",
    "buccal",
    "intrathecal",
    "epidural",
    "intravenous",
    "intramuscular",
    "subcutaneous",
    "transdermal",
    "topical",
    "rectal",
    "inhaled",
    "nasal",
    "ophthalmic",
    "otic",
    "vaginal",
)

SOURCE_KINDS = (
    "label",
    "guideline",
    "fda-dsc",
    "ansm",
    "literature",
    "regulation",
    "classification",
    "code-system",
    "policy",
)
CONFIDENCES = ("verified", "secondary", "background")

# Plausible patient context: age in years, eGFR in mL/min/1.73 m2.
PATIENT_LIMITS = {"age": (0, 150), "egfr": (0, 300)}


class LazyPattern:
    """A regex compiled on first use: a pattern off the common path costs nothing at start-up.

    Compiling is pure Python in CPython and a whole-process check compiles about thirty
    patterns, so the ones a typical check never uses wait until they are needed.
    """

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern: str, flags: int = 0):
        self._args = (pattern, flags)
        self._compiled = None

    def __getattr__(self, name):
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


ID_PATTERN = LazyPattern(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

_NON_ALNUM = LazyPattern(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lowercase and strip accents, keeping punctuation."""
    text = unicodedata.normalize("NFKD", text)
    if not text.isascii():
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold()


def normalize_name(text: str) -> str:
    """Normalise a drug name: lowercase, no accents, non-alphanumerics to single spaces."""
    return _NON_ALNUM.sub(" ", fold(text)).strip()


def did_you_mean(word: str, choices, cutoff: float = 0.75) -> str:
    """Return a " (did you mean 'x'?)" hint for a close choice, or an empty string."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""
