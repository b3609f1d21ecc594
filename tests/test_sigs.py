"""Sigs as health records print them: every daily dose is the one a pharmacist computes by hand.

tests/cases/sigs.yaml holds the cases (Epic, Cerner, pharmacy labels, abbreviations, Latin),
each with the daily dose computed by hand, or null with why it cannot be computed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interactions import check

CASES = yaml.safe_load((Path(__file__).resolve().parent / "cases" / "sigs.yaml").read_text(encoding="utf-8"))


def test_there_are_at_least_150_cases_in_every_style():
    assert len(CASES) >= 150
    assert {c["style"] for c in CASES} >= {"epic", "cerner", "label", "abbreviation", "latin"}
    assert sum(1 for c in CASES if c["daily"] is None) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_daily_dose(index, case):
    report = check([case["text"]], rules=index)
    med = report.medications[0]
    res = med.resolution
    assert case["drug"] in res.drugs, (res.status, res.drugs, res.unrecognized)
    strength = next((s for s in res.strengths if s.drug == case["drug"]), None)
    daily = strength.daily if strength else None
    expected = case["daily"]
    if expected is None:
        assert daily is None, daily
        assert res.dose_note, "a daily dose that cannot be computed must say why"
        return
    assert daily is not None, res.dose_note
    got = {"min": daily.min, "max": daily.max, "unit": daily.unit, "route": res.route or "oral"}
    want = dict(expected)
    for key in ("min", "max"):
        if want[key] is not None:
            want[key] = pytest.approx(want[key], abs=1e-3)
    assert got == want
