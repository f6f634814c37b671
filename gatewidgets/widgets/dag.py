"""The DAG of an execution as an SVG picture that fits its output area (pure Python, drawn by the kernel).

Layout, in the Sugiyama manner: nodes sit in layers by longest path (a node with no upstream sits just
left of its first consumer, so an input's edge never crosses the whole picture), an edge spanning several
layers runs through lanes of its own, nodes within a layer are ordered by barycenter sweeps, and every
edge leaves and enters at a port of its own (no two arrowheads meet). Names a workflow repeats read
``load-3`` (the names ``Execution.node()`` takes); waiting gates get a thick outline and the critical
path (the longest chain) darker edges.
:func:`dag_html` wraps the picture in a view scaled to the output width, never below ``MIN_SCALE``
(it scrolls inside the view past that), with an "actual size" toggle.
"""
from __future__ import annotations

import graphlib
import html
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from gatewidgets import kinds
from gatewidgets.formatting import clip, node_labels
from gatewidgets.kinds.base import DagStyle

__all__ = ["dag_svg", "dag_html", "layout", "Layout", "Edge", "topological_order", "STATE_COLOURS", "MIN_SCALE"]

STATE_COLOURS = {
    "QUEUED": "#eeeeee", "RUNNING": "#90caf9", "WAITING": "#ffcc80", "SUCCEEDED": "#a5d6a7",
    "FAILED": "#ef9a9a", "SKIPPED": "#e0e0e0", "ABORTED": "#bdbdbd",
}
MIN_SCALE = 0.6  # a fitted picture never shrinks below this (labels stay readable): the view scrolls instead
_W, _H, _DX, _GAP, _LANE, _PORT, _PAD, _SWEEPS = 150, 40, 200, 18, 16, 8, 10, 4
_STRUCTURAL = {"task": DagStyle(4, ""), "branch": DagStyle(4, "1 2"), "merge": DagStyle(4, "1 2"),
               "collect": DagStyle(4, "1 2"), "dynamic": DagStyle(4, "1 2"),  # dotted: conditionals, @dynamic
               "child": DagStyle(4, "6 3")}  # dashed: a child execution

Point = tuple[float, float]


@dataclass
class Edge:
    """One dependency as drawn: from ``source``'s right side to ``target``'s left side through ``points``."""

    source: str
    target: str
    points: list[Point] = field(default_factory=list)
    critical: bool = False


@dataclass
class Layout:
    """Where everything goes: node id -> (x, y, height) of its box (width ``_W``), the edges, the size."""

    boxes: dict[str, tuple[float, float, float]]
    edges: list[Edge]
    width: float
    height: float


def topological_order(nodes: Mapping[str, Any]) -> list[str]:
    """Node ids of ``nodes`` (objects with ``.upstream``: ids) upstream first; unknown upstream ids are ignored."""
    graph = {nid: set(node.upstream) & nodes.keys() for nid, node in nodes.items()}
    return list(graphlib.TopologicalSorter(graph).static_order())


def _layers(ups: Mapping[str, list[str]], downs: Mapping[str, list[str]], order: list[str]) -> dict[str, int]:
    """Longest-path layering, then every source moved right next to its nearest consumer."""
    depth: dict[str, int] = {}
    for nid in order:
        depth[nid] = max((depth[u] + 1 for u in ups[nid]), default=0)
    for nid in order:
        if not ups[nid] and downs[nid]:
            depth[nid] = min(depth[d] for d in downs[nid]) - 1
    return depth


def _critical(ups: Mapping[str, list[str]], order: list[str]) -> set[tuple[str, str]]:
    """The edges of a longest chain of nodes (the path that sets how many steps the run takes)."""
    length: dict[str, int] = {}
    via: dict[str, str] = {}
    for nid in order:
        best = max(ups[nid], key=lambda u: length[u], default=None)
        length[nid] = length[best] + 1 if best is not None else 0
        if best is not None:
            via[nid] = best
    end = max(order, key=lambda n: length[n], default=None)
    edges = set()
    while end in via:
        edges.add((via[end], end))
        end = via[end]
    return edges


