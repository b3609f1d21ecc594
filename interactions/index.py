"""Load the compiled rule index: shipped prebuilt, cached per rules digest, or compiled on demand."""

from __future__ import annotations

import json
import os
from collections import namedtuple

from . import __version__
from .model import Reference
from .names import NameTable, resolve
from .ruledir import INDEX_FORMAT, builtin_rules_dir, digest_files

MEMO_LIMIT = 100_000
PREBUILT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_compiled", "builtin-index.json")


class _Lazy(dict):
    """A dict that computes a missing key once, from a function of the key."""

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, key):
        value = self[key] = self._make(key)
        return value

    def get(self, key, default=None):
        """Return the computed value; every key has one, so `default` is never used."""
        return self[key]


class RuleStatic(namedtuple("RuleStatic", "kind severity effect title message mechanism management reference_ids references")):
    """The parts of a rule every finding of it shares, with its references resolved."""

    __slots__ = ()


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
        # Per-drug tables are built on first use: a check touches a handful of drugs, not all.
        self.pairwise = frozenset(rid for rid, r in self.rules.items() if r["kind"] in ("pair", "additive"))
        self.other_rules = {rid: self.rules[rid] for rid in sorted(self.rules) if rid not in self.pairwise}
        self.reach = _Lazy(lambda did: frozenset(self.drugs[did]["up"]) if did in self.drugs else frozenset())
        self.drug_rules = _Lazy(self._drug_rules)
        self.pair_rules = _Lazy(lambda did: {rid: e for rid, e in self.drug_rules[did].items() if rid in self.pairwise})
        self.subject_hits = _Lazy(self._subject_hits)
        self.rule_static = _Lazy(self._rule_static)
        self.display = {f"drug:{d}": e["name"] for d, e in self.drugs.items()}
        self.display.update({f"class:{c}": e["name"] for c, e in self.classes.items()})
        # Memo tables: results depend only on the index, so caching them is invisible to callers.
        self.resolved: dict = {}  # text -> Resolution
        self.lines: dict = {}  # MedicationInput -> what the line resolved to and contributes
        self.pair_outcome_count = 0
        self.pair_outcomes: dict = {}  # "drug route" -> {"drug route": outcome}; bounded by the index
        self.ref_cache: dict = {}
        self.rendered: dict = {}
        self.load_items: dict = {}
        self.escalations: dict = {}
        self.texts: dict = {}
        self.report_cache: dict = {}

    def resolve(self, text: str):
        """Resolve a medication string, memoised (lists repeat the same strings)."""
        hit = self.resolved.get(text)
        if hit is None:
            if len(self.resolved) >= MEMO_LIMIT:
                self.resolved.clear()
            hit = self.resolved[text] = resolve(self.table, text)
        return hit

    def references(self, ids) -> tuple:
        """Return the Reference of each source id, in order (cached per id sequence)."""
        key = tuple(ids)
        cached = self.ref_cache.get(key)
        if cached is None:
            out = []
            for rid in key:
                s = self.sources[rid]
                out.append(Reference(rid, s["citation"], s["kind"], s["confidence"], s.get("url")))
            cached = self.ref_cache[key] = tuple(out)
        return cached

    def text(self, key: tuple, make) -> str:
        """Return a message that depends only on the index and `key`, made once by `make()`."""
        hit = self.texts.get(key)
        if hit is None:
            hit = self.texts[key] = make()
        return hit

    def _rule_static(self, rid: str) -> RuleStatic:
        r = self.rules[rid]
        refs = tuple(r["references"])
        return RuleStatic(r["kind"], r["severity"], r["effect"], r["title"], r["message"], r["mechanism"], r["management"],
                          refs, self.references(refs))

    def path(self, did: str, target: str) -> tuple:
        """Return the upward path from a drug to a node it reaches, e.g. (drug, class, parent)."""
        up = self.drugs[did]["up"]
        start = f"drug:{did}"
        out = [target]
        while out[-1] != start:
            out.append(up[out[-1]])
        return tuple(reversed(out))

    def _drug_rules(self, did: str) -> dict:
        """{rule id: ((side, distance, path), ...)} for every rule the drug takes part in."""
        if did not in self.drugs:
            return {}
        found: dict = {}
        sides = self.data["sides"]
        for target in sorted({f"drug:{did}", *self.drugs[did]["up"]}):
            for rid, side in sides.get(target, ()):
                path = self.path(did, target)
                found.setdefault(rid, []).append((side, len(path) - 1, path))
        return {rid: tuple(sorted(items)) for rid, items in found.items()}

    def _subject_hits(self, did: str) -> tuple:
        """For rules about one subject (burden, renal, dose, stopping): ((rule id, (drug, rendered path to the subject)), ...)."""
        hits = []
        for rid, entries in self.drug_rules[did].items():
            if rid in self.pairwise:
                continue
            target = self.rules[rid]["sides"][0]["of"]
            for _, _, path in entries:
                if path[-1] == target:
                    hits.append((rid, (did, self.render_path(path))))
                    break
        return tuple(hits)

    def render_path(self, path) -> str:
        """Render an upward path as 'drug → class → parent', cached (paths repeat across checks)."""
        text = self.rendered.get(path)
        if text is None:
            text = self.rendered[path] = " → ".join(self.name_of(k) for k in path)
        return text

    def name_of(self, key: str) -> str:
        """Return the display name of a graph key such as 'class:opioid'."""
        name = self.display.get(key)
        if name is None:
            name = self.rules[key.split(":", 1)[1]]["title"]
        return name


def _loads_without_gc(raw: bytes):
    """json.loads with the cyclic garbage collector paused: the index is ~100,000 new containers,
    and collections triggered while building them find nothing to free (~3 ms per load)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(raw)
    finally:
        if enabled:
            gc.enable()


def cache_path(cache_dir: str | os.PathLike, digest: str) -> str:
    """Return where the compiled index of a rule set with this digest is cached."""
    return os.path.join(os.fspath(cache_dir), f"index-{__version__}-{digest[:40]}.json")


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


def write_json_atomic(path, data: dict) -> None:
    """Write JSON next to `path` and rename it into place."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".index-", suffix=".tmp")
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
    root = os.fspath(rules_dir) if rules_dir is not None else builtin_rules_dir()
    digest = digest_files(root) if os.path.isdir(root) else ""
    candidates = []
    if rules_dir is None or os.path.realpath(root) == os.path.realpath(builtin_rules_dir()):
        candidates.append(PREBUILT)
    if cache_dir is not None and digest:
        candidates.append(cache_path(cache_dir, digest))
    for path in candidates:
        try:
            with open(path, "rb") as fh:
                data = _loads_without_gc(fh.read())
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
