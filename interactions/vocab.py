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
    """A regex compiled on first use, optionally skipped when the text lacks a word it needs.

    Compiling is pure Python in CPython and costs a cold check ~0.2 ms per pattern, so a
    pattern waits until it is needed. With `needles` (substrings every match must contain)
    a text without any of them is answered at once, without compiling: "(20 mg total)"
    needs "total", "max 6 tabs/day" needs "max" or "exceed".
    """

    __slots__ = ("_args", "_compiled", "_needles")

    def __init__(self, pattern: str, flags: int = 0, needles: tuple = ()):
        self._args = (pattern, flags)
        self._compiled = None
        self._needles = needles

    def _get(self):
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return self._compiled

    def _absent(self, text: str) -> bool:
        return bool(self._needles) and not any(n in text for n in self._needles)

    def sub(self, repl, text: str, count: int = 0) -> str:
        """re.Pattern.sub, skipped when a needle is missing."""
        return text if self._absent(text) else self._get().sub(repl, text, count)

    def search(self, text: str, *args):
        """re.Pattern.search, None when a needle is missing."""
        return None if self._absent(text) else self._get().search(text, *args)

    def match(self, text: str, *args):
        """re.Pattern.match, None when a needle is missing."""
        return None if self._absent(text) else self._get().match(text, *args)

    def finditer(self, text: str, *args):
        """re.Pattern.finditer, empty when a needle is missing."""
        return iter(()) if self._absent(text) else self._get().finditer(text, *args)

    def findall(self, text: str, *args):
        """re.Pattern.findall, empty when a needle is missing."""
        return [] if self._absent(text) else self._get().findall(text, *args)

    def fullmatch(self, text: str, *args):
        """re.Pattern.fullmatch, None when a needle is missing."""
        return None if self._absent(text) else self._get().fullmatch(text, *args)

    def __getattr__(self, name):
        return getattr(self._get(), name)


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
