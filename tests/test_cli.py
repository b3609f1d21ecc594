"""The command line: exit codes, formats, bad input, and the issue's acceptance table."""

from __future__ import annotations

import json

import pytest

from interactions.cli import cli


def test_baclofen_alcohol_is_major_and_exits_1(cli_run):
    result = cli_run("check", "baclofen", "alcohol", "--format", "json")
    assert result.exit_code == 1
    findings = result.json()["findings"]
    assert [(f["id"], f["severity"], f["effect"]) for f in findings] == [("alcohol-cns-depressant", "major", "cns-depression")]


def test_lioresal_with_ativan_gives_one_finding_with_a_class_path(cli_run):
    result = cli_run("check", "Lioresal 10 mg", "Ativan", "--format", "json")
    findings = result.json()["findings"]
    assert len(findings) == 1
    assert findings[0]["drugs"] == ["baclofen", "lorazepam"]
    assert findings[0]["inputs"] == ["Lioresal 10 mg", "Ativan"]
    assert findings[0]["paths"] == [
        "baclofen → centrally acting muscle relaxant → CNS depressant ← sedative-hypnotic ← benzodiazepine ← lorazepam"
    ]


def test_baclofen_sertraline_has_no_cns_depression_finding(cli_run):
    result = cli_run("check", "baclofen", "sertraline", "--format", "json")
    assert result.exit_code == 0
    assert [f for f in result.json()["findings"] if f["effect"] == "cns-depression"] == []
    assert result.json()["summary"]["complete"] is True


def test_misspelling_is_unresolved_with_a_suggestion_and_exit_3(cli_run):
    result = cli_run("check", "baclofen", "baclofn", "--format", "json")
    assert result.exit_code == 3
    meds = result.json()["medications"]
    assert meds[1]["status"] == "unresolved"
    assert meds[1]["drugs"] == []
    assert [s["name"] for s in meds[1]["suggestions"]] == ["baclofen"]
    assert result.json()["summary"]["complete"] is False


def test_unresolved_name_is_prominent_in_text(cli_run):
    result = cli_run("check", "baclofen", "baclofn", "--no-color")
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    # The first line says the check is incomplete; the names come before any finding or all-clear.
    assert lines[0] == 'interactions 0.1.0: INCOMPLETE CHECK: 1 of 2 medication(s) not fully recognised: "baclofn"'
    assert lines[2] == "No CNS-depressant interactions found among the names recognised."
    assert lines[3].startswith("Not checked: bleeding, serotonin syndrome, QT prolongation")
    assert lines[5:8] == ["", "Not recognised, so not checked:", '  "baclofn" (argument 2): not recognised. Did you mean: baclofen? (not applied)'] or \
        '  "baclofn" (argument 2): not recognised. Did you mean: baclofen? (not applied)' in lines[4:9]


def test_finding_beats_incomplete_for_the_exit_code(cli_run):
    result = cli_run("check", "baclofen", "alcohol", "baclofn")
    assert result.exit_code == 1


def test_fail_on_threshold(cli_run):
    assert cli_run("check", "Lioresal", "Ativan", "--fail-on", "major").exit_code == 0
    assert cli_run("check", "Lioresal", "Ativan", "--fail-on", "moderate").exit_code == 1


def test_broken_rules_copy_exits_2_with_file_line_messages(cli_run, rules_copy):
    path = rules_copy / "rules.yaml"
    path.write_text(path.read_text().replace('kind: "pair"', 'knd: "pair"', 1))
    result = cli_run("rules", "validate", "--rules", str(rules_copy))
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert f"{rules_copy}/rules.yaml:9: rule 'oxybate-alcohol': unknown key 'knd' (did you mean 'kind'?)" in lines
    assert all(line.startswith(str(rules_copy)) and line.split(":")[1].isdigit() for line in lines)
    check = cli_run("check", "baclofen", "--rules", str(rules_copy))
    assert check.exit_code == 2
    assert "run 'interactions rules validate'" in check.stderr


def test_shipped_rules_validate(cli_run):
    result = cli_run("rules", "validate")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("ok: ")


