"""Evidence: what an approval card shows of the value to approve, rendered once and stored."""
from __future__ import annotations

import base64
import dataclasses
import json
import re
import time

import pytest

from gatewidgets import GateFile, GateRemote, SignalState, approve, task, workflow
from gatewidgets.evidence import MAX_HTML, MAX_TEXT, render, sanitize

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
                or m.startswith(("gatewidgets.store", "gatewidgets.executor", "gatewidgets.widgets"))}


def test_a_version_1_store_is_migrated(tmp_path) -> None:
    import sqlite3

    from gatewidgets.store.sqlite import _SCHEMA, SCHEMA_VERSION, SqliteStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the schema as version 1 wrote it: no context / detail columns
        conn.executescript(_SCHEMA)
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
