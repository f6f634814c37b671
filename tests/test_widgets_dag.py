"""dag_svg: layered SVG, one group per node coloured by its state, an edge per dependency."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from types import SimpleNamespace

from gatewidgets import NodeState, approve, task, workflow
from gatewidgets.widgets.dag import STATE_COLOURS, dag_svg


@task
def one(v: int) -> int:
    return v


@task
def two(a: int, b: int) -> int:
    return a + b


@workflow
def diamond(v: int) -> int:
    a = one(v=v)
    b = one(v=v)
    ok = approve(two(a=a, b=b), "go", timeout=timedelta(hours=1))
    return one(v=ok)


SVG = "{http://www.w3.org/2000/svg}"


def test_svg_is_valid_and_coloured_by_state():
    states = {nid: NodeState.QUEUED for nid in diamond.nodes}
    gate = next(n for n in diamond.nodes.values() if n.kind == "approve")
    states[gate.id] = NodeState.WAITING
    root = ET.fromstring(dag_svg(diamond.nodes, states, diamond.order))
    groups = root.findall(f"{SVG}g")
    assert len(groups) == len(diamond.nodes)
    by_node = {g.get("data-node"): g for g in groups}
    assert by_node[gate.id].get("data-state") == "WAITING"
    assert by_node[gate.id].find(f"{SVG}rect").get("fill") == STATE_COLOURS["WAITING"]
    edges = root.findall(f"{SVG}path")
    assert len(edges) == sum(len(n.upstream) for n in diamond.nodes.values())


def test_layers_put_downstream_to_the_right():
    states = {}
    root = ET.fromstring(dag_svg(diamond.nodes, states, diamond.order))
    x = {g.get("data-node"): float(g.find(f"{SVG}rect").get("x")) for g in root.findall(f"{SVG}g")}
    for node in diamond.nodes.values():
        for up in node.upstream:
            assert x[up] < x[node.id]


def test_names_are_escaped():
    nodes = {"n0": SimpleNamespace(id="n0", name="a<b>&c", kind="task", upstream=set())}
    svg = dag_svg(nodes, {"n0": "RUNNING"})
    assert "a&lt;b&gt;&amp;c" in svg and "a<b>" not in svg
    assert STATE_COLOURS["RUNNING"] in svg
