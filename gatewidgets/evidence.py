"""Render a value as evidence for an approval card: text, sanitised HTML, at most one PNG.

Pure (no widgets, no store): the executor calls :func:`render` when an approve gate is
reached and stores the result with the signal, so every face and process shows it.
DataFrames become a table (head, with the row and column counts), figures and images a
PNG, dicts / lists / dataclasses / pydantic models a collapsible tree, text and numbers
inline, files their name, size and first lines (or a thumbnail). Large parts are folded
under "show more"; every size is capped; HTML always goes through :func:`sanitize`.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import os
from typing import Any

import nh3

from gatewidgets.models.signal import Evidence

__all__ = ["render", "sanitize", "file_preview", "MAX_HTML", "MAX_PNG", "MAX_TEXT"]

MAX_TEXT = 4_000  # characters of text/plain
MAX_HTML = 64_000  # characters of HTML
MAX_PNG = 300_000  # bytes of PNG (before base64)
ROWS = 10  # DataFrame rows shown before "show more"
MORE_ROWS = 50  # rows under "show more"
ITEMS = 20  # items per level of a tree
DEPTH = 4  # levels of a tree
INLINE = 300  # characters of text shown before "show more"
FILE_LINES = 10

_TAGS = {"a", "abbr", "b", "br", "caption", "code", "details", "div", "em", "hr", "i", "li", "ol", "p", "pre",
         "s", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
         "tr", "u", "ul", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "dl", "dt", "dd"}
_ATTRS = {"*": {"class", "title"}, "a": {"href"}, "td": {"colspan", "rowspan", "align"},
          "th": {"colspan", "rowspan", "align"}, "table": {"border"}, "details": {"open"}}


def sanitize(markup: str) -> str:
    """HTML safe to show anywhere: no scripts, styles, event handlers, ``javascript:`` or ``data:`` URLs."""
    return nh3.clean(markup, tags=_TAGS, attributes=_ATTRS, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer", strip_comments=True)


def render(value: Any) -> Evidence:
    """The evidence of ``value`` (never raises: an object that fails to render shows its ``repr``)."""
    try:
        evidence = _render(value)
    except Exception as exc:  # a broken __repr__ / _repr_html_ must not fail the gate
        evidence = Evidence(text=f"<{type(value).__name__}: could not be rendered ({type(exc).__name__})>")
    markup = evidence.html
    if markup is not None:
        markup = sanitize(markup)
        if len(markup) > MAX_HTML:
            markup = sanitize(_fold(evidence.text, MAX_HTML // 2))
    png = evidence.png if evidence.png is not None and len(evidence.png) <= MAX_PNG * 4 // 3 + 4 else None
    return Evidence(text=_cut(evidence.text, MAX_TEXT), html=markup, png=png, kind=evidence.kind)


def _render(value: Any) -> Evidence:
    if value is None or isinstance(value, (bool, int, float, complex)):
        return Evidence(text=repr(value), html=f"<code>{html.escape(repr(value))}</code>", kind="number")
    if isinstance(value, str):
        return Evidence(text=value, html=_fold(value, INLINE), kind="text")
    if _is_file(value):
        return _file(value)
    kind = type(value).__module__.split(".", 1)[0]
    if kind == "pandas" and hasattr(value, "to_html") and hasattr(value, "shape"):
        return _table(value)
    if kind == "matplotlib" and hasattr(value, "savefig"):
        return _figure(value)
    png = _repr_png(value)
    if png is not None:
        return Evidence(text=_repr(value), png=png, kind="image")
    if isinstance(value, (dict, list, tuple, set, frozenset)) or _fields(value) is not None:
        return Evidence(text=_repr(value), html=_tree(value, DEPTH), kind="tree")
    rich = getattr(value, "_repr_html_", None)
    if callable(rich):
        markup = rich()
        if isinstance(markup, str):
            return Evidence(text=_repr(value), html=markup, kind="html")
    text = _repr(value)
    return Evidence(text=text, html=_fold(text, INLINE, code=True), kind="text")


def _repr(value: Any) -> str:
    return _cut(repr(value), MAX_TEXT)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fold(text: str, limit: int, *, code: bool = False) -> str:
    """``text`` escaped; past ``limit`` characters the rest is under "show more" (capped)."""
    tag = "pre" if code or "\n" in text else "span"
    head, rest = text[:limit], _cut(text[limit:], MAX_TEXT)
    out = f'<{tag} class="gw-ev-text">{html.escape(head)}</{tag}>'
    if rest:
        out += f'<details class="gw-ev-more"><summary>show more</summary><{tag}>{html.escape(rest)}</{tag}></details>'
    return out


def _table(frame: Any) -> Evidence:
    rows, cols = frame.shape if len(frame.shape) == 2 else (frame.shape[0], 1)
    counts = f"{rows} row{'s' if rows != 1 else ''} × {cols} column{'s' if cols != 1 else ''}"
    head = frame.head(ROWS).to_html(max_cols=20, border=0)
    more = ""
    if rows > ROWS:
        more = (f'<details class="gw-ev-more"><summary>show more</summary>'
                f'{frame.iloc[ROWS:ROWS + MORE_ROWS].to_html(max_cols=20, border=0)}'
                f'{"<p>…</p>" if rows > ROWS + MORE_ROWS else ""}</details>')
    text = f"{type(frame).__name__} ({counts})\n{frame.head(ROWS).to_string(max_cols=20)}"
    return Evidence(text=text, html=f'<div class="gw-ev-table"><small>{counts}</small>{head}{more}</div>',
                    kind="table")


def _figure(figure: Any) -> Evidence:
    buf = io.BytesIO()
    for dpi in (72, 40):
        buf = io.BytesIO()
        figure.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        if buf.tell() <= MAX_PNG:
            break
    return Evidence(text=repr(figure), png=base64.b64encode(buf.getvalue()).decode("ascii"), kind="image")


def _repr_png(value: Any) -> str | None:
    method = getattr(value, "_repr_png_", None)
    if not callable(method) or isinstance(value, type):
        return None
    data = method()
    if isinstance(data, tuple):  # (data, metadata)
        data = data[0]
    if isinstance(data, str):
        return data if len(data) <= MAX_PNG * 4 // 3 + 4 else None
    if isinstance(data, (bytes, bytearray)) and len(data) <= MAX_PNG:
        return base64.b64encode(bytes(data)).decode("ascii")
    return None


def _fields(value: Any) -> dict[str, Any] | None:
    """The fields of a dataclass instance or a pydantic model, else None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if hasattr(value, "model_fields") and hasattr(value, "model_dump") and not isinstance(value, type):
        return {name: getattr(value, name) for name in type(value).model_fields}
    return None


