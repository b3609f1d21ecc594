"""Every option a rule kind declares does what the schema says: one test per (kind, option)."""

from __future__ import annotations

import re

import pytest

from interactions import check
from interactions.index import load_index
from interactions.kinds import KINDS, RULE_COMMON


def edit_rule(rules_copy, rule_id: str, old: str, new: str) -> None:
    """Replace `old` by `new` inside one rule of rules/rules.yaml."""
    path = rules_copy / "rules.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(f'  - id: "{rule_id}"')
    end = text.find("\n  - id: ", start + 1)
    end = len(text) if end < 0 else end
    block = text[start:end]
    assert old in block, (rule_id, old)
    path.write_text(text[:start] + block.replace(old, new, 1) + text[end:], encoding="utf-8")


def findings(index, meds, **kwargs) -> dict:
    return {f.id: f for f in check(meds, rules=index, **kwargs).findings}


# --- pair ----------------------------------------------------------------------------------

def test_pair_between_names_the_two_sides(index):
    got = findings(index, ["oxycodone", "lorazepam"])
    assert got["opioid-benzodiazepine"].drugs == ("lorazepam", "oxycodone")


def test_pair_side_route_restricts_that_side(index):
    rule = "intrathecal-baclofen-neuraxial-morphine"
    assert rule in {r.id for f in findings(index, ["baclofen 400 mcg/day intrathecal", "morphine 1 mg epidural"]).values() for r in (f, *f.related)}
    assert rule not in {r.id for f in findings(index, ["baclofen 10 mg po tid", "morphine 1 mg epidural"]).values() for r in (f, *f.related)}


def test_pair_escalate_and_notes_are_honoured(rules_copy, tmp_path):
    edit_rule(rules_copy, "opioid-gabapentinoid", 'references: ["fda-dsc-2019-12-19"', '''escalate:
      - when: {age_at_least: 65}
        severity: "contraindicated"
        reason: "age {age} >= 65"
        references: ["beers-2023-table-5"]
    notes:
      - when: {egfr_below: 30}
        text: "eGFR {egfr} is below 30."
        references: ["beers-2023-table-5"]
    references: ["fda-dsc-2019-12-19"''')
    index = load_index(rules_copy)
    old = findings(index, ["oxycodone", "gabapentin"], patient={"age": 80, "egfr": 20})["opioid-gabapentinoid"]
    assert old.severity == "contraindicated"
    assert old.reasons == ("contraindicated because age 80 >= 65",)
    assert old.notes == ("eGFR 20 is below 30.",)
    young = findings(index, ["oxycodone", "gabapentin"], patient={"age": 40, "egfr": 90})["opioid-gabapentinoid"]
    assert (young.severity, young.reasons, young.notes) == ("major", (), ())
    unknown = findings(index, ["oxycodone", "gabapentin"])["opioid-gabapentinoid"]
    assert unknown.severity == "major"
    assert unknown.context_needed == ("age not given: would be contraindicated when age >= 65",)


# --- additive --------------------------------------------------------------------------------

def test_additive_class_groups_every_member_in_one_finding(index):
    got = findings(index, ["baclofen", "zolpidem", "hydroxyzine"])
    assert got["additive-cns-depression"].drugs == ("baclofen", "hydroxyzine", "zolpidem")


def test_additive_min_drugs_is_honoured(rules_copy):
    """The bug that started the kinds registry: min_drugs was accepted by the schema and ignored."""
    edit_rule(rules_copy, "additive-cns-depression", "min_drugs: 2", "min_drugs: 3")
    index = load_index(rules_copy)
    assert "additive-cns-depression" not in findings(index, ["baclofen", "zolpidem"])
    got = findings(index, ["baclofen", "zolpidem", "hydroxyzine"])
    assert got["additive-cns-depression"].drugs == ("baclofen", "hydroxyzine", "zolpidem")


def test_additive_min_drugs_lets_a_lower_rule_win_the_pair(rules_copy):
    # With the additive rule switched off for a two-drug list, the pair falls to the next rule.
    edit_rule(rules_copy, "additive-cns-depression", "min_drugs: 2", "min_drugs: 3")
    index = load_index(rules_copy)
    assert set(findings(index, ["baclofen", "amitriptyline"])) == {"baclofen-tricyclic"}


# --- burden ------------------------------------------------------------------------------------

def test_burden_class_and_min_drugs(rules_copy):
    index = load_index(rules_copy)
    assert "cns-active-burden" not in findings(index, ["baclofen", "sertraline"])
    assert findings(index, ["baclofen", "sertraline", "gabapentin"])["cns-active-burden"].drugs == ("baclofen", "gabapentin", "sertraline")
    edit_rule(rules_copy, "cns-active-burden", "min_drugs: 3", "min_drugs: 4")
    index = load_index(rules_copy)
    assert "cns-active-burden" not in findings(index, ["baclofen", "sertraline", "gabapentin"])


