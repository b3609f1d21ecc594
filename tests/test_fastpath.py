"""The plain `check` fast path (no click import) must behave exactly like the click command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from interactions import entry
from interactions.cli import cli

PREVIOUS = "baclofen 20 mg tid\nlorazepam 1 mg\n"
LIST = "baclofen 10 mg tid\nzolpidem 10 mg\nalcohol\n"

# Command lines the fast path takes; the click command must print and exit the same.
PLAIN = [
    ["check", "baclofen", "alcohol"],
    ["check", "Baclof 10 mg tablet", "Xanax", "Tylenol PM", "--format", "json"],
    ["check", "--format=json", "baclofen", "hydroxyzin"],
    ["check", "baclofen", "--fail-on", "major", "sertraline"],
    ["check", "baclofen", "--fail-on=contraindicated", "alcohol"],
    ["check", "baclofen 20 mg qid", "--age", "80", "--egfr", "25.5", "zolpidem", "alcohol"],
    ["check", "--no-color", "baclofen", "--color", "oxycodone"],
    ["check", "lisinopril", "--", "--not-an-option"],
    ["check", "lisinopril", ""],
    ["check"],
    ["check", "--age", "150", "baclofen"],
    ["check", "-i", "{list}"],
    ["check", "--input", "{list}", "--previous", "{previous}", "--format", "json"],
    ["check", "--input", "-", "--age", "70"],
    ["check", "--input", "{bad}"],
    ["check", "--no-color", "baclofen\x1b[2J", "alcohol"],
]

# Command lines left to click: help, other options, bad values, repeats, anything unusual.
CLICK = [
    ["check", "--help"],
    ["check", "-h"],
    ["check", "--format", "xml", "baclofen"],
    ["check", "--format"],
    ["check", "--age", "abc", "baclofen"],
    ["check", "--age", "151", "baclofen"],
    ["check", "--age", "1e2", "baclofen"],
    ["check", "--age", "-5", "baclofen"],
    ["check", "--egfr", "nan", "baclofen"],
    ["check", "--age", "70", "--age", "80", "baclofen"],
    ["check", "-i", "{list}", "--input", "{list}"],
    ["check", "--as-of", "2026-01-01", "baclofen"],
    ["check", "--rules", "rules", "baclofen"],
    ["check", "--color=yes", "baclofen"],
    ["check", "--fromat", "json", "baclofen"],
    ["check", "-x"],
    ["check", "-i={list}"],
    ["check", "-", "baclofen"],
    ["batch", "x.jsonl"],
    ["--version"],
    [],
]


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "list.txt").write_text(LIST)
    (tmp_path / "previous.txt").write_text(PREVIOUS)
    (tmp_path / "bad.json").write_text('{"medications": [1, 2]}')
    return {"list": tmp_path / "list.txt", "previous": tmp_path / "previous.txt", "bad": tmp_path / "bad.json", "missing": tmp_path / "nope.txt"}


def _argv(args, files):
    return [a.format(**{k: str(v) for k, v in files.items()}) for a in args]


def _via_fast_path(argv, monkeypatch, stdin=None):
    runner = CliRunner()
    with runner.isolation(input=stdin) as (out, err, _):
        monkeypatch.setattr(sys, "argv", ["interactions", *argv])
        with pytest.raises(SystemExit) as exc:
            entry.main(fast_exit=False)
        return exc.value.code, out.getvalue().decode(), err.getvalue().decode()


@pytest.mark.parametrize("args", PLAIN, ids=lambda a: " ".join(a))
def test_plain_command_lines_take_the_fast_path_and_match_click(args, files, monkeypatch, tmp_path):
    monkeypatch.setenv("INTERACTIONS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("INTERACTIONS_RULES", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    argv = _argv(args, files)
    assert entry.plain_check(argv) is not None
    stdin = LIST if "-" in argv else None
    fast = _via_fast_path(argv, monkeypatch, stdin)
    slow = CliRunner().invoke(cli, argv, input=stdin)
    assert fast == (slow.exit_code, slow.stdout, slow.stderr)
    assert fast[0] in (0, 1, 2, 3)


@pytest.mark.parametrize("args", CLICK, ids=lambda a: " ".join(a) or "(none)")
def test_everything_else_is_left_to_click(args, files):
    assert entry.plain_check(_argv(args, files)) is None


def test_unreadable_file_falls_back_to_click_and_its_message(files, monkeypatch):
    code, out, err = _via_fast_path(["check", "--input", str(files["missing"])], monkeypatch)
    assert code == 2 and out == ""
    assert "Invalid value for '--input' / '-i'" in err and "No such file or directory" in err


def test_rules_env_variable_is_left_to_click(monkeypatch, rules_copy, files):
    monkeypatch.setenv("INTERACTIONS_RULES", str(rules_copy / "missing"))
    code, out, err = _via_fast_path(["check", "baclofen"], monkeypatch)
    assert code == 2


def test_plain_check_does_not_import_click():
    code = "import sys\nfrom interactions.entry import main\nsys.argv = ['interactions', 'check', 'baclofen', 'alcohol']\ntry:\n    main(fast_exit=False)\nexcept SystemExit as e:\n    assert 'click' not in sys.modules, 'click imported'\n    print('exit', e.code)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.splitlines()[-1] == "exit 1", result.stderr


@pytest.mark.parametrize("args, code", [(["baclofen", "alcohol"], 1), (["sertraline"], 0), (["baclofn"], 3)])
def test_the_real_process_flushes_everything_and_exits_with_the_code(args, code):
    result = subprocess.run([sys.executable, "-m", "interactions", "check", "--format", "json", *args], capture_output=True)
    assert result.returncode == code, result.stderr
    assert json.loads(result.stdout)["schema_version"] == "1"


def test_ctrl_c_on_the_fast_path_exits_130_like_click(monkeypatch):
    def interrupt(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr("interactions.engine.check", interrupt)
    assert _via_fast_path(["check", "baclofen"], monkeypatch) == (130, "", "interactions: interrupted\n")
