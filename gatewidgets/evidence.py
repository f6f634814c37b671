"""Render a value as evidence for an approval card: text, sanitised HTML, at most one PNG.

Pure (no widgets, no store): the executor calls :func:`render` when an approve gate is
reached and stores the result with the signal, so every face and process shows it.
DataFrames become a table (head, with the row and column counts), figures and images a
PNG, dicts / lists / dataclasses / pydantic models a collapsible tree, text and numbers
inline, files their name, size and first lines (or a thumbnail). Large parts are folded
under "show more"; every size is capped; HTML always goes through :func:`sanitize`, and an
image is kept only as the base64 of bytes checked to be a PNG (:func:`png_base64`).

A card never trusts evidence it reads from a store or receives over a wire: it shows
:func:`to_html` of it, which checks all of it again.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import html
import io
import os
import struct
import zlib
from typing import Any

import nh3
from markdown_it import MarkdownIt

from gatewidgets.models.signal import Evidence, Signal

__all__ = ["render", "sanitize", "description_html", "markdown_html",
           "png_base64", "to_html", "file_preview", "IMAGE_DROPPED", "MAX_HTML", "MAX_PNG",
           "MAX_PNG_SIDE", "MAX_TEXT"]

MAX_TEXT = 4_000  # characters of text/plain
MAX_HTML = 64_000  # characters of HTML
MAX_PNG = 300_000  # bytes of PNG (before base64)
MAX_PNG_SIDE = 10_000  # pixels, width and height of a PNG
ROWS = 10  # DataFrame rows shown before "show more"
MORE_ROWS = 50  # rows under "show more"
ITEMS = 20  # items per level of a tree
DEPTH = 4  # levels of a tree
INLINE = 300  # characters of text shown before "show more"
FILE_LINES = 10
KINDS = ("text", "number", "table", "tree", "image", "file", "html")
IMAGE_DROPPED = (f"(image left out: not a PNG of at most {MAX_PNG:,} bytes and {MAX_PNG_SIDE:,}×{MAX_PNG_SIDE:,} "
                 "pixels)")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_MIN = len(_PNG_SIGNATURE) + 25 + len(_PNG_END)  # the signature, an IHDR chunk, the IEND chunk

_TAGS = {"a", "abbr", "b", "br", "caption", "code", "details", "div", "em", "hr", "i", "li", "ol", "p", "pre",
         "s", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
         "tr", "u", "ul", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "dl", "dt", "dd"}
_ATTRS = {"*": {"class", "title"}, "a": {"href"}, "td": {"colspan", "rowspan", "align"},
          "th": {"colspan", "rowspan", "align"}, "table": {"border"}, "details": {"open"}}


def sanitize(markup: str) -> str:
    """HTML safe to show anywhere: no scripts, styles, event handlers, ``javascript:`` or ``data:`` URLs."""
    return nh3.clean(markup, tags=_TAGS, attributes=_ATTRS, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer", strip_comments=True)


_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def markdown_html(text: str | None) -> str:
    """Markdown to sanitised HTML (raw HTML in it escaped, not passed through)."""
    return sanitize(_MARKDOWN.render(text)) if text else ""


def description_html(signal: Signal) -> str:
    """A signal's description as every face shows it: its Markdown rendered and sanitised, or, for a description
    written as text (``description_format == "text"``), escaped with its line breaks kept."""
    text = signal.description
    if not text:
        return ""
    if signal.description_format == "text":
        return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"
    return markdown_html(text)


def png_base64(data: str | bytes | None) -> str | None:
    """The base64 of ``data`` (PNG bytes, or base64 text: whitespace aside, nothing but base64) re-encoded from
    its bytes, when they are a PNG of at most :data:`MAX_PNG` bytes: the PNG signature, an intact IHDR chunk
    first (width and height 1 to :data:`MAX_PNG_SIDE`), an IEND chunk last. None for anything else."""
    if isinstance(data, str):
        data = "".join(data[: MAX_PNG * 2].split())
        if len(data) > (MAX_PNG + 2) // 3 * 4:
            return None
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):  # a character outside base64 (ValueError: outside ASCII)
            return None
    if not isinstance(data, (bytes, bytearray)) or not _PNG_MIN <= len(data) <= MAX_PNG:
        return None
    data = bytes(data)
    length, chunk = struct.unpack(">I4s", data[8:16])
    width, height = struct.unpack(">II", data[16:24])
    if (not data.startswith(_PNG_SIGNATURE) or (length, chunk) != (13, b"IHDR") or not data.endswith(_PNG_END)
            or struct.unpack(">I", data[29:33])[0] != zlib.crc32(data[12:29])
            or not (1 <= width <= MAX_PNG_SIDE and 1 <= height <= MAX_PNG_SIDE)):
        return None
    return base64.b64encode(data).decode("ascii")


def render(value: Any) -> Evidence:
    """The evidence of ``value`` (never raises: an object that fails to render shows its ``repr``)."""
    try:
        evidence = _render(value)
    except Exception as exc:  # a broken __repr__ / _repr_html_ must not fail the gate
        evidence = Evidence(text=f"<{type(value).__name__}: could not be rendered ({type(exc).__name__})>")
    return _checked(evidence, _cut(evidence.text, MAX_TEXT))


def _checked(evidence: Evidence, text: str) -> Evidence:
    """``evidence`` with ``text``, its HTML sanitised (and capped), its image kept only if :func:`png_base64`
    accepts it (else a note in the text), its kind one of :data:`KINDS`."""
    markup = evidence.html
    if markup is not None:
        markup = sanitize(markup)
        if len(markup) > MAX_HTML:
            markup = sanitize(_fold(text, MAX_HTML // 2))
    png = png_base64(evidence.png)
    kind = evidence.kind if evidence.kind in KINDS else "text"
    if evidence.png is not None and png is None:
        text = f"{text}\n{IMAGE_DROPPED}"
        markup = None if markup is None else f"{markup}<p><small>{html.escape(IMAGE_DROPPED)}</small></p>"
        kind = "text" if kind == "image" else kind
    return Evidence(text=text, html=markup, png=png, kind=kind)


def to_html(evidence: Evidence | None) -> str:
    """Evidence as card HTML, however it was stored or received: its HTML sanitised again (or its text escaped),
    its image checked again and written as ``<img>`` from the re-encoded base64, every attribute escaped."""
    if evidence is None:
        return ""
    evidence = _checked(evidence, evidence.text)
    body = evidence.html if evidence.html else f"<pre>{html.escape(evidence.text)}</pre>"
    if evidence.png is not None:
        body += (f'<img alt="{html.escape(evidence.text[:200], quote=True)}" '
                 f'src="data:image/png;base64,{evidence.png}">')
    return f'<div class="gw-evidence gw-evidence-{evidence.kind}">{body}</div>'


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
    if png is not None:  # checked (and dropped with a note unless a PNG) by render
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
    """What ``value._repr_png_()`` returned as base64 text, unchecked ("" when it is neither bytes nor text);
    None when it has no PNG to give."""
    method = getattr(value, "_repr_png_", None)
    if not callable(method) or isinstance(value, type):
        return None
    data = method()
    if isinstance(data, tuple):  # (data, metadata)
        data = data[0]
    if data is None or isinstance(data, str):
        return data
    return base64.b64encode(data).decode("ascii") if isinstance(data, (bytes, bytearray)) else ""


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
    png = png_base64(head) if _is_png(name) and len(head) == size else None
    if png is not None:
        return Evidence(text=label, html=title, png=png, kind="file")
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
