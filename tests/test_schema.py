"""The schema, declared as data: validators, the rule kinds' fields, and their exact messages."""

from __future__ import annotations

from interactions import schema
from interactions.yamltree import parse_yaml


def validate(validator, text: str):
    problems: list = []
    value = validator(parse_yaml(text.encode()), schema.Ctx("f.yaml", problems), "thing")
    return value, [f"{p}:{line}: {m}" for p, line, m in problems]


def test_a_record_keeps_its_location_beside_its_data():
    value, problems = validate(schema.record(schema.SOURCE), 'id: "x"\ncitation: "c"\nkind: "label"\nconfidence: "verified"\n')
    assert problems == []
    assert dict(value) == {"id": "x", "citation": "c", "kind": "label", "confidence": "verified"}
    assert (value.path, value.line, value.lines["kind"]) == ("f.yaml", 1, 3)
    assert value.where("confidence") == ("f.yaml", 4)
    assert value.where("url") == ("f.yaml", 1)


def test_unknown_keys_and_missing_keys_are_reported_with_lines():
    _, problems = validate(schema.record(schema.SOURCE), 'id: "x"\nciation: "c"\nkind: "label"\nconfidence: "verified"\n')
    assert problems == [
        "f.yaml:2: thing: unknown key 'ciation' (did you mean 'citation'?)",
        "f.yaml:1: thing: missing required key 'citation'",
    ]


def test_yaml_1_1_surprises_get_a_quoting_hint():
    _, problems = validate(schema.record(schema.SOURCE), 'id: "x"\ncitation: NO\nkind: "label"\nconfidence: "verified"\n')
    assert problems == ["f.yaml:2: thing: 'citation': expected a string, got boolean 'NO' (quote it: \"NO\")"]


def test_rule_fields_follow_the_kind():
    text = ('id: "r"\nkind: "additive"\nclass: "c"\nmin_drugs: 1\nseverity: "moderate"\neffect: "cns-depression"\n'
            'title: "t"\nmessage: "m"\nmechanism: "m"\nmanagement: "m"\nreferences: ["s"]\nsubject: "x"\n')
    _, problems = validate(schema.rule, text)
    assert problems == [
        "f.yaml:12: thing: unknown key 'subject'",
        "f.yaml:4: thing: 'min_drugs': 1 is out of range (2 to 50)",
    ]


def test_an_unknown_kind_is_the_only_problem_reported():
    text = ('id: "r"\nkind: "additve"\nclass: "c"\nseverity: "moderate"\neffect: "cns-depression"\n'
            'title: "t"\nmessage: "m"\nmechanism: "m"\nmanagement: "m"\nreferences: ["s"]\n')
    _, problems = validate(schema.rule, text)
    assert problems == [
        "f.yaml:2: thing: 'kind': 'additve' is not one of pair, additive, burden, renal, dose-limit, discontinuation (did you mean 'additive'?)"
    ]


def test_escalation_conditions_are_validated():
    text = ('id: "r"\nkind: "burden"\nclass: "c"\nmin_drugs: 3\nseverity: "moderate"\neffect: "falls-and-fractures"\n'
            'title: "t"\nmessage: "m"\nmechanism: "m"\nmanagement: "m"\nreferences: ["s"]\n'
            'escalate:\n  - when: {age_at_leest: 65}\n    severity: "major"\n    reason: "r"\n    references: ["s"]\n')
    _, problems = validate(schema.rule, text)
    assert problems == ["f.yaml:13: thing: 'escalate': 'when': unknown key 'age_at_leest' (did you mean 'age_at_least'?)"]
