"""Shared fixtures: the built-in rules compiled once, and a CLI runner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from interactions import check as check_api
from interactions.cli import cli
from interactions.index import load_index
from interactions.ruledir import builtin_rules_dir

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def index():
    """The built-in rules, compiled (or loaded prebuilt) once per test session."""
    return load_index()


@pytest.fixture(scope="session")
def run_check(index):
    """Check a list of strings against the built-in rules."""

    def run(*meds, **kwargs):
        return check_api(list(meds), rules=index, **kwargs)

    return run


@pytest.fixture()
def rules_copy(tmp_path):
    """A writable copy of the built-in rules folder."""
    target = tmp_path / "rules"
    shutil.copytree(builtin_rules_dir(), target)
    return target


class Result:
    """What a CLI run produced."""

    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture()
def cli_run(tmp_path, monkeypatch):
    """Run the CLI in-process with a private cache folder; returns a Result."""
    monkeypatch.setenv("INTERACTIONS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("INTERACTIONS_RULES", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    runner = CliRunner()

    def run(*args, input=None, env=None):
        return Result(runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=True))

    return run
