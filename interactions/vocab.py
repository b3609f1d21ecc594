"""Fixed vocabularies shared by the rule schema, the resolver and the output contract."""

from __future__ import annotations

import re
import unicodedata

SEVERITIES = ("contraindicated", "major", "moderate", "minor")
# Higher is more severe.
SEVERITY_RANK = {"minor": 1, "moderate": 2, "major": 3, "contraindicated": 4}

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

RULE_KINDS = ("pair", "additive", "burden", "renal", "dose-limit", "discontinuation")
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

# Mass units and their factor to milligrams.
MASS_UNITS = {"mg": 1.0, "mcg": 0.001, "g": 1000.0}

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lowercase and strip accents, keeping punctuation."""
    text = unicodedata.normalize("NFKD", text)
    if not text.isascii():
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold()


def normalize_name(text: str) -> str:
    """Normalise a drug name: lowercase, no accents, non-alphanumerics to single spaces."""
    return _NON_ALNUM.sub(" ", fold(text)).strip()


def severity_at_least(severity: str, threshold: str) -> bool:
    """Return True if `severity` is at or above `threshold`."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]