def _tree(value: Any, depth: int) -> str:
    """A collapsible tree: containers are ``<details>`` (the top one open), leaves inline."""
    fields = _fields(value)
    if isinstance(value, dict) or fields is not None:
        items = list((fields if fields is not None else value).items())
        label = type(value).__name__
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(enumerate(value if not isinstance(value, (set, frozenset)) else sorted(value, key=repr)))
        label = f"{type(value).__name__}"
    else:
        return f"<code>{html.escape(_cut(repr(value), INLINE))}</code>"
    summary = f"{html.escape(label)} ({len(items)} item{'s' if len(items) != 1 else ''})"
    if depth == 0:
        return f"<code>{html.escape(_cut(repr(value), INLINE))}</code>"
    rows = "".join(f"<li><b>{html.escape(str(k))}</b>: {_tree(v, depth - 1)}</li>" for k, v in items[:ITEMS])
    if len(items) > ITEMS:
        rows += f"<li><i>… {len(items) - ITEMS} more</i></li>"
    is_open = " open" if depth == DEPTH else ""
    return f'<details class="gw-ev-tree"{is_open}><summary>{summary}</summary><ul>{rows}</ul></details>'


def _is_file(value: Any) -> bool:
    return type(value).__name__ in ("GateFile", "FlyteFile") and hasattr(value, "path")


def _file(value: Any) -> Evidence:
    path = os.fspath(value.path)
    name = getattr(value, "name", None) or os.path.basename(path)
    if not os.path.isfile(path):
        return Evidence(text=f"{name} (missing)", html=f"<b>{html.escape(name)}</b> (missing)", kind="file")
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(MAX_PNG if _is_png(name) else 4096)
    return file_preview(name, size, head)


def file_preview(name: str, size: int, head: bytes) -> Evidence:
    """A file's name, size and first lines (or a thumbnail of a PNG whose bytes are all in ``head``)."""
    label = f"{name} ({_size(size)})"
    title = f"<b>{html.escape(label)}</b>"
    if _is_png(name) and len(head) == size <= MAX_PNG:
        return Evidence(text=label, html=title, png=base64.b64encode(head).decode("ascii"), kind="file")
    if b"\0" in head[:4096]:
        return Evidence(text=label, html=f"{title} <small>binary</small>", kind="file")
    first = "\n".join(head[:4096].decode("utf-8", "replace").splitlines()[:FILE_LINES])
    return Evidence(text=f"{label}\n{first}", html=f"{title}<pre>{html.escape(first)}</pre>", kind="file")


def _is_png(name: str) -> bool:
    return name.lower().endswith(".png")


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"
