"""Drug-interaction warnings for CNS depression, as a library and a command-line tool."""

from __future__ import annotations

from .version import __version__

__all__ = ["__version__", "check", "load_rules"]


def load_rules(rules_dir=None, cache_dir=None):
    """Return the compiled rules for a folder (default: the built-in rules)."""
    from .index import load_index

    return load_index(rules_dir, cache_dir)


def check(medications, *, rules=None, patient=None, previous=()):
    """Check a list of medication strings (or MedicationInput) and return a Report.

    `patient` is a dict with optional `age` and `egfr`; `previous` is the
    previous list, used to detect drugs stopped abruptly.
    """
    engine = _engine()
    index = rules if rules is not None else _default_rules()
    from .model import NO_PATIENT, CheckRequest, Patient

    request = CheckRequest(
        medications=engine.as_inputs(medications),
        previous=engine.as_inputs(previous) if previous else (),
        patient=Patient(**patient) if patient else NO_PATIENT,
    )
    return engine.check(index, request)


_DEFAULT = None
_ENGINE = None


def _engine():
    global _ENGINE
    if _ENGINE is None:
        from . import engine

        _ENGINE = engine
    return _ENGINE


def _default_rules():
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_rules()
    return _DEFAULT