def test_rules_env_variable_selects_a_rule_set(cli_run, rules_copy):
    path = rules_copy / "rules.yaml"
    path.write_text(path.read_text().replace('title: "Alcohol with a CNS depressant"', 'title: "Local alcohol policy"', 1))
    result = cli_run("check", "baclofen", "alcohol", "--format", "json", env={"INTERACTIONS_RULES": str(rules_copy)})
    assert result.json()["findings"][0]["title"] == "Local alcohol policy"
    assert cli_run("check", "baclofen", "alcohol", "--format", "json").json()["findings"][0]["title"] == "Alcohol with a CNS depressant"


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["check"], None, "interactions: no medications given (pass names as arguments or use --input FILE)"),
        (["check", "--input", "-"], "\n# only a comment\n", "interactions: no medications given (pass names as arguments or use --input FILE)"),
        (["check", "--input", "-"], '{"medications": [}', "interactions: <stdin>:1:18: invalid JSON: Expecting value"),
        (["check", "--input", "-"], '{"medication": ["x"]}', "interactions: <stdin>: unknown key 'medication' (did you mean 'medications'?)"),
        (["check", "--input", "-"], '{"medications": "baclofen"}', "interactions: <stdin>: 'medications' must be a list, got str"),
        (["check", "--input", "-"], '{"medications": [{"dose": "10 mg"}]}', "interactions: <stdin>: medications[0]: 'name' must be a non-empty string"),
        (["check", "--input", "-"], '{"medications": ["baclofen"], "patient": {"age": "old"}}', 'interactions: <stdin>: patient.age: expected a number, got "old"'),
        (["check", "--input", "-"], '{"medications": [{"name": "baclofen", "route": "ear-ish"}]}', 'interactions: <stdin>: medications[0]: unknown route "ear-ish" (use one of oral, sublingual, buccal, intrathecal, epidural, intravenous, intramuscular, subcutaneous, transdermal, topical, rectal, inhaled, nasal, ophthalmic, otic, vaginal)'),
        (["check", "--input", "-"], "baclofen\n" + "x" * 2000 + "\n", "interactions: <stdin>:2: 2000 characters, over the 1000-character limit for one medication"),
        (["check", "--input", "-"], "baclofen\n" * 501, "interactions: <stdin>:501: more than 500 medications in one list"),
        (["check", "baclofen", "--egfr", "nan"], None, "interactions: --egfr: must be a finite number, got nan"),
        (["check", "baclofen", "--age", "nan"], None, "interactions: --age: must be a finite number, got nan"),
        (["check", "--input", "-"], '{"medications": [{"name": "baclofen", "frequency": -4}]}', "interactions: <stdin>: medications[0]: 'frequency' -4 is not a number of doses per day between 0 and 48"),
        (["check", "--input", "-"], '{"medications": ["baclofen"], "patient": {"egfr": NaN}}', "interactions: <stdin>: patient.egfr: expected a number, got NaN"),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_2(cli_run, args, stdin, message):
    result = cli_run(*args, input=stdin)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == message
    assert result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_binary_input(cli_run, tmp_path):
    path = tmp_path / "meds.bin"
    path.write_bytes(b"baclofen\n\x00\x01\x02")
    result = cli_run("check", "--input", str(path))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"interactions: {path}:2: binary input (NUL byte); expected UTF-8 text or JSON"


def test_invalid_utf8_input(cli_run, tmp_path):
    path = tmp_path / "meds.txt"
    path.write_bytes(b"baclofen\nlor\xe9zepam\n")
    result = cli_run("check", "--input", str(path))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"interactions: {path}:2: not valid UTF-8 (byte 0xe9 at offset 12)"


def test_ten_megabyte_line(cli_run, tmp_path):
    path = tmp_path / "huge.txt"
    path.write_bytes(b"a" * (10 * 1024 * 1024) + b"\n")
    result = cli_run("check", "--input", str(path))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"interactions: {path}: input is larger than the 8388608 byte limit"


def test_missing_file(cli_run, tmp_path):
    result = cli_run("check", "--input", str(tmp_path / "nope.txt"))
    assert result.exit_code == 2
    assert "No such file or directory" in result.stderr


def test_text_input_file_with_comments(cli_run, tmp_path):
    path = tmp_path / "meds.txt"
    path.write_text("# current list\nbaclofen 10 mg TID  # for spasticity\n\nTylenol #3\n")
    result = cli_run("check", "--input", str(path), "--format", "json")
    meds = result.json()["medications"]
    assert [m["input"] for m in meds] == ["baclofen 10 mg TID", "Tylenol #3"]
    assert [m["ref"] for m in meds] == ["line 2", "line 4"]
    assert meds[1]["drugs"] == ["acetaminophen", "codeine"]


def test_json_input_with_patient_and_previous(cli_run):
    payload = {
        "medications": [{"name": "baclofen", "dose": "10 mg", "frequency": "TID"}],
        "patient": {"age": 72, "egfr": 45},
        "previous_medications": ["lorazepam 1 mg BID"],
    }
    result = cli_run("check", "--input", "-", "--format", "json", input=json.dumps(payload))
    data = result.json()
    assert data["patient"] == {"age": 72, "egfr": 45}
    ids = {f["id"]: f["severity"] for f in data["findings"]}
    assert ids["baclofen-renal-impairment"] == "major"
    assert ids["benzodiazepine-discontinuation"] == "major"
    assert data["medications"][0]["strengths"][0]["daily"] == {"value": 30, "min": 30, "max": 30, "unit": "mg"}
    assert data["medications"][0]["daily_dose"] == {"min": 30, "max": 30, "unit": "mg", "route": None}  # no route was given


