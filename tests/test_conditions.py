"""The `when` language: evaluation, missing context, descriptions, escalations and notes."""

from __future__ import annotations

import pytest

from interactions.conditions import Context, describe, escalate, holds, notes
from interactions.model import Patient, Quantity

OLD = Patient(age=80, egfr=25)
YOUNG = Patient(age=40, egfr=90)
UNKNOWN = Patient()


@pytest.mark.parametrize(
    "cond, ctx, expected",
    [
        ({"age_at_least": 65}, Context(OLD), (True, [])),
        ({"age_at_least": 65}, Context(YOUNG), (False, [])),
        ({"age_at_least": 65}, Context(UNKNOWN), (False, ["age"])),
        ({"egfr_below": 30}, Context(OLD), (True, [])),
        ({"egfr_below": 30}, Context(Patient(egfr=30)), (False, [])),
        ({"egfr_below": 30}, Context(UNKNOWN), (False, ["eGFR"])),
        ({"route": ["oral"]}, Context(OLD, None, "oral"), (True, [])),
        ({"route": ["oral"]}, Context(OLD, None, "intrathecal"), (False, [])),
        ({"daily_dose_at_least": {"value": 20, "unit": "mg"}}, Context(OLD, Quantity(20, "mg"), "oral"), (True, [])),
        ({"daily_dose_at_least": {"value": 20, "unit": "mg"}}, Context(OLD, Quantity(15, "mg"), "oral"), (False, [])),
        # Units convert: 20,000 mcg is 20 mg; a dose in mL cannot be compared.
        ({"daily_dose_at_least": {"value": 20, "unit": "mg"}}, Context(OLD, Quantity(20000, "mcg"), "oral"), (True, [])),
        ({"daily_dose_at_least": {"value": 20, "unit": "mg"}}, Context(OLD, Quantity(10, "mL"), "oral"), (False, ["daily dose"])),
        ({"daily_dose_at_least": {"value": 20, "unit": "mg"}}, Context(OLD), (False, ["daily dose"])),
        # A known part that is false settles it: nothing is asked for.
        ({"age_at_least": 65, "egfr_below": 30}, Context(Patient(age=40)), (False, [])),
        ({"age_at_least": 65, "egfr_below": 30}, Context(Patient(age=70)), (False, ["eGFR"])),
        ({"age_at_least": 65, "egfr_below": 30}, Context(UNKNOWN), (False, ["age", "eGFR"])),
        # `involves`: one of the named drugs is among the finding's drugs.
        ({"involves": ["buprenorphine", "methadone"]}, Context(OLD, drugs=("lorazepam", "methadone")), (True, [])),
        ({"involves": ["buprenorphine", "methadone"]}, Context(OLD, drugs=("lorazepam", "oxycodone")), (False, [])),
        ({"involves": ["buprenorphine"]}, Context(OLD), (False, [])),
        ({"involves": ["methadone"], "age_at_least": 65}, Context(YOUNG, drugs=("methadone",)), (False, [])),
    ],
)
def test_holds(cond, ctx, expected):
    assert holds(cond, ctx) == expected


def test_describe_reads_as_words():
    cond = {"age_at_least": 65, "egfr_below": 30.5, "daily_dose_at_least": {"value": 20, "unit": "mg"}, "route": ["oral", "buccal"]}
    assert describe(cond) == "age >= 65 and eGFR < 30.5 and daily dose >= 20 mg and route oral or buccal"
    assert describe({"involves": ["buprenorphine", "methadone"]}) == "with buprenorphine or methadone"


RULE = {
    "severity": "moderate",
    "escalate": [
        {"when": {"age_at_least": 65}, "severity": "major", "reason": "age {age} >= 65", "references": ["beers"]},
        {"when": {"egfr_below": 30}, "severity": "contraindicated", "reason": "eGFR {egfr} < 30", "references": ["label"]},
        {"when": {"age_at_least": 90}, "severity": "minor", "reason": "never lowers", "references": ["x"]},
    ],
    "notes": [
        {"when": {"daily_dose_at_least": {"value": 20, "unit": "mg"}}, "text": "dose {daily_dose} on {route}", "references": ["muanda"]},
    ],
}


def test_escalate_takes_the_highest_severity_that_holds():
    esc = escalate(RULE, Context(Patient(age=92, egfr=20)))
    assert esc.severity == "contraindicated"
    assert esc.reasons == ("major because age 92 >= 65", "contraindicated because eGFR 20 < 30")
    assert esc.references == ("beers", "label")
    assert esc.context_needed == ()


def test_escalate_says_what_context_would_change_it():
    esc = escalate(RULE, Context(UNKNOWN))
    assert esc.severity == "moderate"
    assert esc.context_needed == (
        "age not given: would be major when age >= 65",
        "eGFR not given: would be contraindicated when eGFR < 30",
        "age not given: would be minor when age >= 90",
    )


def test_a_rule_without_escalations_keeps_its_severity():
    assert escalate({"severity": "minor"}, Context(OLD)) == ("minor", (), (), ())


def test_notes_fill_their_placeholders():
    assert notes(RULE, Context(OLD, Quantity(30.0, "mg"), "oral")) == (("dose 30 mg/day on oral",), ("muanda",))
    assert notes(RULE, Context(OLD, Quantity(10.0, "mg"), "oral")) == ((), ())
