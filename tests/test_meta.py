"""Meta-tests: the shipped rules, the prebuilt index, the README and CI stay true."""

from __future__ import annotations

import json
import re
from pathlib import Path

from interactions import __version__
from interactions.index import PREBUILT, compile_rules

ROOT = Path(__file__).resolve().parent.parent


def test_prebuilt_index_is_fresh():
    """The index shipped in the wheel equals a fresh compile of the shipped rules."""
    shipped = json.loads(Path(PREBUILT).read_text(encoding="utf-8"))
    fresh = json.loads(json.dumps(compile_rules(), sort_keys=True))
    assert shipped["digest"] == fresh["digest"], "run: interactions rules compile --output interactions/_compiled/builtin-index.json"
    assert shipped == fresh


def test_every_membership_cites_a_source():
    data = compile_rules()
    for drug, entry in data["drugs"].items():
        assert entry["classes"], drug
        assert all(sources for sources in entry["classes"].values()), drug
    for cls, entry in data["classes"].items():
        assert all(sources for sources in entry["parents"].values()), cls


def test_knowledge_base_size():
    data = compile_rules()
    assert len(data["drugs"]) >= 450


def _readme_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, re.S).group(1).strip().splitlines()
    return block


def test_readme_top_has_the_two_setup_commands():
    install, test = _readme_commands()[:2]
    assert install.startswith("pip install . && interactions check ")
    assert test == "pip install '.[test]' && pytest"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _readme_commands()[1] in ci.splitlines()


def test_version_is_consistent():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{__version__}"' in pyproject