# --- renal -------------------------------------------------------------------------------------

def test_renal_subject_and_egfr_below(rules_copy):
    index = load_index(rules_copy)
    assert "baclofen-renal-impairment" in findings(index, ["baclofen"], patient={"egfr": 59})
    assert "baclofen-renal-impairment" not in findings(index, ["baclofen"], patient={"egfr": 60})
    assert "baclofen-renal-impairment" not in findings(index, ["tizanidine"], patient={"egfr": 20})
    edit_rule(rules_copy, "baclofen-renal-impairment", "egfr_below: 60", "egfr_below: 30")
    index = load_index(rules_copy)
    assert "baclofen-renal-impairment" not in findings(index, ["baclofen"], patient={"egfr": 45})


# --- dose-limit ----------------------------------------------------------------------------------

def test_dose_limit_subject_route_and_max_daily(rules_copy):
    index = load_index(rules_copy)
    rule = "baclofen-oral-dose-above-maximum"
    assert rule in findings(index, ["baclofen 30 mg po tid"])
    assert rule not in findings(index, ["baclofen 20 mg po qid"])
    # route: an intrathecal dose is never compared with the oral limit.
    assert rule not in findings(index, ["baclofen 100 mg/day intrathecal"])
    edit_rule(rules_copy, rule, 'max_daily: {value: 80, unit: "mg"}', 'max_daily: {value: 60, unit: "mg"}')
    index = load_index(rules_copy)
    assert rule in findings(index, ["baclofen 20 mg po qid"])


# --- discontinuation ---------------------------------------------------------------------------

def test_discontinuation_subject_and_severity_by_route(index):
    rule = "baclofen-discontinuation"
    assert findings(index, ["lisinopril"], previous=["baclofen 10 mg tid"])[rule].severity == "major"
    assert findings(index, ["lisinopril"], previous=["baclofen 400 mcg/day intrathecal"])[rule].severity == "contraindicated"
    assert rule not in findings(index, ["baclofen 10 mg tid"], previous=["baclofen 10 mg tid"])


# --- the registry itself ---------------------------------------------------------------------------

TESTED = {
    ("pair", "between"): test_pair_between_names_the_two_sides,
    ("additive", "class"): test_additive_class_groups_every_member_in_one_finding,
    ("additive", "min_drugs"): test_additive_min_drugs_is_honoured,
    ("burden", "class"): test_burden_class_and_min_drugs,
    ("burden", "min_drugs"): test_burden_class_and_min_drugs,
    ("renal", "subject"): test_renal_subject_and_egfr_below,
    ("renal", "egfr_below"): test_renal_subject_and_egfr_below,
    ("dose-limit", "subject"): test_dose_limit_subject_route_and_max_daily,
    ("dose-limit", "route"): test_dose_limit_subject_route_and_max_daily,
    ("dose-limit", "max_daily"): test_dose_limit_subject_route_and_max_daily,
    ("discontinuation", "subject"): test_discontinuation_subject_and_severity_by_route,
    ("discontinuation", "severity_by_route"): test_discontinuation_subject_and_severity_by_route,
}


def test_every_option_of_every_kind_has_a_test():
    declared = {(name, field) for name, kind in KINDS.items() for field in kind.fields}
    assert declared == set(TESTED)


def test_escalate_and_notes_are_common_to_every_kind():
    assert {"escalate", "notes"} <= set(RULE_COMMON)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_is_evaluated_one_way(kind):
    entry = KINDS[kind]
    # Pairwise kinds go through the pair pass (optionally gated); the others through evaluate.
    assert entry.pairwise == (entry.evaluate is None)
    assert entry.pairwise or entry.gate is None


def test_dose_conditions_on_a_rule_without_a_subject_are_rejected(rules_copy, cli_run):
    edit_rule(rules_copy, "opioid-gabapentinoid", 'references: ["fda-dsc-2019-12-19"', '''notes:
      - when: {daily_dose_at_least: {value: 20, unit: "mg"}}
        text: "high dose"
        references: ["beers-2023-table-5"]
    references: ["fda-dsc-2019-12-19"''')
    result = cli_run("rules", "validate", "--rules", str(rules_copy))
    assert result.exit_code == 2
    assert re.search(r"rules\.yaml:\d+: rule 'opioid-gabapentinoid': notes: 'daily_dose_at_least' and 'route' need a rule with a subject", result.stdout)


ADVICE_THAT_CHANGES_A_DOSE = ("stop", "reduce", "keep one", "lowest", "minimise", "each", "adjust", "taper")


