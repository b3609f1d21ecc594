"""Explain what the rules know about a drug, and list drugs by class."""

from __future__ import annotations

import json

from .index import Index
from .names import resolve


def describe_drug(index: Index, drug: str) -> dict:
    """Return everything known about one drug, with the path to each rule it takes part in."""
    entry = index.drugs[drug]
    rules = []
    for rid, items in sorted(index.drug_rules(drug).items()):
        rule = index.rules[rid]
        for side, _, path in items:
            rules.append({
                "id": rid,
                "kind": rule["kind"],
                "severity": rule["severity"],
                "effect": rule["effect"],
                "title": rule["title"],
                "side": side,
                "path": index.render_path(path),
                "references": list(rule["references"]),
            })
    classes = []
    for cls, sources in entry["classes"].items():
        classes.append({"class": cls, "name": index.classes[cls]["name"], "sources": sources})
    ancestors = []
    for key in sorted(index.reach(drug)):
        cid = key.split(":", 1)[1]
        for parent, sources in index.classes[cid]["parents"].items():
            ancestors.append({"class": cid, "parent": parent, "sources": sources})
    return {
        "id": drug,
        "name": entry["name"],
        "brands": entry["brands"],
        "synonyms": entry["synonyms"],
        "codes": {"rxnorm": entry["rxnorm"], "atc": entry["atc"]},
        "classes": classes,
        "class_links": ancestors,
        "reaches": [index.name_of(k) for k in sorted(index.reach(drug))],
        "rules": rules,
        "products": sorted(pid for pid, p in index.products.items() if drug in p["ingredients"]),
    }


def explain_name(index: Index, name: str) -> dict:
    """Resolve a name and describe each drug it stands for."""
    res = resolve(index.table, name)
    return {
        "input": name,
        "status": res.status,
        "matched": list(res.matched),
        "unrecognized": list(res.unrecognized),
        "suggestions": [{"name": s.name, "drugs": list(s.drugs)} for s in res.suggestions],
        "drugs": [describe_drug(index, d) for d in res.drugs],
        "sources": {sid: index.sources[sid]["citation"] for d in res.drugs for sid in _sources_of(index, d)},
    }


def _sources_of(index: Index, drug: str) -> list:
    out = []
    entry = index.drugs[drug]
    for sources in entry["classes"].values():
        out.extend(sources)
    for key in sorted(index.reach(drug)):
        for sources in index.classes[key.split(":", 1)[1]]["parents"].values():
            out.extend(sources)
    for rid in index.drug_rules(drug):
        out.extend(index.rules[rid]["references"])
    return sorted(set(out))


def format_explanation(result: dict, fmt: str) -> str:
    """Format an explanation as JSON or text."""
    if fmt == "json":
        return json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    out = []
    if not result["drugs"]:
        out.append(f'"{result["input"]}": not recognised.')
        if result["suggestions"]:
            out.append("Did you mean: " + ", ".join(s["name"] for s in result["suggestions"]) + "? (not applied)")
        return "\n".join(out) + "\n"
    if result["status"] == "partial":
        out.append(f'Note: "{" ".join(result["unrecognized"])}" was not recognised.')
    for drug in result["drugs"]:
        out.append(f"{drug['name']}  [{drug['id']}]")
        if drug["brands"]:
            out.append(f"  Brands:   {', '.join(drug['brands'])}")
        if drug["synonyms"]:
            out.append(f"  Also:     {', '.join(drug['synonyms'])}")
        codes = ", ".join(f"{k} {v}" for k, v in drug["codes"].items() if v)
        if codes:
            out.append(f"  Codes:    {codes}")
        for cls in drug["classes"]:
            out.append(f"  Class:    {cls['name']} ({', '.join(cls['sources'])})")
        if drug["reaches"]:
            out.append(f"  Reaches:  {', '.join(drug['reaches'])}")
        for rule in drug["rules"]:
            out.append(f"  Rule:     [{rule['severity']}] {rule['title']}  via {rule['path']}  ({rule['id']})")
        if drug["products"]:
            out.append(f"  In:       {', '.join(drug['products'])}")
        out.append("")
    out.append("Sources:")
    for sid, citation in sorted(result["sources"].items()):
        out.append(f"  {sid}: {citation}")
    return "\n".join(out) + "\n"


def list_drugs(index: Index, class_id: str | None = None) -> list:
    """Return drug ids, optionally only those reaching a class."""
    key = f"class:{class_id}" if class_id else None
    return [d for d in sorted(index.drugs) if key is None or key in index.reach(d)]


def format_class_list(index: Index, fmt: str) -> str:
    """Format every class: id, name, parent classes and how many drugs reach it, as JSON or text."""
    rows = [{"id": c, "name": e["name"], "parents": sorted(e["parents"]), "drugs": len(list_drugs(index, c))}
            for c, e in sorted(index.classes.items())]
    if fmt == "json":
        return json.dumps({"classes": rows, "count": len(rows)}, indent=2, sort_keys=True) + "\n"
    width = max((len(r["id"]) for r in rows), default=0)
    lines = [f"{r['id']:<{width}}  {r['name']}; {r['drugs']} drug(s)" + (f"; under {', '.join(r['parents'])}" if r["parents"] else "")
             for r in rows]
    lines.append(f"{len(rows)} class(es)")
    return "\n".join(lines) + "\n"


def format_drug_list(index: Index, drugs: list, fmt: str) -> str:
    """Format a list of drugs as JSON or text."""
    rows = [{"id": d, "name": index.drugs[d]["name"], "classes": sorted(index.drugs[d]["classes"])} for d in drugs]
    if fmt == "json":
        return json.dumps({"drugs": rows, "count": len(rows)}, indent=2, sort_keys=True) + "\n"
    width = max((len(r["id"]) for r in rows), default=0)
    lines = [f"{r['id']:<{width}}  {', '.join(r['classes'])}" for r in rows]
    lines.append(f"{len(rows)} drug(s)")
    return "\n".join(lines) + "\n"
