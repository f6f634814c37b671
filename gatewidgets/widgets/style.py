"""The one stylesheet of gatewidgets' widgets: a CSS class per card kind and state.

Cards carry ``gw-card``, ``gw-kind-<approve|input|sleep>`` and ``gw-state-<pending|set|...>``;
badges ``gw-badge gw-badge-<STATE>``; execution statuses ``gw-status gw-status-<STATUS>``. Every
card, execution view and dashboard includes :func:`stylesheet` (one shared widget model, so the
CSS is sent once).
"""
from __future__ import annotations

import ipywidgets as w

__all__ = ["CSS", "stylesheet", "state_class", "kind_class", "shared_layout", "shared_style", "html"]

CSS = """
.gw-card { border: 1px solid #ddd; border-radius: 4px; padding: 6px 10px; margin: 4px 0; }
.gw-card.gw-state-pending { border-left: 4px solid #ef6c00; }
.gw-card.gw-state-upcoming { border-left: 4px solid #9e9e9e; }
.gw-card.gw-state-set { border-left: 4px solid #2e7d32; }
.gw-card.gw-state-timed_out { border-left: 4px solid #6a1b9a; }
.gw-card.gw-state-cancelled { border-left: 4px solid #616161; opacity: .85; }
.gw-card.gatewidgets-orphaned { border: 1px dashed #ad5700; }
.gw-badge { color: white; border-radius: 8px; padding: 1px 7px; font-size: 85%; background: #616161; }
.gw-badge-UPCOMING { background: #9e9e9e; } .gw-badge-PENDING { background: #ef6c00; }
.gw-badge-SET { background: #2e7d32; } .gw-badge-TIMED_OUT { background: #6a1b9a; }
.gw-badge-CANCELLED { background: #616161; }
.gw-muted { color: #666; }
.gw-error-text, .gatewidgets-error .gw-error-text { color: #c62828; white-space: pre-wrap; }
.gw-evidence { max-height: 420px; overflow: auto; margin: 4px 0; padding: 4px 6px;
               background: var(--jp-layout-color1, #fafafa); border-radius: 3px; }
.gw-evidence table { border-collapse: collapse; font-size: 90%; }
.gw-evidence th, .gw-evidence td { padding: 2px 6px; border-bottom: 1px solid #e0e0e0; text-align: right; }
.gw-evidence img { max-width: 480px; max-height: 320px; }
.gw-evidence pre { margin: 2px 0; white-space: pre-wrap; }
.gw-evidence details > summary, .gw-history summary { cursor: pointer; color: #1565c0; }
.gw-evidence ul { margin: 0; padding-left: 18px; list-style: none; }
.gw-comment { font-style: italic; }
.gw-standing { font-weight: 600; }
.gw-why-not { color: #ad5700; }
.gw-inbox-link { color: var(--jp-content-link-color, #1565c0); font-size: 90%; }
.gw-field-label { font-weight: 600; }
.gw-preview { margin: 4px 0; }
.gw-preview img { max-width: 240px; max-height: 160px; }
.gw-history table { font-size: 85%; }
.gw-status { color: white; border-radius: 8px; padding: 1px 7px; background: #616161; }
.gw-status-RUNNING { background: #1565c0; } .gw-status-SUCCEEDED { background: #2e7d32; }
.gw-status-FAILED { background: #c62828; } .gw-status-ABORTED { background: #616161; }
.gw-traceback { font-size: 85%; }
.gw-orphans { color: #ad5700; }
.gatewidgets-dag-widget { width: calc(100% - 2 * var(--jp-widgets-margin, 2px)); min-width: 0; }
.gatewidgets-dag-widget > .widget-html-content { width: 100%; min-width: 0; }
.gatewidgets-dag-view { max-width: 100%; min-width: 0; }
.gw-dag-zoom { font-size: 11px; color: #666; cursor: pointer; user-select: none; }
.gw-dag-scroll { overflow: auto; max-width: 100%; max-height: 560px; }
.gw-dag-scroll > svg { display: block; }
.gatewidgets-dag-view:has(.gw-dag-zoom input:checked) .gw-dag-scroll > svg { width: auto !important;
  min-width: 0 !important; max-width: none !important; height: auto !important; }
"""

_sheet: w.HTML | None = None


def stylesheet() -> w.HTML:
    """The shared ``<style>`` widget (one model; each card shows a view of it)."""
    global _sheet
    if _sheet is None or _sheet.comm is None:
        _sheet = w.HTML(f"<style>{CSS}</style>", layout=w.Layout(display="none"))
        _sheet.add_class("gw-stylesheet")
    return _sheet


def state_class(state: str) -> str:
    return f"gw-state-{state.lower()}"


def kind_class(kind: str) -> str:
    return f"gw-kind-{kind}"


_shared: dict[str, w.Widget] = {}


def shared_layout(name: str = "plain", **css: str) -> w.Layout:
    """One ``Layout`` reused by every widget that asks for ``name`` (never mutate it).

    ipywidgets makes a layout (and a style) model per widget; a card has a dozen parts, so
    sharing them halves the models a dashboard page creates and sends."""
    layout = _shared.get(f"layout:{name}")
    if layout is None or layout.comm is None:
        layout = _shared[f"layout:{name}"] = w.Layout(**css)
    return layout


def shared_style(cls: type[w.Widget]) -> w.Widget:
    """One style model of ``cls`` (``HTMLStyle``, ``ButtonStyle``, ...) reused by every widget (never mutate it)."""
    style = _shared.get(f"style:{cls.__name__}")
    if style is None or style.comm is None:
        style = _shared[f"style:{cls.__name__}"] = cls()
    return style


def html(value: str = "") -> w.HTML:
    """An ``HTML`` widget with the shared layout and style."""
    return w.HTML(value, layout=shared_layout(), style=shared_style(w.widget_string.HTMLStyle))