def test_no_advice_that_reaches_intrathecal_baclofen_says_to_stop_it(index):
    """Every rule baclofen takes part in whose advice changes a dose has its own intrathecal advice,
    and that advice never says to stop baclofen (CLINICAL.md section C)."""
    for rid in index.drug_rules("baclofen"):
        rule = index.rules[rid]
        if not any(word in rule["management"].lower() for word in ADVICE_THAT_CHANGES_A_DOSE):
            continue
        text = (rule.get("management_by_route") or {}).get("intrathecal")
        assert text, f"{rid}: no intrathecal advice"
        for sentence in text.lower().split(". "):
            if "stop" in sentence and "baclofen" in sentence:
                assert "never" in sentence or "do not" in sentence, (rid, sentence)


def test_discontinuation_escalate_and_notes_are_honoured(rules_copy):
    edit_rule(rules_copy, "benzodiazepine-discontinuation", 'references: ["fda-dsc-2020-09-23"]', '''references: ["fda-dsc-2020-09-23"]
    escalate:
      - when: {age_at_least: 65}
        severity: "contraindicated"
        reason: "age {age} >= 65"
        references: ["beers-2023-table-5"]''')
    index = load_index(rules_copy)
    old = findings(index, ["lisinopril"], previous=["lorazepam 1 mg bid"], patient={"age": 80})["benzodiazepine-discontinuation"]
    assert (old.severity, old.reasons) == ("contraindicated", ("contraindicated because age 80 >= 65",))
    young = findings(index, ["lisinopril"], previous=["lorazepam 1 mg bid"], patient={"age": 40})["benzodiazepine-discontinuation"]
    assert young.severity == "major"


def test_a_note_about_drugs_the_rules_do_not_know_is_rejected_at_its_line(rules_copy, cli_run):
    edit_rule(rules_copy, "opioid-benzodiazepine", 'involves: ["buprenorphine", "methadone"]', 'involves: ["buprenorphine", "methadon"]')
    result = cli_run("rules", "validate", "--rules", str(rules_copy))
    assert result.exit_code == 2
    line = next(n for n, text in enumerate((rules_copy / "rules.yaml").read_text().splitlines(), 1) if '"methadon"]' in text)
    assert f"rules.yaml:{line}: rule 'opioid-benzodiazepine': notes: involves: unknown drug 'methadon' (did you mean 'methadone'?)" in result.stdout


@pytest.mark.parametrize("meds, rule, noted", [
    (["buprenorphine 8 mg SL daily", "lorazepam 1 mg"], "opioid-benzodiazepine", True),
    (["Suboxone 8-2 mg film", "Xanax 0.5 mg"], "opioid-benzodiazepine", True),
    (["methadone 60 mg daily", "zolpidem 10 mg"], "opioid-cns-depressant", True),
    (["oxycodone 5 mg", "lorazepam 1 mg"], "opioid-benzodiazepine", False),
    (["oxycodone 5 mg", "zolpidem 10 mg"], "opioid-cns-depressant", False),
])
def test_the_do_not_withhold_advice_is_given_for_buprenorphine_and_methadone_only(index, meds, rule, noted):
    # FDA 2017-09-20 is about medication-assisted treatment; for oxycodone it would be noise.
    finding = findings(index, meds)[rule]
    advice = [n for n in finding.notes if "should not be withheld" in n]
    assert bool(advice) == noted
    assert ("fda-dsc-2017-09-20" in [r.id for r in finding.references]) == noted


def test_a_stated_oral_stop_gives_no_route_reason_but_an_assumed_route_says_what_else_it_could_be(index):
    # Oral is in severity_by_route (so that oral -> pump is a stop) with the rule's own severity:
    # "major because the route was oral" would add nothing.
    stated = check(["metformin"], rules=index, previous=["baclofen 10 mg PO TID"]).findings[0]
    assert (stated.id, stated.severity, stated.reasons, stated.context_needed) == ("baclofen-discontinuation", "major", (), ())
    assumed = check(["metformin"], rules=index, previous=["baclofen 10 mg TID"]).findings[0]
    assert assumed.context_needed == ("route not stated, assumed oral; would be different if intrathecal: contraindicated",)


def test_a_previous_baclofen_without_a_route_now_on_the_pump_is_asked_about_not_called_an_oral_stop(index):
    report = check(["baclofen intrathecal 300 mcg/day via pump"], rules=index, previous=["baclofen 2000 mcg/mL"])
    assert "baclofen-discontinuation" not in {f.id for f in report.findings}
    assert ("Baclofen stopped abruptly: baclofen on the previous list has no route (assumed oral); this list has it only "
            "intrathecal: if it was oral, it is being stopped") in report.context_needed
