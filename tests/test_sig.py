"""Sig parsing primitives: frequencies, PRN, strengths and routes, on folded text."""

from __future__ import annotations

import pytest

from interactions.sig import find_prn, has_strength, parse_frequency, route_of, undot


@pytest.mark.parametrize(
    "text, per_day, as_needed",
    [
        ("10 mg tid", 3.0, False),
        ("1 tab qid", 4.0, False),
        ("twice daily", 2.0, False),
        ("every 6 hours prn pain", 4.0, True),
        ("q4-6h prn", 6.0, True),
        ("3 times a day", 3.0, False),
        ("at bedtime", 1.0, False),
        ("every other day", 0.5, False),
        ("weekly", 1 / 7, False),
        ("prn", None, True),
        # Administrations joined by "and", "plus" or a comma add up: QID plus at bedtime is five a day.
        ("20 mg qid plus 20 mg qhs", 5.0, False),
        ("qam and qpm", 2.0, False),
        ("five times a day", 5.0, False),
        ("three to four times daily", 4.0, False),
        ("with meals and at bedtime", 4.0, False),
        ("at 8am, 12pm, 4pm and 8pm", 4.0, False),
        ("daily at bedtime", 1.0, False),
    ],
)
def test_parse_frequency(text, per_day, as_needed):
    found, _ = parse_frequency(text)
    assert (found.per_day, found.as_needed) == (pytest.approx(per_day) if per_day is not None else None, as_needed)


def test_dotted_abbreviations_are_undotted_first():
    assert undot("10 mg t.i.d. p.r.n.") == "10 mg tid prn"
    assert parse_frequency(undot("1 tab b.i.d."))[0].per_day == 2.0


@pytest.mark.parametrize("text", ["day 1 take 1 cap at bedtime, day 2 take 1 cap twice daily", "start 1 tab qhs, increase by 1 tab weekly",
                                  "20 mg nine-ish times a day"])
def test_titrations_and_unknown_counts_are_never_counted(text):
    found, _ = parse_frequency(text)
    assert found is not None and found.per_day is None


def test_no_frequency():
    assert parse_frequency("baclofen 10 mg") == (None, [])


def test_prn_swallows_its_indications():
    match = find_prn("1 tab prn for back pain daily")
    assert match.word == "prn"
    assert "1 tab prn for back pain daily"[match.start:match.end] == "prn for back pain"


@pytest.mark.parametrize("text, expected", [("10 mg", True), ("5 mg/5 ml", True), ("25 mcg/hr", True), ("2 tablets", False), ("baclofen", False)])
def test_has_strength(text, expected):
    assert has_strength(text) is expected


@pytest.mark.parametrize("word, route", [("PO", "oral"), ("IT", "intrathecal"), (" intrathecal ", "intrathecal"), ("SubQ", "subcutaneous"), ("od", None), ("xyz", None)])
def test_route_of(word, route):
    assert route_of(word) == route