def test_flags_override_json_patient(cli_run):
    payload = {"medications": ["baclofen"], "patient": {"egfr": 90}}
    result = cli_run("check", "--input", "-", "--egfr", "40", "--format", "json", input=json.dumps(payload))
    assert result.json()["patient"]["egfr"] == 40
    assert "baclofen-renal-impairment" in [f["id"] for f in result.json()["findings"]]


def test_previous_file(cli_run, tmp_path):
    previous = tmp_path / "before.txt"
    previous.write_text("Gablofen 2000 mcg/mL intrathecal pump\nsertraline\n")
    result = cli_run("check", "sertraline", "--previous", str(previous), "--format", "json")
    finding = result.json()["findings"][0]
    assert (finding["id"], finding["severity"]) == ("baclofen-discontinuation", "contraindicated")
    assert finding["involved"][0]["route"] == "intrathecal"


def test_unexpected_exception_exits_2_not_1(cli_run, monkeypatch):
    import interactions.engine as check_module

    def boom(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(check_module, "check", boom)
    result = cli_run("check", "baclofen", "alcohol")
    assert result.exit_code == 2
    assert result.stderr.strip() == "interactions: internal error: RuntimeError: boom"


def test_color_only_when_asked_or_on_a_terminal(cli_run):
    plain = cli_run("check", "baclofen", "alcohol")
    assert "\033[" not in plain.stdout
    forced = cli_run("check", "baclofen", "alcohol", "--color")
    assert "\033[1;31mMAJOR\033[0m" in forced.stdout


def test_disclaimer_once(cli_run):
    text = cli_run("check", "baclofen", "alcohol").stdout
    assert text.count("does not replace the judgement") == 1
    data = cli_run("check", "baclofen", "alcohol", "--format", "json").json()
    assert data["disclaimer"].count("does not replace") == 1


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_output_format_is_reachable_from_the_cli(cli_run, fmt):
    from interactions.formatters import FORMATTERS

    assert fmt in FORMATTERS
    result = cli_run("check", "baclofen", "--format", fmt)
    assert result.exit_code == 0
    assert result.stdout


def test_explain_shows_paths_and_sources(cli_run):
    result = cli_run("explain", "Lioresal")
    assert result.exit_code == 0
    assert "baclofen  [baclofen]" in result.stdout
    assert "Class:    centrally acting muscle relaxant" in result.stdout
    assert "[major] Alcohol with a CNS depressant  via baclofen → centrally acting muscle relaxant → CNS depressant  (alcohol-cns-depressant)" in result.stdout
    assert "beers-2023-table-6: " in result.stdout


def test_explain_unknown_name(cli_run):
    result = cli_run("explain", "baclofn")
    assert result.exit_code == 3
    assert result.stdout == '"baclofn": not recognised.\nDid you mean: baclofen? (not applied)\n'


def test_drugs_by_class(cli_run):
    result = cli_run("drugs", "--class", "benzodiazepine", "--format", "json")
    ids = [d["id"] for d in result.json()["drugs"]]
    assert "lorazepam" in ids and "alprazolam" in ids
    assert "zolpidem" not in ids
    bad = cli_run("drugs", "--class", "benzodiazepines")
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "interactions: unknown class 'benzodiazepines' (did you mean 'benzodiazepine'?)"


def test_help_lists_every_command():
    from click.testing import CliRunner

    text = CliRunner().invoke(cli, ["--help"]).stdout
    for command in ("check", "rules", "explain", "drugs"):
        assert command in text


def test_escape_sequences_in_names_never_reach_an_uncoloured_terminal(cli_run):
    result = cli_run("check", "--no-color", "baclofen\x1b[2J", "alcohol")
    assert "\x1b" not in result.stdout
    assert 'baclofen ("baclofen"; oral assumed); alcohol ("alcohol"; oral assumed)' in result.stdout  # the sequence is gone, the name stays
    assert result.exit_code == 1


def test_an_unpaired_surrogate_in_json_input_is_a_clear_error(cli_run, tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"medications": ["baclofen", "\\ud83d"]}')
    result = cli_run("check", "--input", str(path))
    assert result.exit_code == 2
    assert result.stderr == (f"interactions: {path}: medications[1]: contains an unpaired UTF-16 surrogate "
                             "(e.g. a lone \\ud83d escape), not valid text\n")


def test_ctrl_c_prints_one_line_and_exits_130_not_1(cli_run, monkeypatch):
    def interrupt(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr("interactions.engine.check", interrupt)
    result = cli_run("check", "baclofen", "alcohol")
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "interactions: interrupted\n")


def test_ctrl_c_in_a_real_batch_process_exits_130_with_one_line():
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "interactions", "batch", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b'{"id": "a", "medications": ["baclofen", "alcohol"]}\n')
    proc.stdin.flush()
    time.sleep(1.5)  # the record is read; the batch now waits for more input
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert err.decode().strip().splitlines()[-1] == "interactions: interrupted"
    assert "Traceback" not in err.decode()
