"""``DecisionList``: one compact row per signal, drawn in the browser from a JSON list (one widget model
for a thousand rows). A signal with a policy shows where its decision stands and, when the viewer may not
answer it, a lock with the reason. A click, Enter or Space on a row sets ``expanded`` to its key: the dashboard
then shows that signal's full card. Arrow keys (or j/k), Home and End move between rows.
"""
from __future__ import annotations

import anywidget
import traitlets

__all__ = ["DecisionList"]

_ESM = r"""
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
  '"': "&quot;", "'": "&#39;"})[c]);

function ago(iso, now) {
  if (!iso) return "";
  let s = Math.round((now - Date.parse(iso)) / 1000);
  const future = s < 0;
  s = Math.abs(s);
  const text = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ?
    `${Math.floor(s / 3600)}h ${Math.floor(s % 3600 / 60)}m` :
    `${Math.floor(s / 86400)}d ${Math.floor(s % 86400 / 3600)}h`;
  return future ? `in ${text}` : `${text} ago`;
}

function render({ model, el }) {
  el.classList.add("gatewidgets-decisions");
  const list = document.createElement("div");
  list.className = "gw-rows";
  list.setAttribute("role", "grid");
  list.setAttribute("aria-label", "pending decisions");
  list.dataset.lmSuppressShortcuts = "true";  // arrows, j/k and Enter move here, not between notebook cells
  el.appendChild(list);
  let focused = 0;

  const draw = () => {
    const rows = model.get("rows"), open = model.get("expanded"), grouped = model.get("grouped");
    const now = Date.now(), parts = [];
    parts.push('<div class="gw-row gw-row-head" role="row"><span>signal</span><span>execution</span>' +
      '<span>workflow</span><span>waiting since</span><span>deadline</span><span>decision</span></div>');
    let group = null;
    rows.forEach((r, i) => {
      if (grouped && r.execution !== group) {
        group = r.execution;
        const n = rows.filter((x) => x.execution === group).length;
        parts.push(`<div class="gw-group" role="row">${esc(group)} · ${esc(r.workflow)} · ${n}</div>`);
      }
      const late = r.deadline && Date.parse(r.deadline) < now;
      parts.push(`<div class="gw-row gw-row-${esc(r.state.toLowerCase())}${r.key === open ? " gw-row-open" : ""}` +
        `${r.orphaned ? " gatewidgets-orphaned" : ""}" role="row" tabindex="-1" data-key="${esc(r.key)}" ` +
        `data-index="${i}" aria-expanded="${r.key === open}">` +
        `<span><b>${esc(r.signal)}</b> <span class="gw-muted">${esc(r.kind)}</span>` +
        (r.state !== "PENDING" ? ` <span class="gw-badge gw-badge-${esc(r.state)}">${esc(r.state)}</span>` : "") +
        "</span>" +
        `<span><code>${esc(r.execution)}</code></span><span>${esc(r.workflow)}</span>` +
        `<span title="${esc(r.waiting)}">${esc(ago(r.waiting, now))}</span>` +
        `<span title="${esc(r.deadline)}"${late ? ' class="gw-late"' : ""}>` +
        `${r.deadline ? esc(ago(r.deadline, now)) : '<span class="gw-muted">none</span>'}</span>` +
        `<span class="gw-decision" title="${esc(r.rules)}">${esc(r.standing)}` +
        (r.why ? ` <span class="gw-not-mine" title="${esc(r.why)}">&#128274; ${esc(r.why)}</span>` : "") +
        "</span></div>");
    });
    list.innerHTML = parts.join("");
  };
  const rowEls = () => list.querySelectorAll(".gw-row[data-key]");
  const focusRow = (i, focus = true) => {
    const els = rowEls();
    if (!els.length) return;
    focused = Math.max(0, Math.min(els.length - 1, i));
    els.forEach((e) => e.setAttribute("tabindex", "-1"));
    els[focused].setAttribute("tabindex", "0");
    if (focus) els[focused].focus();
  };
  const toggle = (key) => {
    model.set("expanded", model.get("expanded") === key ? "" : key);
    model.save_changes();
  };
  list.addEventListener("click", (event) => {
    const row = event.target.closest(".gw-row[data-key]");
    if (!row) return;
    focusRow(Number(row.dataset.index));
    toggle(row.dataset.key);
  });
  list.addEventListener("keydown", (event) => {
    const row = event.target.closest(".gw-row[data-key]");
    const i = row ? Number(row.dataset.index) : focused;
    const moves = {ArrowDown: i + 1, j: i + 1, ArrowUp: i - 1, k: i - 1, Home: 0, End: rowEls().length - 1};
    if (event.key in moves) {
      focusRow(moves[event.key]);
    } else if ((event.key === "Enter" || event.key === " ") && row) {
      toggle(row.dataset.key);
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();  // the notebook's own shortcuts stay out of it
  });
  const redraw = () => {  // a row that had the keyboard keeps it
    const had = list.contains(document.activeElement);
    draw();
    focusRow(focused, had);
  };
  const mark = () => {  // only the rows whose state changed, not the whole list
    const open = model.get("expanded");
    list.querySelectorAll(".gw-row-open").forEach((e) => {
      e.classList.remove("gw-row-open");
      e.setAttribute("aria-expanded", "false");
    });
    const row = open && list.querySelector(`.gw-row[data-key="${CSS.escape(open)}"]`);
    if (row) {
      row.classList.add("gw-row-open");
      row.setAttribute("aria-expanded", "true");
    }
  };
  model.on("change:rows", redraw);
  model.on("change:expanded", mark);
  model.on("change:grouped", redraw);
  const timer = setInterval(redraw, 30000);  // "waiting since" keeps counting
  redraw();
  return () => clearInterval(timer);
}
export default { render };
"""