def layout(nodes: Mapping[str, Any], order: Iterable[str] | None = None) -> Layout:
    """Place ``nodes`` (id -> object with ``.upstream``) in layers left to right and route their edges."""
    order = list(order) if order is not None else topological_order(nodes)
    ups = {nid: sorted(u for u in nodes[nid].upstream if u in nodes) for nid in order}
    downs: dict[str, list[str]] = {nid: [] for nid in order}
    for nid in order:
        for u in ups[nid]:
            downs[u].append(nid)
    depth = _layers(ups, downs, order)
    # items: real nodes and the lanes of long edges; links join items in neighbouring layers
    layer_of: dict[Any, int] = dict(depth)
    pred: dict[Any, list[Any]] = {nid: [] for nid in order}
    succ: dict[Any, list[Any]] = {nid: [] for nid in order}
    chains: list[tuple[str, str, list[Any]]] = []
    for nid in order:
        for u in ups[nid]:
            lanes = [(u, nid, k) for k in range(depth[u] + 1, depth[nid])]
            path = [u, *lanes, nid]
            for a, b in zip(path, path[1:]):
                succ.setdefault(a, []).append(b)
                pred.setdefault(b, []).append(a)
            layer_of.update({lane: lane[2] for lane in lanes})
            chains.append((u, nid, lanes))
    columns: list[list[Any]] = [[] for _ in range(max(layer_of.values(), default=-1) + 1)]
    for item in layer_of:
        columns[layer_of[item]].append(item)
    _order(columns, pred, succ)
    # heights: a node is tall enough for a port per edge on either side
    size = {item: (max(_H, _PORT * (max(len(ups[item]), len(downs[item])) + 1)) if item in depth else _LANE)
            for item in layer_of}
    totals = [sum(size[i] for i in col) + _GAP * max(0, len(col) - 1) for col in columns]
    tallest = max(totals, default=_H)
    top: dict[Any, float] = {}
    for c, col in enumerate(columns):
        y = _PAD + (tallest - totals[c]) / 2
        for item in col:
            top[item] = y
            y += size[item] + _GAP
    x = {item: _PAD + layer_of[item] * _DX for item in layer_of}
    boxes = {nid: (float(x[nid]), top[nid], float(size[nid])) for nid in order}
    mid = {item: top[item] + size[item] / 2 for item in layer_of}
    out_port = _ports([(u, lanes[0] if lanes else v, (u, v)) for u, v, lanes in chains], mid, top, size)
    in_port = _ports([(v, lanes[-1] if lanes else u, (u, v)) for u, v, lanes in chains], mid, top, size)
    critical = _critical(ups, order)
    edges = []
    for u, v, lanes in chains:
        points: list[Point] = [(x[u] + _W, out_port[(u, v)])]
        for lane in lanes:
            points += [(x[lane], mid[lane]), (x[lane] + _W, mid[lane])]
        points.append((x[v], in_port[(u, v)]))
        edges.append(Edge(u, v, points, (u, v) in critical))
    width = _PAD * 2 + (len(columns) - 1) * _DX + _W if columns else _PAD * 2 + _W
    return Layout(boxes, edges, width, _PAD * 2 + tallest)


def _order(columns: list[list[Any]], pred: Mapping[Any, list[Any]], succ: Mapping[Any, list[Any]]) -> None:
    """Order each layer (in place) by the mean position of the neighbours, sweeping down and up a few times."""
    rank: dict[Any, float] = {}
    for col in columns:
        rank.update({item: i for i, item in enumerate(col)})
    for _ in range(_SWEEPS):
        for sweep, near in ((columns[1:], pred), (columns[-2::-1], succ)):
            for col in sweep:
                keyed = sorted(col, key=lambda i: (sum(rank[n] for n in near[i]) / len(near[i])
                                                   if near.get(i) else rank[i]))
                col[:] = keyed
                rank.update({item: i for i, item in enumerate(keyed)})


def _ports(ends: list[tuple[Any, Any, tuple[str, str]]], mid: Mapping[Any, float], top: Mapping[Any, float],
           size: Mapping[Any, float]) -> dict[tuple[str, str], float]:
    """The y of each edge's own port on one side of a node: ``ends`` are (node, the item at the edge's
    other end, edge); a node's ports are spread evenly over its height, ordered like their other ends."""
    by_node: dict[Any, list[tuple[float, tuple[str, str]]]] = {}
    for node, other, edge in ends:
        by_node.setdefault(node, []).append((mid[other], edge))
    port = {}
    for node, items in by_node.items():
        items.sort()
        step = size[node] / (len(items) + 1)
        for i, (_y, edge) in enumerate(items):
            port[edge] = top[node] + step * (i + 1)
    return port


