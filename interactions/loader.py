"""Load a rules folder into a validated RuleSet, collecting every problem as file:line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import schema
from .conditions import SUBJECT_KEYS
from .errors import Problem, RulesError
from .kinds import KINDS, sides
from .ruledir import builtin_rules_dir, digest_files, rule_files
from .vocab import did_you_mean, normalize_name
from .yamltree import Map, Scalar, YamlError, parse_yaml

SCHEMA_VERSION = 1
CODE_TABLE_SUFFIX = ".tsv"


@dataclass
class RuleSet:
    """Validated rule data: plain dicts keyed by id, each entry remembering where it came from."""

    root: str
    digest: str
    sources: dict = field(default_factory=dict)
    classes: dict = field(default_factory=dict)
    drugs: dict = field(default_factory=dict)
    products: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)
    lookalikes: list = field(default_factory=list)
    scope: dict | None = None
    code_rows: list = field(default_factory=list)


def _display(path: Path, root: Path, shown_root: str) -> str:
    shown = os.path.join(shown_root, path.relative_to(root).as_posix())
    if os.path.isabs(shown):
        relative = os.path.relpath(shown)
        if not relative.startswith(".."):
            return relative
    return shown


def read_rules(rules_dir: str | os.PathLike | None = None) -> RuleSet:
    """Load and validate a rules folder; raise RulesError listing every problem."""
    root = Path(rules_dir) if rules_dir is not None else Path(builtin_rules_dir())
    shown_root = str(rules_dir) if rules_dir is not None else str(root)
    if not root.is_dir():
        raise RulesError([Problem(shown_root, 0, "rules folder not found")])
    listed = rule_files(root)
    files = [Path(full) for _, full in listed]
    raw: list = []
    ruleset = RuleSet(root=shown_root, digest=digest_files(root, listed))
    if not any(p.suffix != CODE_TABLE_SUFFIX for p in files):
        raise RulesError([Problem(shown_root, 0, "no .yaml rule files found")])
    entries: dict = {name: [] for name in [*schema.SECTIONS, *schema.SINGLETONS]}
    for path in files:
        shown = _display(path, root, shown_root)
        ctx = schema.Ctx(shown, raw)
        if path.suffix == CODE_TABLE_SUFFIX:
            ruleset.code_rows.extend(_read_code_table(path, ctx))
            continue
        try:
            tree = parse_yaml(path.read_bytes())
        except YamlError as exc:
            ctx.error(exc.line, exc.message)
            continue
        _read_file(tree, ctx, entries)
    problems = [Problem(*p) for p in raw]
    _collect(entries, ruleset, problems)
    if ruleset.scope is None and not problems:  # a file that did not parse may hold it
        problems.append(Problem(shown_root, 0, "no 'scope' in the rules: every answer must say what is checked and what is not"))
    if not problems:
        _check_references(ruleset, problems)
    if problems:
        raise RulesError(problems)
    return ruleset


def _read_file(tree, ctx: schema.Ctx, entries: dict) -> None:
    if not isinstance(tree, Map):
        ctx.error(tree.line, f"expected a mapping with 'schema_version' at the top, got {schema.describe(tree)}")
        return
    version = tree.items.get("schema_version")
    if version is None:
        ctx.error(1, "missing 'schema_version: 1' at the top of the file")
    elif not (isinstance(version, Scalar) and version.type == "integer" and version.value == SCHEMA_VERSION):
        ctx.error(version.line, f"unsupported schema_version {version.text if isinstance(version, Scalar) else '?'} (this version reads {SCHEMA_VERSION})")
        return
    for key, node in tree.items.items():
        if key == "schema_version":
            continue
        if key in schema.SINGLETONS:
            what, validator = schema.SINGLETONS[key]
            value = validator(node, ctx, what)
            if value is not None:
                value.line = tree.key_lines[key]  # where "scope:" is written
                entries[key].append(value)
            continue
        if key not in schema.SECTIONS:
            choices = list(schema.SECTIONS) + list(schema.SINGLETONS) + ["schema_version"]
            ctx.error(tree.key_lines[key], f"unknown top-level key '{key}'{did_you_mean(key, choices)}")
            continue
        what, validator = schema.SECTIONS[key]
        if not isinstance(node, schema.Seq):
            ctx.error(node.line, f"'{key}': expected a list, got {schema.describe(node)}")
            continue
        for item in node.items:
            value = validator(item, ctx, schema.entity_label(item, what))
            if value is not None:
                entries[key].append(value)


def _read_code_table(path: Path, ctx: schema.Ctx) -> list:
    """Read a TSV of RxNorm product codes: rxcui, display[, ...]; '#' lines are provenance."""
    data = path.read_bytes()
    if b"\x00" in data:
        ctx.error(1, "binary content (NUL byte)")
        return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        ctx.error(data[: exc.start].count(b"\n") + 1, "not valid UTF-8")
        return []
    rows = []
    header_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if not header_seen:
            header_seen = True
            if cells[:2] != ["rxcui", "display"]:
                ctx.error(number, "code table header must start with 'rxcui<TAB>display'")
                return []
            continue
        if len(cells) < 2 or not cells[0].isdigit() or not cells[1].strip():
            ctx.error(number, "expected '<rxcui digits><TAB><display>'")
            continue
        rows.append(schema.Entry(ctx.path, number, {"code": cells[0], "display": cells[1].strip()}))
    return rows


def _collect(entries: dict, ruleset: RuleSet, problems: list) -> None:
    """Index entries by id, reporting duplicates with the first location."""
    targets = {
        "sources": ("source", ruleset.sources),
        "classes": ("class", ruleset.classes),
        "drugs": ("drug", ruleset.drugs),
        "products": ("product", ruleset.products),
        "rules": ("rule", ruleset.rules),
    }
    for section, (what, table) in targets.items():
        for entry in entries[section]:
            ident = entry.get("id")
            if ident is None:
                continue
            if ident in table:
                first = table[ident]
                problems.append(Problem(*entry.where(), f"duplicate {what} id '{ident}' (first defined at {first.path}:{first.line})"))
                continue
            table[ident] = entry
    ruleset.lookalikes = entries["lookalikes"]
    scopes = entries["scope"]
    for extra in scopes[1:]:
        problems.append(Problem(*extra.where(), f"a second 'scope' (the first is at {scopes[0].path}:{scopes[0].line})"))
    ruleset.scope = scopes[0] if scopes else None


def _check_references(rs: RuleSet, problems: list) -> None:
    """Check every cross-reference, names, cycles and evidence levels."""

    def err(entry, key, message):
        problems.append(Problem(*entry.where(key), message))

    def check_sources(entry, label, refs):
        for ref, ref_line in refs:
            if ref not in rs.sources:
                problems.append(Problem(entry.path, ref_line, f"{label}: unknown source '{ref}'{did_you_mean(ref, rs.sources)}"))

    for sid, entry in rs.sources.items():
        if "about" in entry and entry["about"] not in rs.drugs:
            err(entry, "about", f"source '{sid}': about: unknown drug '{entry['about']}'{did_you_mean(entry['about'], rs.drugs)}")

    for cid in sorted(set(rs.classes) & set(rs.drugs)):
        err(rs.drugs[cid], "id", f"drug '{cid}': id is also a class id; rule sides would be ambiguous")

    for cid, entry in rs.classes.items():
        for parent, (refs, line) in entry.get("parents", {}).items():
            if parent not in rs.classes:
                problems.append(Problem(entry.path, line, f"class '{cid}': unknown parent class '{parent}'{did_you_mean(parent, rs.classes)}"))
            check_sources(entry, f"class '{cid}': parent '{parent}'", refs)
    _check_cycles(rs, problems)

    for did, entry in rs.drugs.items():
        for cls, (refs, line) in entry.get("classes", {}).items():
            if cls not in rs.classes:
                problems.append(Problem(entry.path, line, f"drug '{did}': unknown class '{cls}'{did_you_mean(cls, rs.classes)}"))
            check_sources(entry, f"drug '{did}': class '{cls}'", refs)
        for system, code in entry.get("codes", {}).items():
            if code["source"] not in rs.sources:
                err(entry, "codes", f"drug '{did}': {system} code: unknown source '{code['source']}'")
            if system == "rxnorm" and not code["code"].isdigit():
                err(entry, "codes", f"drug '{did}': rxnorm code '{code['code']}' must be digits")
        for key in ("dbi_delta", "dose_units", "exposure_routes"):
            if key in entry:
                check_sources(entry, f"drug '{did}': {key}", entry[key]["source"])

    for pid, entry in rs.products.items():
        for ingredient, line in entry["ingredients"]:
            if ingredient not in rs.drugs:
                problems.append(Problem(entry.path, line, f"product '{pid}': unknown ingredient drug '{ingredient}'{did_you_mean(ingredient, rs.drugs)}"))
        check_sources(entry, f"product '{pid}'", entry["source"])

    _check_names(rs, problems)
    _check_codes(rs, problems)
    _check_rules(rs, problems, check_sources)

    if rs.scope is not None:
        check_sources(rs.scope, "scope", rs.scope["source"])
    owners_by_name = name_table(rs)
    for entry in rs.lookalikes:
        check_sources(entry, "look-alike pair", entry["source"])
        names = [n for n, _ in entry["names"]]
        owners = [owners_by_name.get(normalize_name(n)) for n in names]
        for (name, line), owner in zip(entry["names"], owners, strict=True):
            if owner is None:
                problems.append(Problem(entry.path, line, f"look-alike pair: '{name}' is not a known drug or product name"))
        if owners[0] is not None and owners[0] == owners[1]:
            err(entry, "names", f"look-alike pair: '{names[0]}' and '{names[1]}' are the same drug")


def _names_of(entry: dict, is_product: bool) -> list:
    """Return (name, line) pairs a drug or product is known by."""
    if is_product:
        return list(entry["names"]) + [(entry["name"], entry.lines["name"]), (entry["id"], entry.line)]
    names = [(entry["id"], entry.line), (entry["name"], entry.lines["name"])]
    for key in ("brands", "synonyms"):
        names.extend(entry.get(key, []))
    for salt, line in entry.get("salts", []):
        names.append((f"{entry['name']} {salt}", line))
    return names


def name_table(rs: RuleSet) -> dict:
    """Map every normalised name to its owner ('drug:ID' or 'product:ID')."""
    table = {}
    for kind, entries in (("drug", rs.drugs), ("product", rs.products)):
        for ident, entry in entries.items():
            for name, _ in _names_of(entry, kind == "product"):
                table.setdefault(normalize_name(name), f"{kind}:{ident}")
    return table


def _check_names(rs: RuleSet, problems: list) -> None:
    seen: dict = {}
    for kind, entries in (("drug", rs.drugs), ("product", rs.products)):
        for ident, entry in sorted(entries.items()):
            owner = f"{kind} '{ident}'"
            for name, line in _names_of(entry, kind == "product"):
                key = normalize_name(name)
                if not key or key.replace(" ", "").isdigit():
                    problems.append(Problem(entry.path, line, f"{owner}: name '{name}' has no letters"))
                    continue
                if key in seen and seen[key][0] != owner:
                    first_owner, first_path, first_line = seen[key]
                    problems.append(Problem(entry.path, line, f"{owner}: name '{name}' is already claimed by {first_owner} ({first_path}:{first_line})"))
                    continue
                seen.setdefault(key, (owner, entry.path, line))


def _check_codes(rs: RuleSet, problems: list) -> None:
    seen: dict = {}
    for did, entry in sorted(rs.drugs.items()):
        code = entry.get("codes", {}).get("rxnorm")
        if code:
            if code["code"] in seen:
                problems.append(Problem(*entry.where("codes"), f"drug '{did}': rxnorm code {code['code']} is already used by drug '{seen[code['code']]}'"))
            seen[code["code"]] = did
    rows: dict = {}
    for row in rs.code_rows:
        if row["code"] in seen:
            problems.append(Problem(row.path, row.line, f"rxcui {row['code']} is an ingredient code of drug '{seen[row['code']]}'"))
        elif row["code"] in rows:
            problems.append(Problem(row.path, row.line, f"rxcui {row['code']} is listed twice (first at line {rows[row['code']]})"))
        rows.setdefault(row["code"], row.line)


def _check_cycles(rs: RuleSet, problems: list) -> None:
    state: dict = {}

    def visit(cid, trail):
        state[cid] = 1
        for parent in rs.classes[cid].get("parents", {}):
            if parent not in rs.classes:
                continue
            if state.get(parent) == 1:
                cycle = trail[trail.index(parent):] + [parent] if parent in trail else [cid, parent]
                entry = rs.classes[cid]
                problems.append(Problem(*entry.where("parents"), f"class '{cid}': cycle among class parents: {' -> '.join(cycle)}"))
            elif parent not in state:
                visit(parent, trail + [parent])
        state[cid] = 2

    for cid in sorted(rs.classes):
        if cid not in state:
            visit(cid, [cid])


def _check_rules(rs: RuleSet, problems: list, check_sources) -> None:
    nodes = set(rs.classes) | set(rs.drugs)

    def check_node(entry, label, node, key):
        if node not in nodes:
            problems.append(Problem(*entry.where(key), f"{label}: unknown class or drug '{node}'{did_you_mean(node, nodes)}"))

    for rid, entry in rs.rules.items():
        label = f"rule '{rid}'"
        check_sources(entry, label, entry["references"])
        if entry["severity"] in ("contraindicated", "major") or any(e["severity"] in ("contraindicated", "major") for e, _ in entry.get("escalate", [])):
            if all(rs.sources.get(ref, {}).get("confidence") == "background" for ref, _ in entry["references"]):
                problems.append(Problem(*entry.where("references"), f"{label}: a {entry['severity']} rule needs at least one verified or secondary source"))
        kind = KINDS[entry["kind"]]
        for side in sides(entry):
            check_node(entry, label, side["of"], kind.about)
        for key in ("escalate", "notes"):
            for item, line in entry.get(key, []):
                check_sources(entry, f"{label}: {key}", item["references"])
                when = item["when"]
                if any(k in when for k in SUBJECT_KEYS) and not kind.uses_subject_conditions:
                    problems.append(Problem(entry.path, line, f"{label}: {key}: 'daily_dose_at_least' and 'route' need a rule with a subject"))
                for drug, at in when.get("involves", ()):
                    if drug not in rs.drugs:
                        problems.append(Problem(entry.path, at, f"{label}: {key}: involves: unknown drug '{drug}'{did_you_mean(drug, rs.drugs)}"))


