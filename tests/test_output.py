"""Say what was checked, incomplete before all-clear, text read at a glance, plain failures (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

NOT_CHECKED = ("Not checked: bleeding, serotonin syndrome, QT prolongation, CYP450 and other pharmacokinetic interactions, "
               "hyperkalaemia, other interactions outside CNS depression, allergies, disease-drug interactions.")


def run(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "interactions", *args], capture_output=True, env={**os.environ, **(env or {})}, **kwargs)


@pytest.mark.parametrize("meds", [["warfarin", "ibuprofen"], ["sertraline", "tramadol"]])
def test_an_all_clear_says_what_was_not_checked(cli_run, meds):
    result = cli_run("check", *meds, "--no-color")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert lines[0] == "interactions 0.1.0: check complete: 2 medication(s) read"
    assert lines[2:4] == ["No CNS-depressant interactions found.", NOT_CHECKED]
    assert "No interaction findings" not in result.stdout


def test_brief_is_the_status_the_summary_and_the_scope(cli_run):
    result = cli_run("check", "oxycodone 5 mg q4h prn", "Ativan", "baclofen 10 mg tid", "xyzzyq", "--brief", "--no-color")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        'interactions 0.1.0: INCOMPLETE CHECK: 1 of 4 medication(s) not fully recognised: "xyzzyq"',
        "",
        "MAJOR: Opioid with a benzodiazepine (lorazepam, oxycodone). Findings: 2 major, 2 moderate.",
        "First: Avoid the combination. If no alternative is adequate, use the lowest doses for the shortest time, monitor sedation and breathing, "
        "and consider naloxone.",
        "Not assessed: Baclofen with reduced kidney function: eGFR not given; baclofen is major when eGFR < 60",
        # --brief has nothing below the summary: every missing piece of context is listed here.
        "Not assessed: Three or more CNS-active drugs: age not given: would be major when age >= 65",
        "",
        "Not recognised, so not checked:",
        '  "xyzzyq" (argument 4): not recognised',
        "",
        "Checked: CNS-depressant interactions only. " + NOT_CHECKED,
        "Decision support only: it does not replace the judgement of a pharmacist or prescriber.",
    ]


def test_findings_read_as_sentences_with_readable_sources(cli_run):
    out = cli_run("check", "oxycodone", "lorazepam", "--no-color").stdout
    assert "  Why:     oxycodone (opioid) taken with lorazepam (benzodiazepine)\n" in out
    assert "  Sources: FDA safety communication 2016-08-31; Beers 2023 Table 5; ANSM thesaurus 2019 (opioids)\n" in out
    assert "→" not in out  # the rule-graph path is for --explain and JSON
    explained = cli_run("check", "oxycodone", "lorazepam", "--no-color", "--explain").stdout
    assert "  Path:    oxycodone → opioid + benzodiazepine ← lorazepam\n" in explained
    assert "  Rule:    opioid-benzodiazepine\n" in explained


def test_the_baclofen_label_is_cited_only_where_baclofen_is_involved(cli_run):
    data = cli_run("check", "lorazepam", "zolpidem", "--format", "json").json()
    (finding,) = data["findings"]
    assert finding["id"] == "additive-cns-depression" and "baclofen-pi-7-1" not in finding["references"]
    data = cli_run("check", "lorazepam", "baclofen", "--format", "json").json()
    assert "baclofen-pi-7-1" in data["findings"][0]["references"]


def test_the_route_is_on_every_baclofen_finding(cli_run):
    out = cli_run("check", "baclofen", "lorazepam", "--egfr", "40", "--no-color").stdout
    drug_lines = [line for line in out.splitlines() if line.startswith("  Drugs:") and "baclofen" in line]
    assert drug_lines and all('baclofen ("baclofen"; oral assumed)' in line for line in drug_lines)


def test_intrathecal_baclofen_advice_never_says_stop(cli_run):
    data = cli_run("check", "Gablofen 400 mcg/day", "--egfr", "40", "--format", "json").json()
    (renal,) = [f for f in data["findings"] if f["id"] == "baclofen-renal-impairment"]
    assert renal["management"].startswith("Never stop or interrupt intrathecal baclofen abruptly. Ask the pump team")
    assert "Avoid" not in renal["management"]


def test_intrathecal_baclofen_stopped_starts_with_the_emergency(cli_run, tmp_path):
    previous = tmp_path / "before.txt"
    previous.write_text("Gablofen 400 mcg/day\n")
    data = cli_run("check", "lisinopril", "--previous", str(previous), "--format", "json").json()
    (stopped,) = data["findings"]
    assert stopped["severity"] == "contraindicated"
    assert stopped["management"].startswith("Emergency if intrathecal delivery has stopped: restore it urgently")
    assert "taper" not in stopped["management"].lower()


def test_a_folded_related_rule_keeps_its_own_risk_and_action(cli_run):
    out = cli_run("check", "baclofen 400 mcg/day intrathecal", "morphine 1 mg epidural", "--no-color").stdout
    assert ("  Also:    MODERATE Intrathecal baclofen with epidural or intrathecal morphine (baclofen, morphine): Hypotension and shortness of "
            "breath have been reported") in out
    assert "Action: Monitor blood pressure and breathing closely during and after neuraxial morphine." in out


def test_counts_go_most_severe_first(index):
    from interactions import check

    report = check(["baclofen 10 mg tid", "lisinopril", "oxycodone", "Xyrem", "alcohol"], rules=index)
    assert list(report.counts()) == ["contraindicated", "major", "moderate", "minor"]


def test_help_shows_examples_exit_codes_and_scope(cli_run):
    for command in ([], ["check"], ["batch"], ["screen"], ["serve"], ["explain"], ["drugs"], ["rules", "validate"]):
        out = cli_run(*command, "--help").stdout
        assert "Examples:" in out and "Exit codes:" in out and "What is checked:" in out, command
        assert "Not checked: bleeding, serotonin syndrome" in " ".join(out.split()), command


def test_drugs_classes_lists_the_classes(cli_run):
    result = cli_run("drugs", "--classes")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[-1] == "70 class(es)"
    assert any(line.startswith("benzodiazepine ") and "under cns-active, sedative-hypnotic" in line for line in lines)
    data = cli_run("drugs", "--classes", "--format", "json").json()
    assert data["count"] == 70 and {"id", "name", "parents", "drugs"} == set(data["classes"][0])


def test_serve_without_the_extra_says_how_to_install_it_from_a_checkout(cli_run, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_starlette(name, *args, **kwargs):
        if name.startswith("starlette"):
            raise ImportError("No module named 'starlette'", name="starlette")
        return real_import(name, *args, **kwargs)

    monkeypatch.setitem(sys.modules, "interactions.server", None)
    monkeypatch.setattr(builtins, "__import__", no_starlette)
    result = cli_run("serve")
    assert result.exit_code == 2
    assert "pip install '.[server]'" in result.stderr


def test_batch_summary_says_what_was_checked(cli_run, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "medications": ["warfarin", "ibuprofen"]}\n')
    result = cli_run("batch", str(path))
    assert result.stderr.splitlines()[-1] == "interactions batch: checked CNS-depressant interactions only; " + NOT_CHECKED.replace("Not checked", "not checked")[:-1]


def test_cds_hooks_discovery_says_what_is_not_checked(index):
    from interactions.cdshooks import discovery

    for service in discovery(index.scope)["services"]:
        assert service["description"].endswith("Checks CNS-depressant interactions only; does not check bleeding, serotonin syndrome, QT "
                                               "prolongation, CYP450 and other pharmacokinetic interactions, hyperkalaemia, other interactions "
                                               "outside CNS depression, allergies, disease-drug interactions.")


# --- plain failures on the output side -----------------------------------------------------------

def test_a_closed_pipe_stops_quietly(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"id": i, "medications": ["baclofen 10 mg tid", "lorazepam", "oxycodone"]}) + "\n" for i in range(3000)))
    for workers in ("1", "2"):
        proc = subprocess.Popen([sys.executable, "-m", "interactions", "batch", str(path), "--workers", workers],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.close()  # what `| head -1` does
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141, err
        assert "Traceback" not in err and "Exception ignored" not in err, err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args, message", [
    (["check", "baclofen", "lorazepam"], "interactions: cannot write the report: No space left on device"),
])
def test_a_full_disk_is_one_line_and_exit_2(args, message):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "interactions", *args], stdout=full, stderr=subprocess.PIPE)
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [message]


def test_a_legacy_console_encoding_falls_back_to_ascii():
    result = run("check", "oxycodone", "lorazepam", "--explain", env={"PYTHONIOENCODING": "cp1252"})
    assert result.returncode == 1, result.stderr
    assert b"Path:    oxycodone -> opioid + benzodiazepine <- lorazepam" in result.stdout
    assert result.stderr == b""


def test_a_list_with_nothing_recognised_never_reads_as_none_found(cli_run):
    result = cli_run("check", "hydroxyzne", "lorazepm 1 mg", "--no-color")
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert lines[2] == "Nothing was checked: no medication on the list was recognised."
    assert not any(line.startswith("No CNS-depressant interactions found") for line in lines)


def test_a_drug_is_named_once_in_why_and_other_drugs_routes_do_not_split_the_advice(cli_run):
    out = cli_run("check", "oxycodone", "Norco", "lorazepam", "--no-color").stdout
    assert "  Why:     hydrocodone and oxycodone (opioid) taken with lorazepam (benzodiazepine)\n" in out
    # Intrathecal baclofen with oral clonazepam: the intrathecal advice alone, no "Oral: ..." paragraph.
    pump = cli_run("check", "baclofen pump 400 mcg/day intrathecal", "clonazepam", "--no-color").stdout
    action = next(line for line in pump.splitlines() if line.startswith("  Action:"))
    assert not action.startswith("  Action:  Oral:") and "Never stop or reduce intrathecal baclofen abruptly" in action
    # The same drug on two routes still gets both.
    both = cli_run("check", "baclofen pump 400 mcg/day intrathecal", "baclofen 10 mg po tid", "oxycodone", "--no-color").stdout
    assert "  Action:  Oral: Combine only when alternatives are inadequate" in both and " Intrathecal: Combine only" in both


def test_read_as_names_drugs_as_people_write_them(cli_run):
    out = cli_run("check", "Alcohol prep pads", "alcohol", "Tylenol PM", "--no-color").stdout
    assert '  "Alcohol prep pads" -> isopropyl alcohol\n' in out and '  "alcohol" -> alcohol\n' in out
    data = cli_run("check", "alcohol", "--format", "json").json()
    assert (data["medications"][0]["drugs"], data["medications"][0]["names"]) == (["ethanol"], ["alcohol"])
