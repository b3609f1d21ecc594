"""Clinical scenarios kept as YAML data under tests/cases/, fed through one parametrised test."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CASES_DIR = Path(__file__).resolve().parent / "cases"
CASES = []
for path in sorted(CASES_DIR.glob("*.yaml")):
    if path.name == "sigs.yaml":
        continue  # daily-dose cases, run by tests/test_sigs.py
    for case in yaml.safe_load(path.read_text(encoding="utf-8")):
        CASES.append(pytest.param(case, id=case["id"]))
KNOWN_KEYS = {"id", "medications", "previous", "patient", "findings", "drugs", "related", "routes", "reasons", "notes", "no_notes", "context_needed", "report_context", "complete"}


@pytest.mark.parametrize("case", CASES)
def test_case(run_check, case):
    assert set(case) <= KNOWN_KEYS, set(case) - KNOWN_KEYS
    report = run_check(*case["medications"], previous=case.get("previous", ()), patient=case.get("patient"))
    found = {}
    for f in report.findings:
        assert f.id not in found or found[f.id] == f.severity, f"{f.id} reported at two severities"
        found[f.id] = f.severity
    assert found == case["findings"]
    by_id = {f.id: f for f in report.findings}
    for rule, drugs in case.get("drugs", {}).items():
        assert list(by_id[rule].drugs) == sorted(drugs)
    for rule, related in case.get("related", {}).items():
        assert sorted(r.id for r in by_id[rule].related) == sorted(related)
    for rule, routes in case.get("routes", {}).items():
        assert {i.drug: i.route for i in by_id[rule].involved} == routes
    for rule, reason in case.get("reasons", {}).items():
        assert reason in by_id[rule].reasons
    for rule, note in case.get("notes", {}).items():
        assert any(note in n for n in by_id[rule].notes), by_id[rule].notes
    for rule in case.get("no_notes", []):
        assert by_id[rule].notes == ()
    for rule, needed in case.get("context_needed", {}).items():
        assert needed in by_id[rule].context_needed
    if "report_context" in case:
        assert case["report_context"] in report.context_needed
    assert report.complete is case.get("complete", True)


def test_at_least_80_scenarios():
    assert len(CASES) >= 80


def test_every_rule_has_a_positive_and_a_negative_case(index):
    # A rule that loses a pair to a more severe one is still reported, folded in as `related`.
    positive = {rid for p in CASES for rid in p.values[0]["findings"]}
    positive |= {rid for p in CASES for rids in p.values[0].get("related", {}).values() for rid in rids}
    missing = set(index.rules) - positive
    assert not missing, f"rules without a positive case: {sorted(missing)}"
    # Negative: a case whose medications touch the rule's subject area but expect no finding of it.
    negatives = {
        "oxybate-alcohol": "oxybate-sertraline-no-finding",
        "oxybate-sedative-hypnotic": "oxybate-sertraline-no-finding",
        "oxybate-opioid": "oxybate-baclofen-major",
        "oxybate-cns-depressant": "oxybate-sertraline-no-finding",
        "opioid-benzodiazepine": "baclofen-oxycodone-major",
        "opioid-gabapentinoid": "oxycodone-zolpidem-major",
        "opioid-cns-depressant": "oxycodone-sertraline-no-finding",
        "alcohol-cns-depressant": "alcohol-sertraline-loratadine-no-finding",
        "additive-cns-depression": "baclofen-sertraline-no-finding",
        "baclofen-tricyclic": "baclofen-trazodone-moderate",
        "baclofen-maoi": "baclofen-bupropion-no-finding",
        "baclofen-levodopa": "baclofen-pramipexole-no-finding",
        "baclofen-blood-pressure-lowering": "baclofen-metformin-no-finding",
        "intrathecal-baclofen-neuraxial-morphine": "oral-baclofen-oral-morphine-no-neuraxial-rule",
        "muscle-relaxant-duplication": "baclofen-lorazepam-moderate",
        "cns-active-burden": "burden-two-drugs-only",
        "baclofen-renal-impairment": "renal-egfr-60-exactly-no-finding",
        "baclofen-oral-dose-above-maximum": "dose-80-mg-is-the-maximum",
        "baclofen-discontinuation": "baclofen-continued-unchanged",
        "benzodiazepine-discontinuation": "benzodiazepine-switched-not-stopped",
    }
    by_id = {p.values[0]["id"]: p.values[0] for p in CASES}
    assert set(negatives) == set(index.rules)
    for rule, case_id in negatives.items():
        case = by_id[case_id]
        assert rule not in case["findings"], (rule, case_id)
        related = [r for rs in case.get("related", {}).values() for r in rs]
        assert rule not in related, (rule, case_id)
