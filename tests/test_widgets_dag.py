"""dag_svg / layout: layered SVG that fits its view, one group per node coloured by its state and named as the
workflow names it, an edge per dependency ending at its own port."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from types import SimpleNamespace

from gatewidgets import NodeState, approve, task, wait_for_input, workflow
from gatewidgets.widgets.dag import _W, MIN_SCALE, STATE_COLOURS, Layout, dag_html, dag_svg, layout


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


# -- the layout on the shapes people draw ------------------------------------------------------------------

@task
def load(i: int) -> int:
    return i


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task
def report(t: int) -> dict:
    return {"total": t}


@task
def publish(r: dict, channel: str) -> str:
    return channel


@workflow
def eleven() -> str:
    """Eight ``load`` calls fanned into ``total``, a report behind a sign-off, a channel input with a default."""
    signed = approve(report(t=total(xs=[load(i=i) for i in range(8)])), "sign-off", timeout=timedelta(hours=1))
    channel = wait_for_input("channel", timeout=timedelta(hours=1), expected_type=str, default="#general")
    return publish(r=signed, channel=channel)


@workflow
def two_hundred() -> str:
    """Twenty chains of nine steps (``load`` repeated 180 times) summed, plus report, sign-off, channel, publish:
    one long edge (the channel's) and a 20-way fan-in."""
    ends = []
    for b in range(20):
        x = load(i=b)
        for _ in range(8):
            x = load(i=x)
        ends.append(x)
    signed = approve(report(t=total(xs=ends)), "sign-off", timeout=timedelta(hours=1))
    channel = wait_for_input("channel", timeout=timedelta(hours=1), expected_type=str, default="#general")
    deep = [load(i=1)]
    for _ in range(15):  # a chain deeper than the rest: the channel input must not sit at the far left
        deep.append(load(i=deep[-1]))
    return publish(r=report(t=total(xs=[signed, deep[-1]])), channel=channel)


def _check_layout(wf) -> Layout:
    placed = layout(wf.nodes, wf.order)
    boxes = placed.boxes
    ends = [edge.points[-1] for edge in placed.edges]
    assert len(set(ends)) == len(ends), "two edges end at one arrowhead"
    for edge in placed.edges:
        (sx, sy), (ex, ey) = edge.points[0], edge.points[-1]
        x, y, h = boxes[edge.source]
        assert sx == x + _W and y < sy < y + h  # leaves from its own source's right side
        x, y, h = boxes[edge.target]
        assert ex == x and y < ey < y + h  # ends at its own target's left side
        for (lx, ly) in edge.points[1:-1]:  # through lanes: never through a node box
            assert not any(bx <= lx <= bx + _W and by <= ly <= by + bh for bx, by, bh in boxes.values())
    by_target: dict[str, list[float]] = {}
    for edge in placed.edges:
        by_target.setdefault(edge.target, []).append(edge.points[-1][1])
    for ys in by_target.values():  # arrowheads (6 px tall) do not overlap
        ys.sort()
        assert all(b - a >= 6 for a, b in zip(ys, ys[1:]))
    columns: dict[float, list[tuple[float, float]]] = {}
    for x, y, h in boxes.values():
        columns.setdefault(x, []).append((y, h))
    for spans in columns.values():  # boxes in a layer do not overlap
        spans.sort()
        assert all(y0 + h0 < y1 for (y0, h0), (y1, _h1) in zip(spans, spans[1:]))
    return placed


def _labels(wf) -> dict[str, str]:
    root = ET.fromstring(dag_svg(wf.nodes, {}, wf.order))
    return {g.get("data-node"): "".join(g.find(f"{SVG}text").itertext()) for g in root.findall(f"{SVG}g")}


def test_eleven_nodes_layout_distinct_arrowheads_and_names():
    placed = _check_layout(eleven)
    ids = {n.name: nid for nid, n in eleven.nodes.items() if n.name != "load"}
    labels = _labels(eleven)
    loads = sorted(label for nid, label in labels.items() if eleven.nodes[nid].name == "load")
    assert loads == sorted(["load"] + [f"load-{i}" for i in range(2, 9)])  # as ex.node("load-3") takes them
    assert labels[ids["publish"]] == "publish" and labels[ids["sign-off"]] == "sign-off"
    x = {nid: box[0] for nid, box in placed.boxes.items()}
    # the channel input sits right before publish: its edge is short, not across the whole picture
    assert x[ids["publish"]] - x[ids["channel"]] == x[ids["sign-off"]] - x[ids["report"]]
    channel_edge = next(e for e in placed.edges if e.source == ids["channel"])
    assert len(channel_edge.points) == 2
    critical = [(e.source, e.target) for e in placed.edges if e.critical]
    assert (ids["sign-off"], ids["publish"]) in critical and len(critical) == 4  # load → total → ... → publish


def test_two_hundred_nodes_layout_and_long_edges_through_lanes():
    assert len(two_hundred.nodes) >= 200
    placed = _check_layout(two_hundred)
    labels = _labels(two_hundred)
    assert len(set(labels.values())) == len(labels)  # every node told apart
    assert not any(label.startswith("n") and label[1:].isdigit() for label in labels.values())
    ids = {n.name: nid for nid, n in two_hundred.nodes.items() if n.name in ("channel", "publish")}
    channel_edge = next(e for e in placed.edges if e.source == ids["channel"])
    assert len(channel_edge.points) == 2  # pulled next to publish
    long = [e for e in placed.edges if len(e.points) > 2]
    assert long  # the sign-off's way to the second total runs through lanes past the deep chain


def test_svg_fits_its_view_with_a_readable_minimum():
    svg = dag_svg(eleven.nodes, {}, eleven.order)
    root = ET.fromstring(svg)
    width = int(root.get("width"))
    assert root.get("viewBox") == f"0 0 {width} {root.get('height')}"
    assert "width:100%" in root.get("style") and f"min-width:{round(width * MIN_SCALE)}px" in root.get("style")
    view = dag_html(eleven.nodes, {}, eleven.order)
    assert view.startswith('<div class="gatewidgets-dag-view">') and 'type="checkbox"' in view and svg in view


def test_waiting_gate_stands_out_and_ids_stay_in_the_tooltip():
    gate = next(nid for nid, n in eleven.nodes.items() if n.name == "sign-off")
    root = ET.fromstring(dag_svg(eleven.nodes, {gate: NodeState.WAITING}, eleven.order))
    group = next(g for g in root.findall(f"{SVG}g") if g.get("data-node") == gate)
    assert "gw-dag-waiting" in group.get("class") and group.find(f"{SVG}rect").get("stroke-width") == "3"
    assert "waiting for you" in "".join(group.itertext())
    assert gate in group.find(f"{SVG}title").text
    shown = "".join("".join(t.itertext()) for g in root.findall(f"{SVG}g") for t in g.findall(f"{SVG}text"))
    assert not any(nid in shown.split() for nid in eleven.nodes)
