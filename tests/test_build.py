"""The optional compiled build: it gives the same bytes as the source, and a failed compile still installs."""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import interactions

ROOT = Path(__file__).resolve().parent.parent
IMPORTED = Path(interactions.__file__).resolve().parent

# Run in a fresh interpreter under each tree: batch JSONL (parse, check, compact encoding) over varied
# records, then the text and JSON formats of a few lists, all to stdout.
WORKLOAD = r"""
import io, json, random, sys
from interactions import build, check
from interactions.batch import Tally, iter_records, open_input, write_batch
from interactions import formatters
from interactions.formatters import format_json, format_text
sys.path.insert(0, sys.argv[1])
import data

rng = random.Random(3)
vocab = [v for v, _ in data.VOCABULARY] + ["baclofn", "Gablofen", "Tylenol PM", "intrathecal baclofen 100 mcg/day",
                                           "baclofen 25 mg QID", "Xanax", "rxcui:1049621", "hydralazine", "???"]
lines = []
for i in range(1200):
    record = {"id": f"r{i}", "medications": rng.sample(vocab, rng.randint(1, 12))}
    if i % 3 == 0:
        record["patient"] = {"age": rng.choice([30, 70, 90]), "egfr": rng.choice([None, 20, 45, 100])}
    if i % 7 == 0:
        record["previous_medications"] = rng.sample(vocab, rng.randint(1, 3))
    lines.append(json.dumps(record))
lines[5] = "{not json"
lines[9] = json.dumps({"id": "bad", "medications": "baclofen"})
text = ("\n".join(lines) + "\n").encode()
for limits in ((), (7, 2)):
    if limits:  # again, with the encoder's caches cleared every few entries
        formatters._FRAGMENT_LIMIT, formatters._REFERENCE_SET_LIMIT = limits
    out = io.BytesIO()
    write_batch(iter_records(*open_input(io.BytesIO(text), "<parity>.jsonl")), out, Tally("minor"))
    sys.stdout.buffer.write(out.getvalue())
for i in range(40):
    report = check(rng.sample(vocab, rng.randint(1, 10)), patient={"age": 80, "egfr": 25}, previous=rng.sample(vocab, 2))
    sys.stdout.write(format_text(report, color=i % 2 == 0))
    sys.stdout.write(format_json(report))
sys.stderr.write(build())
"""


def _run(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-c", WORKLOAD, str(ROOT / "benchmarks")], env=env, cwd=str(ROOT / "tests"),
                          capture_output=True, check=True)


@pytest.mark.skipif(IMPORTED == ROOT / "interactions", reason="the tests import the source tree itself: nothing else to compare")
def test_the_installed_build_gives_the_same_bytes_as_the_source():
    """CI tests the installed package (compiled where a C compiler exists); this holds it to the source."""
    installed = _run(IMPORTED.parent)
    source = _run(ROOT)
    assert source.stderr.decode() == "pure Python"
    assert installed.stderr.decode() == interactions.build()
    assert installed.stdout.count(b"\n") > 2400
    assert installed.stdout.count(b'"error"') == 4  # the two bad records, in both passes
    assert installed.stdout == source.stdout


def test_build_says_pure_python_for_the_source_tree():
    if list((ROOT / "interactions").glob("*.so")):
        pytest.skip("this checkout holds compiled modules (an in-place build)")
    result = subprocess.run([sys.executable, "-c", "import interactions; print(interactions.build())"],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=str(ROOT / "tests"), capture_output=True, text=True, check=True)
    assert result.stdout == "pure Python\n"


def test_build_names_the_modules_of_a_partly_compiled_install(tmp_path):
    """A module whose compile failed stays .py; build() must not call that install compiled."""
    from importlib.machinery import EXTENSION_SUFFIXES

    package = tmp_path / "interactions"
    shutil.copytree(ROOT / "interactions", package, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (package / f"batch{EXTENSION_SUFFIXES[0]}").write_bytes(b"")  # only looked up, never loaded
    result = subprocess.run([sys.executable, "-c", "import interactions; print(interactions.build())"],
                            env={**os.environ, "PYTHONPATH": str(tmp_path)}, cwd=str(tmp_path), capture_output=True, text=True, check=True)
    assert result.stdout == "partly compiled (batch)\n"


def test_setup_compiles_the_modules_build_looks_at():
    setup = runpy.run_path(str(ROOT / "setup.py"), run_name="interactions_setup")
    assert setup["HOT_MODULES"] == [f"interactions/{name}.py" for name in interactions._HOT_MODULES]


@pytest.mark.skipif(not os.environ.get("INTERACTIONS_EXPECT_BUILD"), reason="set by .ci/run where a C compiler and Python.h exist")
def test_ci_tests_the_build_it_expects():
    assert interactions.build() == os.environ["INTERACTIONS_EXPECT_BUILD"]


def test_a_failed_compile_still_builds_the_pure_python_modules(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "out", ".ci-venv", ".venv", "__pycache__", ".pytest_cache", "tests", "docs", "*.so"))
    env = {**os.environ, "CC": "false", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=source, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("interactions build: ")]
    assert said, result.stderr
    if "Cython is not available" not in said[0]:
        # Cython ran, the C compiler did not: each hot module says it stays pure Python.
        assert sorted(line.split()[2] for line in said) == ["interactions.batch", "interactions.engine", "interactions.formatters", "interactions.inputs"]
        assert all(line.endswith("it stays pure Python") for line in said)
    assert not list((source / "interactions").glob("*.so"))
    check = subprocess.run([sys.executable, "-m", "interactions", "check", "baclofen", "alcohol", "--format", "json"],
                           cwd=source, env=env, capture_output=True, text=True)
    assert check.returncode == 1 and '"severity":"major"' in check.stdout.replace(" ", ""), check.stderr


def test_version_says_whether_the_engine_is_compiled(cli_run):
    result = cli_run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"interactions, version {interactions.__version__} ({interactions.build()})\n"


def test_an_extension_that_fails_to_compile_is_reported_and_skipped(tmp_path, capsys):
    """The compile-failure branch of setup.py, without needing Cython: a C file that is not C."""
    pytest.importorskip("setuptools")
    from setuptools import Distribution, Extension

    build = runpy.run_path(str(ROOT / "setup.py"), run_name="interactions_setup")
    bad = tmp_path / "engine.c"
    bad.write_text("this is not C\n")
    command = build["OptionalBuildExt"](Distribution({"name": "x", "ext_modules": [Extension("interactions.engine", [str(bad)])]}))
    command.build_lib, command.build_temp = str(tmp_path / "lib"), str(tmp_path / "tmp")
    command.ensure_finalized()
    command.run()  # must not raise
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("interactions build: ")]
    assert len(said) == 1, said
    # With a C compiler the module fails alone; without one the whole step is skipped.
    assert said[0].startswith(("interactions build: interactions.engine not compiled (", "interactions build: no C extension built (")), said
    assert said[0].endswith(("it stays pure Python", "installing the pure-Python modules")), said
    assert not list(tmp_path.rglob("*.so"))
