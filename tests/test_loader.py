"""The rule loader: strict YAML, schema and cross-reference checks with exact file:line messages."""

from __future__ import annotations

import time

import pytest

from interactions.errors import RulesError
from interactions.index import compile_rules
from interactions.loader import read_rules

MINIMAL = '''schema_version: 1
sources:
  - id: "src"
    citation: "A source."
    kind: "label"
    confidence: "verified"
classes:
  - id: "cns-depressant"
    name: "CNS depressant"
drugs:
  - id: "drug-a"
    name: "drug a"
    classes: {"cns-depressant": "src"}
'''
# Every rule set says what it checks; a file of its own keeps MINIMAL's line numbers.
SCOPE = '''schema_version: 1
scope:
  name: "test interactions"
  checked: ["drug a"]
  not_checked: ["everything else"]
  source: ["src"]
'''


def problems_for(tmp_path, text, name="x.yaml"):
    folder = tmp_path / "r"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(text.encode() if isinstance(text, str) else text)
    (folder / "scope.yaml").write_text(SCOPE)
    with pytest.raises(RulesError) as exc:
        read_rules(folder)
    return [str(p).replace(str(folder) + "/", "") for p in exc.value.problems]


def test_shipped_rules_load_with_zero_problems():
    data = compile_rules()
    assert len(data["drugs"]) >= 450
    assert data["rules"]


def test_minimal_rule_set_loads(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "x.yaml").write_text(MINIMAL)
    (folder / "scope.yaml").write_text(SCOPE)
    rs = read_rules(folder)
    assert set(rs.drugs) == {"drug-a"}
    assert rs.scope["not_checked"] == [("everything else", 5)]


def test_a_rule_set_must_say_what_it_checks(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "x.yaml").write_text(MINIMAL)
    with pytest.raises(RulesError) as exc:
        read_rules(folder)
    assert [p.message for p in exc.value.problems] == ["no 'scope' in the rules: every answer must say what is checked and what is not"]


def test_a_second_scope_is_an_error(tmp_path):
    problems = problems_for(tmp_path, MINIMAL + SCOPE.replace("schema_version: 1\n", ""))
    assert problems == ["x.yaml:14: a second 'scope' (the first is at scope.yaml:2)"]


@pytest.mark.parametrize(
    "edit, expected",
    [
        (('    name: "drug a"', '    name: "drug a"\n    severty: "x"'), "x.yaml:13: drug 'drug-a': unknown key 'severty'"),
        (('{"cns-depressant": "src"}', '{"cns-depresant": "src"}'), "x.yaml:13: drug 'drug-a': unknown class 'cns-depresant' (did you mean 'cns-depressant'?)"),
        (('{"cns-depressant": "src"}', '{"cns-depressant": "srx"}'), "x.yaml:13: drug 'drug-a': class 'cns-depressant': unknown source 'srx'"),
        (('name: "drug a"', "name: NO"), "x.yaml:12: drug 'drug-a': 'name': expected a string, got boolean 'NO' (quote it: \"NO\")"),
        (('name: "drug a"', "name: 0123"), "x.yaml:12: drug 'drug-a': 'name': expected a string, got integer '0123' (quote it: \"0123\")"),
        (('    confidence: "verified"', '    confidence: "verified"\n    kind: "label"'), "x.yaml:7: duplicate key 'kind' (first at line 5)"),
        (('kind: "label"', 'kind: "lable"'), "x.yaml:5: source 'src': 'kind': 'lable' is not one of label, guideline, fda-dsc, ansm, literature, regulation, classification, code-system, policy (did you mean 'label'?)"),
        (("schema_version: 1", "schema_version: 2"), "x.yaml:1: unsupported schema_version 2 (this version reads 1)"),
        (("drugs:", "drugz:"), "x.yaml:10: unknown top-level key 'drugz' (did you mean 'drugs'?)"),
        (('  - id: "drug-a"', '  - id: "Drug A"'), "x.yaml:11: drug 'Drug A': 'id': 'Drug A' is not a lowercase kebab-case id"),
    ],
)
def test_exact_validation_messages(tmp_path, edit, expected):
    text = MINIMAL.replace(*edit)
    assert expected in problems_for(tmp_path, text)


