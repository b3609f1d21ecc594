"""Build the rule graph with networkx and compile its traversal into a plain, JSON-ready index."""

from __future__ import annotations

import networkx as nx

from . import names as names_mod
from .errors import Problem, RulesError
from .kinds import sides as rule_sides
from .loader import RuleSet, name_table
from .ruledir import INDEX_FORMAT
from .vocab import normalize_name


def node(kind: str, ident: str) -> str:
    """Return the graph key of a drug, class or rule."""
    return f"{kind}:{ident}"


def build_graph(rs: RuleSet) -> nx.DiGraph:
    """Build drug -> class -> parent class -> rule, every edge pointing upward."""
    graph = nx.DiGraph()
    for cid in sorted(rs.classes):
        graph.add_node(node("class", cid), name=rs.classes[cid]["name"])
    for did in sorted(rs.drugs):
        graph.add_node(node("drug", did), name=rs.drugs[did]["name"])
    for rid in sorted(rs.rules):
        graph.add_node(node("rule", rid), name=rs.rules[rid]["title"])
    for did in sorted(rs.drugs):
        for cid, (refs, _) in sorted(rs.drugs[did]["classes"].items()):
            graph.add_edge(node("drug", did), node("class", cid), sources=[r for r, _ in refs])
    for cid in sorted(rs.classes):
        for parent, (refs, _) in sorted(rs.classes[cid].get("parents", {}).items()):
            graph.add_edge(node("class", cid), node("class", parent), sources=[r for r, _ in refs])
    for rid in sorted(rs.rules):
        for index, side in enumerate(rule_sides(rs.rules[rid])):
            source = node("class", side["of"]) if side["of"] in rs.classes else node("drug", side["of"])
            if graph.has_edge(source, node("rule", rid)):
                graph.edges[source, node("rule", rid)]["sides"].append(index)
            else:
                graph.add_edge(source, node("rule", rid), sides=[index])
    return graph


def _plain(value):
    """Turn validated rule data into plain JSON data: (value, line) pairs become their values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v[0]) if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], int) else _plain(v) for v in value]
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        return _plain(value[0])
    return value


def compile_index(rs: RuleSet) -> dict:
    """Traverse the graph once and return the compiled index used by every check."""
    graph = build_graph(rs)
    index: dict = {"format": INDEX_FORMAT, "digest": rs.digest}
    index["scope"] = {key: _plain(rs.scope[key]) for key in ("name", "checked", "not_checked")}
    index["sources"] = {sid: _plain(s) for sid, s in sorted(rs.sources.items())}
    for s in index["sources"].values():
        s.pop("id", None)
    index["classes"] = {
        cid: {"name": c["name"], "parents": {p: [r for r, _ in refs] for p, (refs, _) in sorted(c.get("parents", {}).items())}}
        for cid, c in sorted(rs.classes.items())
    }

    # How many drugs sit under each node: fewer drugs means a more specific rule side.
    weights = {}
    for key in graph.nodes:
        if key.startswith(("class:", "drug:")):
            below = sum(1 for a in nx.ancestors(graph, key) if a.startswith("drug:"))
            weights[key] = below + (1 if key.startswith("drug:") else 0)

    index["rules"] = {}
    # Within a severity, findings follow the order the rules are written in (rules.yaml lists the
    # most dangerous first: an opioid with a benzodiazepine before alcohol with a sedative).
    rank = {rid: n for n, rid in enumerate(rs.rules)}
    for rid, rule in sorted(rs.rules.items()):
        plain = _plain(rule)
        plain.pop("between", None)
        plain["references"] = [r for r, _ in rule["references"]]
        sides = []
        for side in rule_sides(rule):
            key = node("class", side["of"]) if side["of"] in rs.classes else node("drug", side["of"])
            sides.append({"of": key, "route": side["route"], "weight": weights[key]})
        plain["sides"] = sides
        plain["rank"] = rank[rid]
        index["rules"][rid] = plain

    drugs = {}
    for did, drug in sorted(rs.drugs.items()):
        start = node("drug", did)
        paths = nx.single_source_shortest_path(graph, start)
        reach = {target: path for target, path in paths.items() if not target.startswith("rule:")}
        # Store the upward BFS tree once (node -> the node before it); paths are rebuilt from it.
        up = {target: path[-2] for target, path in sorted(reach.items()) if target != start}
        codes = drug.get("codes", {})
        drugs[did] = {
            "name": drug["name"],
            "classes": {c: [r for r, _ in refs] for c, (refs, _) in sorted(drug["classes"].items())},
            "up": up,
            "brands": [b for b, _ in drug.get("brands", [])],
            "synonyms": [s for s, _ in drug.get("synonyms", [])],
            "rxnorm": codes["rxnorm"]["code"] if "rxnorm" in codes else None,
            "atc": codes["atc"]["code"] if "atc" in codes else None,
            "dbi_delta": _plain(drug["dbi_delta"]) if "dbi_delta" in drug else None,
        }
        # Keys few drugs have are left out when unset: every byte of the index is parsed on every cold check.
        if "dose_units" in drug:
            drugs[did]["dose_units"] = {r: u for r, (u, _) in drug["dose_units"]["routes"].items()}
        if "exposure_routes" in drug:
            drugs[did]["exposure_routes"] = [r for r, _ in drug["exposure_routes"]["routes"]]
        if drug.get("negation_means_not_taken"):
            drugs[did]["negation_means_not_taken"] = True
    index["drugs"] = drugs
    # Which rule sides each node feeds (graph edges node -> rule); a drug's rules are those of the nodes it reaches.
    sides: dict = {}
    for key in sorted(graph.nodes):
        for _, rule_key, data in graph.out_edges(key, data=True):
            if rule_key.startswith("rule:"):
                for side in data["sides"]:
                    sides.setdefault(key, []).append([rule_key[5:], side])
    index["sides"] = {k: sorted(v) for k, v in sorted(sides.items())}
    index["products"] = {
        pid: {"name": p["name"], "ingredients": [i for i, _ in p["ingredients"]], "route": p.get("route"), "names": [n for n, _ in p["names"]]}
        for pid, p in sorted(rs.products.items())
    }
    names = dict(sorted(name_table(rs).items()))
    index["names"] = names
    index["max_words"] = max(len(n.split()) for n in names) if names else 1

    lookalikes: dict = {}
    for entry in rs.lookalikes:
        a, b = (normalize_name(n) for n, _ in entry["names"])
        lookalikes.setdefault(a, []).append(b)
        lookalikes.setdefault(b, []).append(a)
    index["lookalikes"] = {k: sorted(set(v)) for k, v in sorted(lookalikes.items())}

    codes: dict = {}
    for did, drug in drugs.items():
        if drug["rxnorm"]:
            codes[drug["rxnorm"]] = {"drugs": [did], "route": None, "display": drug["name"]}
    table = names_mod.NameTable(names, index["products"], {}, {}, index["max_words"])
    problems = []
    for row in rs.code_rows:
        res = names_mod.resolve(table, row["display"])
        if res.status != "resolved":
            detail = f"unrecognised '{' '.join(res.unrecognized)}'" if res.unrecognized else "no drug found"
            problems.append(Problem(row.path, row.line, f"rxcui {row['code']} '{row['display']}': does not resolve ({detail})"))
            continue
        codes[row["code"]] = {"drugs": sorted(res.drugs), "route": res.route, "display": row["display"]}
    if problems:
        raise RulesError(problems)
    index["codes"] = dict(sorted(codes.items()))
    return index
