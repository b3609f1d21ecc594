"""The plain check stays light: with a valid compiled index it imports no YAML, graph, FHIR, batch or server code."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("yaml", "networkx", "starlette", "uvicorn", "jwt", "interactions.server", "interactions.fhir", "interactions.batch",
         "interactions.loader", "interactions.graph", "interactions.cdshooks", "multiprocessing", "click", "typing",
         "dataclasses", "difflib", "datetime", "interactions.dask", "dask", "distributed", "pandas", "numpy", "pyarrow",
         "fsspec", "orjson", "interactions.web", "jinja2")


def imported_modules(*args) -> set:
    """Modules imported by `python -m interactions ARGS` (or by `python ARGS` when ARGS starts with -c)."""
    command = list(args) if args[:1] == ("-c",) else ["-m", "interactions", *args]
    result = subprocess.run([sys.executable, "-X", "importtime", *command], capture_output=True, text=True)
    assert result.returncode in (0, 1, 3), result.stderr
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_check_imports_nothing_heavy():
    names = imported_modules("check", "Baclof 10 mg tablet", "Xanax", "alcohol", "--format", "json")
    assert "interactions.engine" in names
    # A site-packages .pth file may import some of these at interpreter start-up: that is not ours.
    names -= imported_modules("-c", "pass")
    loaded = sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))
    assert loaded == []


def test_fhir_input_imports_the_fhir_reader_only_when_needed(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"resourceType": "MedicationRequest", "id": "1", "status": "active", "medicationCodeableConcept": {"text": "baclofen"}}')
    names = imported_modules("check", "--input", str(path))
    assert "interactions.fhir" in names
    assert not any(n.startswith(("yaml", "networkx", "starlette")) for n in names)


def _package_imports() -> dict:
    """{module: {package modules it imports}}, counting imports inside functions too."""
    import ast
    from pathlib import Path

    import interactions

    root = Path(interactions.__file__).parent
    graph = {}
    for path in sorted(root.glob("*.py")):
        name = path.stem
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    # "from . import sig" imports a module; "from . import __version__" imports the package itself.
                    found.update(alias.name if (root / f"{alias.name}.py").exists() else "__init__" for alias in node.names)
        graph[name] = found - {name}
    return graph


def test_no_import_cycles_inside_the_package():
    import networkx as nx

    graph = nx.DiGraph([(a, b) for a, targets in _package_imports().items() for b in targets])
    assert sorted(sorted(c) for c in nx.simple_cycles(graph)) == []


def test_value_types_come_from_the_model_not_the_engine():
    graph = _package_imports()
    for module in ("inputs", "fhir", "formatters", "cdshooks", "batch"):
        assert "model" in graph[module], module
    assert graph["model"] == set()


def test_batch_does_not_import_dask(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "medications": ["baclofen", "alcohol"]}\n')
    names = imported_modules("batch", str(path), "--detail", "summary")
    assert "interactions.batch" in names
    assert not any(n.split(".")[0] in ("dask", "distributed", "pandas", "pyarrow") for n in names)
