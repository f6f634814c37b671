"""Evidence: what an approval card shows of the value to approve, rendered once and stored."""
from __future__ import annotations

import base64
import dataclasses
import json
import re
import struct
import time
import zlib

import pytest

from gatewidgets import GateFile, GateRemote, SignalState, approve, task, workflow
from gatewidgets.evidence import (
    IMAGE_DROPPED,
    MAX_HTML,
    MAX_PNG,
    MAX_PNG_SIDE,
    MAX_TEXT,
    png_base64,
    render,
    sanitize,
    to_html,
)
from gatewidgets.models.signal import Evidence

HANDLER = re.compile(r"<[^>]*\son\w+\s*=", re.IGNORECASE)  # an event handler attribute inside a tag
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
                       "hKmMIQAAAABJRU5ErkJggg==")


class Hostile:
    def _repr_html_(self) -> str:
        return ('<b onmouseover="alert(1)">bold</b><script>alert(2)</script>'
                '<a href="javascript:alert(3)">link</a><img src=x onerror="alert(4)">'
                '<iframe src="https://evil"></iframe><a href="https://ok.example">fine</a>'
                '<style>body{display:none}</style><table><tr><td>cell</td></tr></table>')


class Picture:
    def _repr_png_(self) -> bytes:
        return PNG


@dataclasses.dataclass
class Claim:
    who: str
    items: list[int]


def test_numbers_and_text_inline():
    assert render(42).text == "42" and render(42).kind == "number" and "<code>42</code>" in render(42).html
    text = render("pay the bill")
    assert text.kind == "text" and "pay the bill" in text.html and "show more" not in text.html
    long = render("x" * 5000)
    assert "show more" in long.html and len(long.text) <= MAX_TEXT


def test_dataframe_is_a_table_with_counts_and_show_more():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"amount": range(25), "who": ["ann"] * 25})
    ev = render(frame)
    assert ev.kind == "table" and "25 rows × 2 columns" in ev.html and "<table" in ev.html
    assert "<summary>show more</summary>" in ev.html and "25 rows × 2 columns" in ev.text


def test_dict_list_dataclass_are_collapsible_trees():
    ev = render({"a": 1, "b": [1, 2, {"c": "d"}]})
    assert ev.kind == "tree" and ev.html.startswith("<details") and "<b>a</b>" in ev.html
    ev = render(Claim("ann", list(range(30))))
    assert "Claim (2 items)" in ev.html and "… 10 more" in ev.html
    assert render([1, 2]).kind == "tree"


def test_image_and_figure_are_png():
    ev = render(Picture())
    assert ev.kind == "image" and base64.b64decode(ev.png) == PNG
    plt = pytest.importorskip("matplotlib.pyplot")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    assert render(fig).png and render(fig).kind == "image"


def test_file_shows_name_size_first_lines_or_thumbnail(tmp_path):
    text = tmp_path / "receipt.txt"
    text.write_text("\n".join(f"line {i}" for i in range(30)))
    ev = render(GateFile(text))
    assert ev.kind == "file" and "receipt.txt" in ev.text and "line 0" in ev.html and "line 29" not in ev.html
    image = tmp_path / "scan.png"
    image.write_bytes(PNG)
    assert base64.b64decode(render(GateFile(image)).png) == PNG


def test_hostile_html_is_sanitised():
    ev = render(Hostile())
    for bad in ("<script", "onmouseover", "onerror", "javascript:", "<iframe", "<style", "alert(2)"):
        assert bad not in ev.html
    assert "<b>bold</b>" in ev.html and 'href="https://ok.example"' in ev.html and "<td>cell</td>" in ev.html


def test_sanitize_drops_data_urls_and_handlers():
    out = sanitize('<a href="data:text/html,<script>x</script>" onclick="x()">a</a><details open><summary>s</summary>'
                   '</details>')
    assert "data:" not in out and "onclick" not in out and "<details" in out


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int = 1, height: int = 1, extra: bytes = b"") -> bytes:
    return (PNG[:8] + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(b"\0\0")) + extra + _chunk(b"IEND", b""))


class Claims:
    """A value whose ``_repr_png_`` gives whatever it was made with."""

    def __init__(self, png: object) -> None:
        self.png = png

    def _repr_png_(self) -> object:
        return self.png


