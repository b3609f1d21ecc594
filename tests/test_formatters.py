"""Golden files for the JSON contract and the text output; set UPDATE_GOLDEN=1 to rewrite them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from interactions import __version__

GOLDEN = Path(__file__).resolve().parent / "golden"


def normalise(text: str) -> str:
    """Replace values that change with every rules edit or release."""
    text = re.sub(r'"digest": "[0-9a-f]{64}"', '"digest": "<rules digest>"', text)
    return text.replace(__version__, "<version>")


def compare(name: str, actual: str) -> None:
    path = GOLDEN / name
    actual = normalise(actual)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt, golden", [("json", "rich.json"), ("text", "rich.txt")])
def test_rich_case_golden(cli_run, fmt, golden):
    result = cli_run("check", "--input", str(GOLDEN / "rich-input.json"), "--format", fmt)
    assert result.exit_code == 1
    compare(golden, result.stdout)


def test_simple_pair_golden(cli_run):
    result = cli_run("check", "Lioresal 10 mg", "Ativan", "--format", "json")
    compare("lioresal-ativan.json", result.stdout)


def test_json_contract_fields(cli_run):
    data = cli_run("check", "--input", str(GOLDEN / "rich-input.json"), "--format", "json").json()
    assert data["schema_version"] == "1"
    assert set(data) == {"schema_version", "tool", "rules", "disclaimer", "patient", "medications", "previous_medications", "findings", "context_needed", "references", "skipped", "notes", "summary", "scope"}
    assert data["scope"]["name"] == "CNS-depressant interactions"
    assert {"bleeding", "serotonin syndrome", "QT prolongation", "allergies", "disease-drug interactions"} <= set(data["scope"]["not_checked"])
    assert data["scope"]["checked"]
    assert [m["input"] for m in data["medications"]][:2] == ["Baclof 10 mg tablet TID", "OxyCODONE (Immediate Release) 5 mg PO Q4H PRN"]
    for finding in data["findings"]:
        assert {"id", "severity", "effect", "drugs", "inputs", "message", "mechanism", "management", "paths", "references"} <= set(finding)
        assert finding["references"] and all(data["references"][r]["citation"] and data["references"][r]["short"] for r in finding["references"])
        assert finding["why"]
        for involved in finding["involved"]:
            if involved["drug"] == "baclofen":
                assert involved["route"] in ("oral", "intrathecal")
    summary = data["summary"]
    assert summary["complete"] is False
    assert summary["highest_severity"] == "major"
    assert summary["counts"] == {s: sum(1 for f in data["findings"] if f["severity"] == s) for s in ("minor", "moderate", "major", "contraindicated")}
    assert summary["sedative_load"]["value"] is not None


def test_json_is_deterministic(tmp_path):
    """Two processes with different hash seeds (set and dict order) write the same bytes."""
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "INTERACTIONS_CACHE_DIR": str(tmp_path / seed)}
        result = subprocess.run([sys.executable, "-m", "interactions", "check", "--input", str(GOLDEN / "rich-input.json"), "--format", "json",
                                 "--as-of", "2026-01-01"], capture_output=True, env=env)
        assert result.returncode in (1, 3), result.stderr
        outputs.append(result.stdout.decode())
    first, second = outputs
    assert first == second
    assert json.dumps(json.loads(first), indent=2, sort_keys=True, ensure_ascii=False) + "\n" == first
