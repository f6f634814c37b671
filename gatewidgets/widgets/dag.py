"""The DAG of an execution as an SVG picture, nodes coloured by state (pure Python)."""
from __future__ import annotations

import graphlib
import html
from typing import Any, Iterable, Mapping

from gatewidgets import kinds
from gatewidgets.formatting import clip
from gatewidgets.kinds.base import DagStyle

__all__ = ["dag_svg", "topological_order", "STATE_COLOURS"]

STATE_COLOURS = {
    "QUEUED": "#eeeeee", "RUNNING": "#90caf9", "WAITING": "#ffcc80", "SUCCEEDED": "#a5d6a7",
    "FAILED": "#ef9a9a", "SKIPPED": "#e0e0e0", "ABORTED": "#bdbdbd",
}
_W, _H, _DX, _DY, _PAD = 150, 40, 190, 58, 10
_STRUCTURAL = {"task": DagStyle(4, ""), "branch": DagStyle(4, "1 2"), "merge": DagStyle(4, "1 2"),
               "collect": DagStyle(4, "1 2"), "dynamic": DagStyle(4, "1 2"),  # dotted: conditionals, @dynamic
               "child": DagStyle(4, "6 3")}  # dashed: a child execution


def _layers(nodes: Mapping[str, Any], order: Iterable[str]) -> dict[str, int]:
    """Longest-path layering: a node sits one column right of its deepest upstream."""
    depth: dict[str, int] = {}
    for nid in order:
        ups = [depth[u] for u in nodes[nid].upstream if u in depth]
        depth[nid] = max(ups) + 1 if ups else 0
    return depth


def topological_order(nodes: Mapping[str, Any]) -> list[str]:
    """Node ids of ``nodes`` (objects with ``.upstream``: ids) upstream first; unknown upstream ids are ignored."""
    graph = {nid: set(node.upstream) & nodes.keys() for nid, node in nodes.items()}
    return list(graphlib.TopologicalSorter(graph).static_order())


def dag_svg(nodes: Mapping[str, Any], states: Mapping[str, Any], order: Iterable[str] | None = None,
            children: Mapping[str, Any] | None = None) -> str:
    """SVG of ``nodes`` (node id -> an object with ``.name``, ``.kind``, ``.upstream``: ids, e.g. a
    ``Node`` or a stored ``NodeRecord``) in topological ``order``; ``states`` maps node id to a
    ``NodeState`` (or its name). A child node shows its child execution: from ``children`` (node id ->
    its id) or the record's ``child_execution``."""
    order = list(order) if order is not None else list(nodes)
    depth = _layers(nodes, order)
    rows: dict[int, int] = {}
    pos: dict[str, tuple[int, int]] = {}
    for nid in order:
        col = depth[nid]
        row = rows.get(col, 0)
        rows[col] = row + 1
        pos[nid] = (_PAD + col * _DX, _PAD + row * _DY)
    width = _PAD * 2 + (max(depth.values(), default=0)) * _DX + _W
    height = _PAD * 2 + (max(rows.values(), default=1) - 1) * _DY + _H
    out = [f'<svg class="gatewidgets-dag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           '<defs><marker id="gw-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>']
    for nid in order:
        x2, y2 = pos[nid]
        for up in sorted(nodes[nid].upstream):
            if up not in pos:
                continue
            x1, y1 = pos[up]
            sx, sy, ex, ey = x1 + _W, y1 + _H / 2, x2, y2 + _H / 2
            mid = (sx + ex) / 2
            out.append(f'<path d="M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}" fill="none" stroke="#777" '
                       f'stroke-width="1.3" marker-end="url(#gw-arrow)"/>')
    for nid in order:
        node = nodes[nid]
        x, y = pos[nid]
        state = getattr(states.get(nid), "value", states.get(nid)) or "QUEUED"
        fill = STATE_COLOURS.get(str(state), "#eeeeee")
        rx, dash = _style(node.kind)
        label = html.escape(clip(node.name, 22))
        child = (children or {}).get(nid) or getattr(node, "child_execution", None)
        detail = clip(f"→ {str(child).rsplit('/', 1)[-1]}", 26) if child else f"{node.kind} · {str(state).lower()}"
        out.append(
            f'<g class="gatewidgets-node" data-node="{html.escape(nid)}" data-state="{html.escape(str(state))}">'
            f'<title>{html.escape(nid)} {html.escape(node.kind)} {html.escape(node.name)}: {html.escape(str(state))}'
            f'{html.escape(f" (execution {child})" if child else "")}</title>'
            f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="{rx}" fill="{fill}" stroke="#555"{dash}/>'
            f'<text x="{x + _W / 2}" y="{y + 16}" text-anchor="middle">{label}</text>'
            f'<text x="{x + _W / 2}" y="{y + 31}" text-anchor="middle" fill="#555" font-size="10">'
            f'{html.escape(detail)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _style(kind: str) -> tuple[int, str]:
    """Corner radius and dash attribute of a node of ``kind``: a structural kind, else a registered gate kind
    (``UnknownGateKindError`` for any other: an unknown node is never drawn as a task)."""
    style = _STRUCTURAL.get(str(kind)) or kinds.get(kind).dag_style
    return style.rx, f' stroke-dasharray="{style.dash}"' if style.dash else ""