def test_only_checked_png_bytes_are_kept_as_an_image():
    encoded = base64.b64encode(PNG).decode()
    assert png_base64(PNG) == png_base64(encoded) == png_base64(f" {encoded[:40]}\n{encoded[40:]}\n") == encoded
    assert png_base64(_png(MAX_PNG_SIDE, MAX_PNG_SIDE)) and png_base64(_png(extra=_chunk(b"tEXt", b'a\0"><script>')))
    bad_crc = bytearray(_png())
    bad_crc[20] ^= 1
    not_png = [b"", PNG[:-1], PNG[:30], b"GIF89a" + PNG[6:], _png().replace(b"IHDR", b"IHDX"), bytes(bad_crc),
               _png(0, 1), _png(1, MAX_PNG_SIDE + 1), _png(extra=_chunk(b"tEXt", b"x" * MAX_PNG)), PNG + b"<script>",
               'AAAA" onerror="fetch(1)', encoded + '" onerror="x', encoded[:-2], encoded + "=", "é" + encoded, None]
    assert [png_base64(data) for data in not_png] == [None] * len(not_png)  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ['AAAA" onerror="fetch(1)', "iVBORw0KGgo=", b"<svg onload=alert(1)>", 42,
                                   base64.b64encode(_png(1, MAX_PNG_SIDE + 1)).decode()])
def test_an_image_that_is_no_png_is_left_out_with_a_note(given):
    ev = render(Claims(given))
    assert ev.png is None and ev.kind == "text" and ev.text.endswith(IMAGE_DROPPED)
    assert "<img" not in to_html(ev) and IMAGE_DROPPED in to_html(ev)
    assert render(Claims(None)).kind == "text" and IMAGE_DROPPED not in render(Claims(None)).text  # no image offered


def test_a_file_named_png_is_shown_as_an_image_only_if_it_is_one(tmp_path):
    fake = tmp_path / "scan.png"
    fake.write_bytes(b'"><script>alert(1)</script>')
    ev = render(GateFile(fake))
    assert ev.png is None and "&lt;script&gt;" in ev.html and "<img" not in to_html(ev)


def test_to_html_checks_evidence_again_whoever_stored_it():
    """A card shows evidence read from a store or a wire sanitised, its image re-checked, attributes escaped."""
    image = base64.b64encode(PNG).decode()
    shown = to_html(Evidence(text='" onerror="alert(1)', html="<b>ok</b><script>alert(2)</script>", png=image,
                             kind='x" onload="alert(3)'))
    assert shown == ('<div class="gw-evidence gw-evidence-text"><b>ok</b><img alt="&quot; onerror=&quot;alert(1)" '
                     f'src="data:image/png;base64,{image}"></div>')
    shown = to_html(Evidence(text="t", png='AAAA" onerror="alert(1)', kind="image"))
    assert "<img" not in shown and "onerror" not in shown and IMAGE_DROPPED in shown
    assert Evidence.from_dict({"text": 5, "html": ["<script>"], "png": None, "kind": "file", "extra": 1}) == Evidence(
        text="", html=None, png=None, kind="file")
    assert Evidence.from_dict("<script>") is None and Evidence.from_dict(None) is None


def test_broken_repr_never_fails_and_size_is_capped():
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert "could not be rendered" in render(Broken()).text

    class Huge:
        def _repr_html_(self) -> str:
            return "<p>" + "y" * (MAX_HTML * 2) + "</p>"

    assert len(render(Huge()).html) <= MAX_HTML


@task
def hostile() -> str:
    return "<script>alert(1)</script><b onclick='x()'>pay</b>"


@workflow
def hostile_wf() -> str:
    return approve(hostile(), "ok", timeout=None)


def test_stored_evidence_is_sanitised_and_read_by_other_processes(gatewidgets_store):
    import subprocess
    import sys

    ex = hostile_wf.launch()
    remote = GateRemote.for_sandbox()
    deadline = time.monotonic() + 5
    while remote.get_signal("ok", ex.name).state is not SignalState.PENDING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stored = remote.get_signal("ok", ex.name).evidence
    assert "<script" not in stored.html and not HANDLER.search(stored.html) and "&lt;script&gt;" in stored.html
    out = subprocess.run([sys.executable, "-m", "gatewidgets", "list", "--json"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    evidence = json.loads(out)["signals"][0]["evidence"]
    assert evidence["kind"] == "text" and "<script" not in evidence["html"]
    ex.abort()


def test_evidence_module_is_pure() -> None:
    """Rendering imports no widgets, store or executor (the executor calls it; every face shows its result)."""
    import ast

    import gatewidgets.evidence as module

    tree = ast.parse(open(module.__file__).read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.split(".")[0] in ("IPython", "ipywidgets")
                or m.startswith(("gatewidgets.store", "gatewidgets.engine", "gatewidgets.widgets"))}


def test_a_version_1_store_is_migrated(tmp_path) -> None:
    import sqlite3

    from gatewidgets.store.sqlite import SCHEMA, SCHEMA_VERSION, SqliteStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the schema as version 1 wrote it: no context / detail columns
        conn.executescript(SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    store = SqliteStore(path)
    try:
        conn = store._conn()
        assert "context" in {r[1] for r in conn.execute("PRAGMA table_info(signals)")}
        assert "detail" in {r[1] for r in conn.execute("PRAGMA table_info(events)")}
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    finally:
        store.close()
    SqliteStore(path).close()  # opening again changes nothing
