"""Locate rule folders and digest their contents (no YAML parsing, so the hot path stays light)."""

from __future__ import annotations

import hashlib
from pathlib import Path

RULE_SUFFIXES = (".yaml", ".yml", ".tsv")


def builtin_rules_dir() -> Path:
    """Return the folder of the rules shipped with the package (wheel) or the checkout."""
    here = Path(__file__).resolve().parent
    shipped = here / "_rules"
    if shipped.is_dir():
        return shipped
    return here.parent / "rules"


def rule_files(root: Path) -> list[Path]:
    """List the rule files below `root` in a stable order."""
    files = [p for p in root.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def digest_files(root: Path, files: list[Path] | None = None) -> str:
    """Digest the rule files' relative paths and contents."""
    h = hashlib.sha256()
    for path in files if files is not None else rule_files(root):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
