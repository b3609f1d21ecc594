"""Load the compiled rule index: shipped prebuilt, cached per rules digest, or compiled on demand."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from . import __version__
from .names import NameTable, resolve
from .ruledir import builtin_rules_dir, digest_files

INDEX_FORMAT = 1
MEMO_LIMIT = 100_000
PREBUILT = Path(__file__).resolve().parent / "_compiled" / "builtin-index.json"


class Index:
    """The compiled rules, ready for checking: plain dicts plus the name table."""

    def __init__(self, data: dict):
        self.data = data
        self.digest: str = data["digest"]
        self.sources: dict = data["sources"]
        self.classes: dict = data["classes"]
        self.drugs: dict = data["drugs"]
        self.products: dict = data["products"]
        self.rules: dict = data["rules"]
        self.table = NameTable(data["names"], data["products"], data["codes"], data["lookalikes"], data["max_words"])
        # Rules of the pairwise kinds, per drug: {rule_id: ((side, distance, path), ...)}.
        pairwise = {rid for rid, r in self.rules.items() if r["kind"] in ("pair", "additive")}
        self.pair_rules = {
            did: {rid: tuple((e[0], e[1], tuple(e[2])) for e in entries) for rid, entries in d["rules"].items() if rid in pairwise}
            for did, d in self.drugs.items()
        }
        self.other_rules = {rid: r for rid, r in self.rules.items() if rid not in pairwise}
        # For rules about one subject (burden, renal, dose, stopping): drug -> {rule id: path to the subject}.
        self.subject_hits: dict = {}
        for did, d in self.drugs.items():
            hits = {}
            for rid, entries in d["rules"].items():
                if rid in pairwise:
                    continue
                target = self.rules[rid]["sides"][0]["of"]
                for _, _, path in entries:
                    if path[-1] == target:
                        hits[rid] = tuple(path)
                        break
            if hits:
                self.subject_hits[did] = hits
        self.display = {f"drug:{d}": e["name"] for d, e in self.drugs.items()}
        self.display.update({f"class:{c}": e["name"] for c, e in self.classes.items()})
        # Memo tables: results depend only on the index, so caching them is invisible to callers.
        self.resolved: dict = {}
        self.pair_outcomes: dict = {}
        self.ref_cache: dict = {}
        self.rendered: dict = {}
        self.involved_cache: dict = {}
        self.report_cache: dict = {}

    def resolve(self, text: str):
        """Resolve a medication string, memoised (lists repeat the same strings)."""
        hit = self.resolved.get(text)
        if hit is None:
            if len(self.resolved) >= MEMO_LIMIT:
                self.resolved.clear()
            hit = self.resolved[text] = resolve(self.table, text)
        return hit

    def name_of(self, key: str) -> str:
        """Return the display name of a graph key such as 'class:opioid'."""
        name = self.display.get(key)
        if name is None:
            name = self.rules[key.split(":", 1)[1]]["title"]
        return name


def cache_path(cache_dir: str | os.PathLike, digest: str) -> Path:
    """Return where the compiled index of a rule set with this digest is cached."""
    return Path(cache_dir) / f"index-{__version__}-{digest[:40]}.json"


def _valid(data: object, digest: str) -> bool:
    return (
        isinstance(data, dict)
        and data.get("format") == INDEX_FORMAT
        and data.get("digest") == digest
        and data.get("version") == __version__
    )


def compile_rules(rules_dir: str | os.PathLike | None = None) -> dict:
    """Load, validate and compile a rule folder into index data (imports yaml and networkx)."""
    from .graph import compile_index
    from .loader import read_rules

    data = compile_index(read_rules(rules_dir))
    data["version"] = __version__
    return data


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON next to `path` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".index-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_index(rules_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None) -> Index:
    """Return the index for a rule folder (default: the built-in rules), never a stale one.

    A compiled index is used only when its digest matches the rule files on disk
    and it was compiled by this version. Otherwise the rules are compiled now
    and, if `cache_dir` is given, cached there.
    """
    root = Path(rules_dir) if rules_dir is not None else builtin_rules_dir()
    digest = digest_files(root) if root.is_dir() else ""
    candidates = []
    if rules_dir is None or root.resolve() == builtin_rules_dir().resolve():
        candidates.append(PREBUILT)
    if cache_dir is not None and digest:
        candidates.append(cache_path(cache_dir, digest))
    for path in candidates:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if _valid(data, digest):
            return Index(data)
    data = compile_rules(rules_dir)
    if cache_dir is not None:
        try:
            write_json_atomic(cache_path(cache_dir, data["digest"]), data)
        except OSError:
            pass  # A read-only cache only costs speed.
    return Index(data)