_CSS = """
.gatewidgets-decisions .gw-rows { max-height: 480px; overflow: auto; border: 1px solid #ddd; border-radius: 4px;
  font-size: 12px; }
.gatewidgets-decisions .gw-row { display: grid; grid-template-columns: 2fr 1.7fr 1.3fr .9fr .9fr 2.4fr; gap: 8px;
  padding: 3px 8px; border-bottom: 1px solid #eee; cursor: pointer; white-space: nowrap; }
.gatewidgets-decisions .gw-row > span { overflow: hidden; text-overflow: ellipsis; }
.gatewidgets-decisions .gw-row[data-key] { content-visibility: auto; contain-intrinsic-size: auto 21px; }
.gatewidgets-decisions .gw-row-head { position: sticky; top: 0; background: var(--jp-layout-color2, #f3f3f3);
  font-weight: 600; cursor: default; z-index: 1; }
.gatewidgets-decisions .gw-row-pending { border-left: 3px solid #ef6c00; }
.gatewidgets-decisions .gw-row:not(.gw-row-head):hover { background: var(--jp-layout-color2, #f5f5f5); }
.gatewidgets-decisions .gw-row:focus { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: -2px; }
.gatewidgets-decisions .gw-row-open { background: var(--jp-brand-color3, #e3f2fd); }
.gatewidgets-decisions .gw-group { padding: 4px 8px; font-weight: 600; background: var(--jp-layout-color1, #fafafa);
  border-bottom: 1px solid #ddd; }
.gatewidgets-decisions .gw-late { color: #c62828; font-weight: 600; }
.gatewidgets-decisions .gw-not-mine { color: #ad5700; }
.gatewidgets-decisions .gw-muted { color: #777; }
.gatewidgets-decisions .gw-badge { color: white; border-radius: 8px; padding: 0 6px; font-size: 85%;
  background: #616161; }
.gatewidgets-decisions .gw-badge-SET { background: #2e7d32; }
.gatewidgets-decisions .gw-badge-TIMED_OUT { background: #6a1b9a; }
.gatewidgets-decisions .gw-badge-UPCOMING { background: #9e9e9e; }
"""


class DecisionList(anywidget.AnyWidget):
    """Compact rows (``rows``: dicts with key, signal, kind, state, execution, workflow, waiting and
    deadline as ISO times, orphaned, and for a signal with a policy ``standing`` (the count line), ``rules`` (who
    may answer) and ``why`` (why the viewer may not; "" when they may)); ``expanded`` is the key of the row
    shown as a card, or ``""``."""

    _esm = _ESM
    _css = _CSS
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    expanded = traitlets.Unicode("").tag(sync=True)
    grouped = traitlets.Bool(False, help="Group the rows by execution, with a header per group.").tag(sync=True)