def test_every_problem_is_collected(tmp_path):
    text = MINIMAL.replace('kind: "label"', 'kind: "lable"').replace('{"cns-depressant": "src"}', '{"nope": "src"}')
    text += '  - id: "drug-a"\n    name: "again"\n    classes: {"cns-depressant": "src"}\n'
    problems = problems_for(tmp_path, text)
    assert problems == [
        "x.yaml:5: source 'src': 'kind': 'lable' is not one of label, guideline, fda-dsc, ansm, literature, regulation, classification, code-system, policy (did you mean 'label'?)",
        "x.yaml:14: duplicate drug id 'drug-a' (first defined at x.yaml:11)",
    ]


def test_alias_bomb_is_rejected_at_once(tmp_path):
    lines = ['schema_version: 1', 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 12):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    start = time.perf_counter()
    problems = problems_for(tmp_path, "\n".join(lines) + "\n")
    assert time.perf_counter() - start < 1.0
    assert problems == ["x.yaml:2: YAML anchor '&a' is not allowed in rule files"]


def test_alias_alone_is_rejected(tmp_path):
    assert problems_for(tmp_path, "schema_version: 1\nsources: *x\n") == ["x.yaml:2: YAML alias '*x' is not allowed in rule files"]


def test_python_tags_are_rejected(tmp_path):
    problems = problems_for(tmp_path, "schema_version: 1\nsources: !!python/object/apply:os.system ['echo hi']\n")
    assert problems == ["x.yaml:2: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed in rule files"]


def test_binary_and_bad_utf8_files(tmp_path):
    assert problems_for(tmp_path, b"schema_version: 1\n\x00\x01") == ["x.yaml:2: binary content (NUL byte); rule files must be UTF-8 text"]
    assert problems_for(tmp_path, b"schema_version: 1\nx: \xff\n") == ["x.yaml:2: not valid UTF-8 (byte 0xff)"]


def test_broken_yaml_syntax(tmp_path):
    assert problems_for(tmp_path, "schema_version: 1\nsources: [\n") == ["x.yaml:3: invalid YAML: did not find expected node content"]


def test_missing_schema_version(tmp_path):
    assert "x.yaml:1: missing 'schema_version: 1' at the top of the file" in problems_for(tmp_path, MINIMAL.replace("schema_version: 1\n", ""))


def test_name_claimed_by_two_drugs(tmp_path):
    text = MINIMAL + '  - id: "drug-b"\n    name: "drug b"\n    brands: ["Drug-A"]\n    classes: {"cns-depressant": "src"}\n'
    assert problems_for(tmp_path, text) == ["x.yaml:16: drug 'drug-b': name 'Drug-A' is already claimed by drug 'drug-a' (x.yaml:11)"]


def test_cycle_among_class_parents(tmp_path):
    text = MINIMAL.replace(
        '  - id: "cns-depressant"\n    name: "CNS depressant"\n',
        '  - id: "cns-depressant"\n    name: "CNS depressant"\n    parents: {"b": "src"}\n  - id: "b"\n    name: "b"\n    parents: {"cns-depressant": "src"}\n',
    )
    assert problems_for(tmp_path, text) == ["x.yaml:10: class 'cns-depressant': cycle among class parents: b -> cns-depressant -> b"]


def test_dangling_rule_side_and_weak_major_rule(tmp_path):
    text = MINIMAL.replace('confidence: "verified"', 'confidence: "background"') + '''rules:
  - id: "r1"
    kind: "pair"
    between: ["cns-depressant", "opioid"]
    severity: "major"
    effect: "cns-depression"
    title: "t"
    message: "m"
    mechanism: "m"
    management: "m"
    references: ["src"]
'''
    assert problems_for(tmp_path, text) == [
        "x.yaml:17: rule 'r1': unknown class or drug 'opioid'",
        "x.yaml:24: rule 'r1': a major rule needs at least one verified or secondary source",
    ]


def test_broken_copy_of_shipped_rules_reports_file_and_line(rules_copy):
    path = rules_copy / "rules.yaml"
    text = path.read_text().replace('severity: "contraindicated"', 'severty: "contraindicated"', 1)
    path.write_text(text)
    with pytest.raises(RulesError) as exc:
        read_rules(rules_copy)
    messages = [f"{p.path.rsplit('/', 1)[-1]}:{p.line}: {p.message}" for p in exc.value.problems]
    assert "rules.yaml:11: rule 'oxybate-alcohol': unknown key 'severty' (did you mean 'severity'?)" in messages
    assert "rules.yaml:8: rule 'oxybate-alcohol': missing required key 'severity'" in messages
