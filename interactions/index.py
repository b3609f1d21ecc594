"""Load the compiled rule index: shipped prebuilt, cached per rules digest, or compiled on demand."""

from __future__ import annotations

import functools
import json
import os
from collections import namedtuple

from .kinds import KINDS
from .model import Reference, Scope
from .names import NameTable, resolve
from .ruledir import INDEX_FORMAT, builtin_rules_dir, digest_files
from .version import __version__

PREBUILT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_compiled", "builtin-index.json")


class RuleStatic(namedtuple("RuleStatic", "kind severity effect title message mechanism management reference_ids references")):
    """The parts of a rule every finding of it shares, with its references resolved."""

    __slots__ = ()


class Index:
    """The compiled rules, ready for checking: plain dicts plus the name table.

    Tables derived from the rules are built on first use, since a check touches a
    handful of drugs, not all, and kept for the life of the index with `cached`, the one
    cache helper of the package:

    - `reach(drug)`: every class key a drug reaches going up the graph;
    - `pair_rules(drug)`: the pairwise part of drug_rules;
    - `subject_hits(drug)`: for rules with one side, ((rule id, (drug, rendered path)), ...);
    - `rule_static(rule id)`: the parts of a rule every finding of it shares.

    What they buy, in instructions per call (python benchmarks/instructions.py
    --without-cache NAME; nine-drug check / batch record). When the caches were chosen,
    902k / 1,488k with every cache: subject_hits 1,127k / 1,695k, rule_static 988k / 1,575k.
    With the final engine, 1,290k / 2,139k with every cache: reach 1,352k / 2,257k,
    references 1,370k / 2,292k, pair_rules 1,360k (nine-drug). The engine's own two
    (engine._line per medication line, engine._pair_outcome per pair of drugs) buy the most.
    Measured and removed: resolved strings (0% on top of the line cache), rendered paths
    (3%), drug_rules (0%: its two users are cached).
    """

    def __init__(self, data: dict):
        self.data = data
        self.digest: str = data["digest"]
        self.sources: dict = data["sources"]
        self.classes: dict = data["classes"]
        self.drugs: dict = data["drugs"]
        self.products: dict = data["products"]
        self.rules: dict = data["rules"]
        scope = data["scope"]
        self.scope = Scope(name=scope["name"], checked=tuple(scope["checked"]), not_checked=tuple(scope["not_checked"]))
        self.table = NameTable(data["names"], data["products"], data["codes"], data["lookalikes"], data["max_words"],
                               frozenset(d for d, e in self.drugs.items() if e.get("negation_means_not_taken")))
        self.pairwise = frozenset(rid for rid, r in self.rules.items() if KINDS[r["kind"]].pairwise)
        # Pairwise rules whose kind may switch them off for a whole list (e.g. min_drugs).
        self.gated = tuple(rid for rid in sorted(self.pairwise) if KINDS[self.rules[rid]["kind"]].gate is not None)
        self.other_rules = {rid: self.rules[rid] for rid in sorted(self.rules) if rid not in self.pairwise}
        self.display = {f"drug:{d}": e["name"] for d, e in self.drugs.items()}
        self.display.update({f"class:{c}": e["name"] for c, e in self.classes.items()})
        self._caches: dict = {}
        # Tables derived from the rules, each built on first use for one drug or rule.
        self.reach = self.cached(_reach)
        self.pair_rules = self.cached(_pair_rules)
        self.subject_hits = self.cached(_subject_hits)
        self.rule_static = self.cached(_rule_static)
        self._references = self.cached(_references)

    def cached(self, function, maxsize: int | None = None):
        """Return `function` with this index as its first argument, memoised for this index.

        The one cache helper: functools.lru_cache, thread-safe and bounded by `maxsize`
        (None: unbounded, for tables whose size the rule set bounds). Only pure functions
        of the index and their (hashable) arguments may be cached.
        """
        hit = self._caches.get(function)
        if hit is None:
            hit = self._caches[function] = functools.lru_cache(maxsize=maxsize)(functools.partial(function, self))
        return hit

    def resolve(self, text: str):
        """Resolve a medication string with this index's name table."""
        return resolve(self.table, text)

    def render_path(self, path: tuple) -> str:
        """Render an upward path as 'drug → class → parent'."""
        return " → ".join(self.name_of(k) for k in path)

    def drug_rules(self, drug: str) -> dict:
        """{rule id: ((side, distance, path), ...)} for every rule the drug takes part in (not cached: its two users are)."""
        return _drug_rules(self, drug)

    def references(self, ids) -> tuple:
        """Return the Reference of each source id, in order."""
        return self._references(tuple(ids))

    def path(self, did: str, target: str) -> tuple:
        """Return the upward path from a drug to a node it reaches, e.g. (drug, class, parent)."""
        up = self.drugs[did]["up"]
        start = f"drug:{did}"
        out = [target]
        while out[-1] != start:
            out.append(up[out[-1]])
        return tuple(reversed(out))

    def name_of(self, key: str) -> str:
        """Return the display name of a graph key such as 'class:opioid'."""
        name = self.display.get(key)
        if name is None:
            name = self.rules[key.split(":", 1)[1]]["title"]
        return name


def _reach(index: Index, did: str) -> frozenset:
    return frozenset(index.drugs[did]["up"]) if did in index.drugs else frozenset()


def _drug_rules(index: Index, did: str) -> dict:
    if did not in index.drugs:
        return {}
    found: dict = {}
    sides = index.data["sides"]
    for target in sorted({f"drug:{did}", *index.drugs[did]["up"]}):
        for rid, side in sides.get(target, ()):
            path = index.path(did, target)
            found.setdefault(rid, []).append((side, len(path) - 1, path))
    return {rid: tuple(sorted(items)) for rid, items in found.items()}


def _pair_rules(index: Index, did: str) -> dict:
    return {rid: e for rid, e in index.drug_rules(did).items() if rid in index.pairwise}


def _subject_hits(index: Index, did: str) -> tuple:
    hits = []
    for rid, entries in index.drug_rules(did).items():
        rule = index.rules[rid]
        if len(rule["sides"]) != 1:
            continue
        target = rule["sides"][0]["of"]
        for _, _, path in entries:
            if path[-1] == target:
                hits.append((rid, (did, index.render_path(path))))
                break
    return tuple(hits)


def _rule_static(index: Index, rid: str) -> RuleStatic:
    r = index.rules[rid]
    refs = tuple(r["references"])
    return RuleStatic(kind=r["kind"], severity=r["severity"], effect=r["effect"], title=r["title"], message=r["message"],
                      mechanism=r["mechanism"], management=r["management"], reference_ids=refs, references=index.references(refs))


def _references(index: Index, ids: tuple) -> tuple:
    out = []
    for rid in ids:
        s = index.sources[rid]
        out.append(Reference(id=rid, citation=s["citation"], kind=s["kind"], confidence=s["confidence"], url=s.get("url"),
                             short=s.get("short"), about=s.get("about")))
    return tuple(out)


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
    from .atomic import atomic_file

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_file(path, mode=0o644) as fh:
        fh.write(json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8"))


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