def _path(points: list[Point]) -> str:
    """Curves between layers, straight runs through a lane."""
    (x0, y0), parts = points[0], [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for i, (x1, y1) in enumerate(points[1:]):
        if i % 2:
            parts.append(f"L{x1:.1f},{y1:.1f}")
        else:
            m = (x0 + x1) / 2
            parts.append(f"C{m:.1f},{y0:.1f} {m:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(parts)


def dag_svg(nodes: Mapping[str, Any], states: Mapping[str, Any], order: Iterable[str] | None = None,
            children: Mapping[str, Any] | None = None) -> str:
    """SVG of ``nodes`` (node id -> an object with ``.name``, ``.kind``, ``.upstream``: ids, e.g. a
    ``Node`` or a stored ``NodeRecord``) in topological ``order``; ``states`` maps node id to a
    ``NodeState`` (or its name). A child node shows its child execution: from ``children`` (node id ->
    its id) or the record's ``child_execution``. Nodes read by their workflow names; the internal id
    is in the tooltip only."""
    order = list(order) if order is not None else topological_order(nodes)
    placed = layout(nodes, order)
    labels = node_labels({nid: str(node.name) for nid, node in nodes.items()})  # numbered as created
    width, height = round(placed.width), round(placed.height)
    out = [f'<svg class="gatewidgets-dag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" '
           f'style="width:100%;height:auto;max-width:{width}px;min-width:{round(width * MIN_SCALE)}px">',
           '<defs><marker id="gw-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
           'markerWidth="8" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#757575"/></marker>'
           '<marker id="gw-arrow-critical" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
           'markerWidth="8" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#263238"/></marker>'
           '</defs>']
    for edge in placed.edges:
        look = ('class="gw-dag-edge gw-dag-critical" stroke="#263238" stroke-width="2.2" '
                'marker-end="url(#gw-arrow-critical)"' if edge.critical else
                'class="gw-dag-edge" stroke="#9e9e9e" stroke-width="1.2" marker-end="url(#gw-arrow)"')
        out.append(f'<path d="{_path(edge.points)}" fill="none" {look} data-from="{html.escape(edge.source)}" '
                   f'data-to="{html.escape(edge.target)}"/>')
    for nid in order:
        node = nodes[nid]
        x, y, h = placed.boxes[nid]
        state = str(getattr(states.get(nid), "value", states.get(nid)) or "QUEUED")
        fill = STATE_COLOURS.get(state, "#eeeeee")
        rx, dash = _style(node.kind)
        waiting = state == "WAITING"
        stroke = ' stroke="#e65100" stroke-width="3"' if waiting else ' stroke="#555"'
        label = labels[nid]
        child = (children or {}).get(nid) or getattr(node, "child_execution", None)
        detail = clip(f"→ {str(child).rsplit('/', 1)[-1]}", 26) if child else \
            ("waiting for you" if waiting else f"{node.kind} · {state.lower()}")
        cy = y + h / 2
        out.append(
            f'<g class="gatewidgets-node{" gw-dag-waiting" if waiting else ""}" data-node="{html.escape(nid)}" '
            f'data-state="{html.escape(state)}" data-label="{html.escape(label)}">'
            f'<title>{html.escape(label)} ({html.escape(nid)}) {html.escape(str(node.kind))}: {html.escape(state)}'
            f'{html.escape(f" (execution {child})" if child else "")}</title>'
            f'<rect x="{x}" y="{y:.1f}" width="{_W}" height="{h:.1f}" rx="{rx}" fill="{fill}"{stroke}{dash}/>'
            f'<text x="{x + _W / 2}" y="{cy - 4:.1f}" text-anchor="middle">{html.escape(clip(label, 22))}</text>'
            f'<text x="{x + _W / 2}" y="{cy + 11:.1f}" text-anchor="middle" fill="#555" font-size="10">'
            f'{html.escape(detail)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def dag_html(nodes: Mapping[str, Any], states: Mapping[str, Any], order: Iterable[str] | None = None,
             children: Mapping[str, Any] | None = None) -> str:
    """:func:`dag_svg` in a view that fits the output width (scrolling inside past ``MIN_SCALE``), with an
    "actual size" toggle (plain HTML and the shared stylesheet: no script)."""
    return (f'<div class="gatewidgets-dag-view"><label class="gw-dag-zoom"><input type="checkbox"> actual size'
            f'</label><div class="gw-dag-scroll">{dag_svg(nodes, states, order, children)}</div></div>')


def _style(kind: str) -> tuple[int, str]:
    """Corner radius and dash attribute of a node of ``kind``: a structural kind, else a registered gate kind
    (``UnknownGateKindError`` for any other: an unknown node is never drawn as a task)."""
    style = _STRUCTURAL.get(str(kind)) or kinds.get(kind).dag_style
    return style.rx, f' stroke-dasharray="{style.dash}"' if style.dash else ""
