"""The rule graph: every edge points upward, and the compiled index is what the traversal found."""

from __future__ import annotations

import networkx as nx
import pytest

from interactions.graph import build_graph, compile_index
from interactions.loader import read_rules


@pytest.fixture(scope="module")
def ruleset():
    return read_rules()


@pytest.fixture(scope="module")
def graph(ruleset):
    return build_graph(ruleset)


def test_the_graph_is_acyclic_and_points_upward(graph):
    assert nx.is_directed_acyclic_graph(graph)
    for a, b in graph.edges:
        kinds = (a.split(":")[0], b.split(":")[0])
        assert kinds in {("drug", "class"), ("class", "class"), ("drug", "rule"), ("class", "rule")}, (a, b)


def test_a_drug_reaches_its_rules_only_through_its_classes(graph):
    up = nx.descendants(graph, "drug:lorazepam")
    assert {"class:benzodiazepine", "class:cns-depressant", "rule:opioid-benzodiazepine"} <= up
    # Upward only: a class never leads down to its other members.
    assert not any(n.startswith("drug:") for n in up)


def test_rule_sides_hang_from_the_named_nodes(graph):
    assert graph.edges["class:opioid", "rule:opioid-benzodiazepine"]["sides"] == [0]
    assert graph.edges["class:benzodiazepine", "rule:opioid-benzodiazepine"]["sides"] == [1]
    assert graph.edges["class:cns-depressant", "rule:additive-cns-depression"]["sides"] == [0]


def test_compiled_index_keeps_the_bfs_tree_and_side_weights(ruleset):
    index = compile_index(ruleset)
    up = index["drugs"]["lorazepam"]["up"]
    assert up["class:benzodiazepine"] == "drug:lorazepam"
    assert "class:cns-depressant" in up
    sides = index["rules"]["opioid-benzodiazepine"]["sides"]
    assert [s["of"] for s in sides] == ["class:opioid", "class:benzodiazepine"]
    # Weight: how many drugs sit under a side; fewer means a more specific rule.
    general = index["rules"]["additive-cns-depression"]["sides"][0]["weight"]
    assert all(s["weight"] < general for s in sides)
    # No loader bookkeeping leaks into the compiled data.
    assert "_line" not in str(index["rules"]) and "_path" not in str(index["rules"])
