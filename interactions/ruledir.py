"""Locate rule folders and digest their contents (no YAML or pathlib, so the hot path stays light)."""

from __future__ import annotations

import os

try:
    # The built-in BLAKE2 module avoids loading OpenSSL (hashlib) on every cold start.
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - non-CPython
    from hashlib import blake2b

RULE_SUFFIXES = (".yaml", ".yml", ".tsv")
# The layout of the compiled index (graph.compile_index writes it, index.load_index reads it).
INDEX_FORMAT = 3
_HERE = os.path.dirname(os.path.abspath(__file__))


def builtin_rules_dir() -> str:
    """Return the folder of the rules shipped with the package (wheel) or the checkout."""
    shipped = os.path.join(_HERE, "_rules")
    if os.path.isdir(shipped):
        return shipped
    return os.path.join(os.path.dirname(_HERE), "rules")


def rule_files(root) -> list:
    """List (relative posix path, full path) of the rule files below `root`, in a stable order."""
    root = os.fspath(root)
    out = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            if name.endswith(RULE_SUFFIXES):
                full = os.path.join(folder, name)
                if os.path.isfile(full):
                    out.append((os.path.relpath(full, root).replace(os.sep, "/"), full))
    return sorted(out)


def digest_files(root, files: list | None = None) -> str:
    """Digest the rule files' relative paths and contents."""
    h = blake2b(digest_size=32)
    for relative, full in files if files is not None else rule_files(root):
        h.update(relative.encode())
        h.update(b"\0")
        with open(full, "rb") as fh:
            h.update(fh.read())
        h.update(b"\0")
    return h.hexdigest()
