"""Issue 21, item 2: evidence never carries script onto a card.

Hostile payloads are set through every evidence field by workflows in another process; cards built in this
process — from the store and over ``GateRemote.for_jupyter`` against a real Jupyter server — are walked widget
by widget, and every HTML value (the DAG's SVG too) is parsed: no event handler, no ``javascript:``, no script,
no ``srcdoc``. A store tampered with behind the server's back is shown sanitised too.
"""
from __future__ import annotations

import base64
import html
import json
import re
import sqlite3
import subprocess
import sys
import zlib
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import ipywidgets as w
from _hostile_workflow import GATES, PAYLOADS, png
from _jupyter_server import Server
from _procs import stop
from helpers import eventually

from gatewidgets import ExecutionStatus, GateRemote, SignalState
from gatewidgets.evidence import IMAGE_DROPPED, png_base64
from gatewidgets.widgets import GateWidget, SignalDashboard, StoredExecutionWidget
from gatewidgets.widgets.style import CSS

HOSTILE_WORKFLOW = Path(__file__).with_name("_hostile_workflow.py")
DAG_TAGS = {"svg", "defs", "marker", "path", "g", "title", "rect", "text", "input"}  # input: the zoom checkbox
LAYOUT_STYLE = re.compile(r"(?:[a-z-]+:[0-9a-z.%]+;?)+")  # the DAG's computed sizes: no url(), no expression()
ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link", "form",
               "input", "button", "textarea", "select", "template", "math", "noscript", "xmp", "plaintext", "video",
               "audio", "source", "marquee", "body", "html", "style", "svg", "use", "image", "foreignobject"}
URL_ATTRIBUTES = {"href", "src", "xlink:href", "action", "formaction", "data", "background", "poster", "srcset",
                  "codebase", "cite", "ping", "lowsrc", "dynsrc"}
BREAKOUT = next(p for p in PAYLOADS if p.startswith('AAAA"'))  # the reported _repr_png_ string
TEXT_ATTRIBUTES = {"alt", "title"}  # shown as text, never followed or run
PNG_SRC = re.compile(r"data:image/png;base64,([A-Za-z0-9+/]+={0,2})\Z")


class _Scan(HTMLParser):
    """What a browser could run in a piece of HTML: script-capable tags, handlers, ``srcdoc``, script URLs."""

    def __init__(self, allowed: set[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed = allowed
        self.problems: list[str] = []
        self.images: list[tuple[str, str]] = []  # (alt, src) of each <img>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ACTIVE_TAGS and tag not in self.allowed or tag == "input" and dict(attrs).get("type") != "checkbox":
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            text = re.sub(r"[\x00-\x20]+", "", value or "").lower()
            layout = name == "style" and tag in self.allowed and LAYOUT_STYLE.fullmatch(value or "") is not None
            if name.startswith("on") or name == "srcdoc" or name == "style" and not layout:
                self.problems.append(f"<{tag} {name}=>")
            if ("javascript:" in text or "vbscript:" in text) and name not in TEXT_ATTRIBUTES:
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES and not _safe_url(tag, name, value or ""):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "img":
            found = dict(attrs)
            self.images.append((found.get("alt") or "", found.get("src") or ""))

    handle_startendtag = handle_starttag

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"<![{data}]>")


def _safe_url(tag: str, name: str, value: str) -> bool:
    """An ``<img src>`` of checked PNG bytes, or a link to http(s), mail or an anchor."""
    if tag == "img" and name == "src":
        match = PNG_SRC.match(value)
        return match is not None and png_base64(match.group(1)) == match.group(1)
    return name == "href" and tag == "a" and re.match(r"(https?:|mailto:|#)", value.strip(), re.IGNORECASE) is not None


def scan(markup: str, allowed: Iterable[str] = ()) -> _Scan:
    """``markup`` parsed as a browser would, with the tags in ``allowed`` let through."""
    parser = _Scan(set(allowed))
    parser.feed(markup)
    parser.close()
    if re.search(r"<\s*script", markup, re.IGNORECASE):
        parser.problems.append("<script")
    return parser


def html_widgets(root: w.Widget) -> Iterator[w.Widget]:
    """Every HTML / HTMLMath widget in ``root``'s tree (and any widget whose description is HTML)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        if isinstance(widget, (w.HTML, w.HTMLMath)) or getattr(widget, "description_allow_html", False):
            yield widget
        stack.extend(getattr(widget, "children", ()))


def assert_inert(root: w.Widget, dag: w.HTML | None = None) -> int:
    """No widget under ``root`` shows HTML a browser could run; returns how many HTML values were read."""
    count = 0
    for widget in html_widgets(root):
        value = widget.value if isinstance(widget, (w.HTML, w.HTMLMath)) else widget.description
        if "gw-stylesheet" in widget._dom_classes:
            assert value == f"<style>{CSS}</style>"
            continue
        problems = scan(value, DAG_TAGS if widget is dag else set()).problems
        assert not problems, f"{problems} in {value[:2000]!r}"
        count += 1
    return count


def text_of(markup: str) -> str:
    """The text a browser shows of ``markup``."""
    parts: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = parts.append  # type: ignore[method-assign]
    parser.feed(markup)
    parser.close()
    return "".join(parts)


def check_cards(view: StoredExecutionWidget, payload: str) -> None:
    """Every card of one execution inert; each field shown for what it is (text as text, images as images)."""
    assert sorted(view.cards) == sorted(GATES)
    assert assert_inert(view, view.dag) >= len(GATES) * 4
    cards = view.cards
    assert text_of(cards["text"].evidence.value) == payload  # shown as text, not as markup
    assert repr(payload) in text_of(cards["claim"].evidence.value)  # a dataclass field, as its repr
    assert IMAGE_DROPPED in text_of(cards["picture"].evidence.value)  # the _repr_png_ string: no image at all
    assert not scan(cards["picture"].evidence.value).images
    [(alt, src)] = scan(cards["photo"].evidence.value).images  # the real PNG, its repr as the alt text
    assert alt == payload and base64.b64decode(src.split(",", 1)[1]) == png(payload)
    assert "gw-evidence-table" in cards["frame"].evidence.value
    assert "gw-evidence-file" in cards["file"].evidence.value


def test_hostile_payloads_through_every_evidence_field_never_reach_a_card_as_script(server: Server,
                                                                                     tmp_path: Path) -> None:
    assert len(PAYLOADS) >= 40
    prefix = "hostile"
    names = [f"{prefix}-{i}" for i in range(len(PAYLOADS))]
    proc = subprocess.Popen([sys.executable, str(HOSTILE_WORKFLOW), prefix, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sandbox = GateRemote.for_sandbox()
    client = GateRemote.for_jupyter(server.url, token=server.token)
    made: list[w.Widget] = []
    try:
        def all_waiting() -> bool:
            assert proc.poll() is None, proc.communicate()
            pending = sandbox.list_signals(filters=["eq(state,PENDING)"], limit=None)
            return sum(s.execution_name.startswith(f"{prefix}-") for s in pending) == len(PAYLOADS) * len(GATES) + 1

        eventually(all_waiting, timeout=180, interval=0.2, what="every hostile gate to wait")
        client.set_input("payload", f"{prefix}-http", BREAKOUT)  # the reported chain, its string set over HTTP
        eventually(lambda: sandbox.get_signal("picture", f"{prefix}-http").state is SignalState.PENDING, timeout=30,
                   what="the approval of the value made from the string set over HTTP")
        for remote in (sandbox, client):  # a card reading the store, and one fed over HTTP
            views = [StoredExecutionWidget(name, remote=remote) for name in names]
            made += views
            for view, payload in zip(views, PAYLOADS):
                check_cards(view, payload)
            views.append(StoredExecutionWidget(f"{prefix}-http", remote=remote))
            made.append(views[-1])
            assert_inert(views[-1], views[-1].dag)
            shown = views[-1].gate("picture").evidence.value
            assert IMAGE_DROPPED in text_of(shown) and not scan(shown).images
            board = SignalDashboard(remote=remote, page_size=len(PAYLOADS) * len(GATES) + 1)
            made.append(board)
            assert len(board.rows) == len(PAYLOADS) * len(GATES) + 1
            cards = [board.expand(i) for i in range(len(board.rows))]  # each row opened to its card, as a click does
            assert len(board.cards) == len(cards)
            assert sum(assert_inert(card) for card in cards) >= len(PAYLOADS) * len(GATES) * 4
            assert all(card.description.value for card in cards)
        for widget in made:  # live views would re-read themselves on every approval below
            widget.close()

        for i, (name, payload) in enumerate(zip(names, PAYLOADS)):  # approve, with the payload as the reason
            for gate in GATES:
                (sandbox if i % 2 else client).approve(gate, name, comment=payload)
        client.approve("picture", f"{prefix}-http", comment=BREAKOUT)
        out, err = proc.communicate(timeout=180)
        assert out.strip().endswith(f"DONE {len(PAYLOADS) + 1}"), err
        names.append(f"{prefix}-http")
        eventually(lambda: all(sandbox.get_execution(n).status is ExecutionStatus.SUCCEEDED for n in names),
                   timeout=30, what="every hostile execution to be recorded as ended")
        for remote in (sandbox, client):
            for name in names:
                view = StoredExecutionWidget(name, remote=remote)
                made.append(view)
                assert view.record is not None and view.record.status is ExecutionStatus.SUCCEEDED
                assert "Outputs" in view.result.value
                assert all(card.state is SignalState.SET and card.decided.value for card in view.cards.values())
                assert assert_inert(view, view.dag) >= len(view.cards) * 5
                view.close()
    finally:
        for widget in made:
            widget.close()
        client.store.close()
        stop(proc)


def _tamper(store: Path, name: str, evidence: Any) -> None:
    """Write ``evidence`` straight into the SQLite file, as whoever can write the store folder could."""
    with sqlite3.connect(store) as conn:
        row = conn.execute("SELECT context FROM signals WHERE execution=? AND signal_id='go'", (name,)).fetchone()
        context = {**json.loads(row[0] or "{}"), "evidence": evidence}
        conn.execute("UPDATE signals SET context=? WHERE execution=? AND signal_id='go'", (json.dumps(context), name))
    conn.close()


def test_evidence_tampered_in_the_store_is_sanitised_by_the_card(server: Server, waiting: Any) -> None:
    name, _proc = waiting
    client = GateRemote.for_jupyter(server.url, token=server.token)
    hostile = "".join(PAYLOADS)
    _tamper(server.store, name, {"text": hostile, "html": "<b>kept</b>" + hostile, "png": BREAKOUT,
                                 "kind": "\" onload=\"alert(1)"})
    received = client.get_signal("go", name).evidence
    assert received is not None and "<script>" in (received.html or "")  # the server sends it as stored
    made: list[w.Widget] = []
    try:
        card = GateWidget(client.get_signal("go", name), remote=client)
        made.append(card)
        view = StoredExecutionWidget(name, remote=client)
        made.append(view)
        local = GateWidget(GateRemote.for_sandbox().get_signal("go", name))  # read from the store file
        made.append(local)
        for widget in made:
            assert_inert(widget, getattr(widget, "dag", None))
        for shown in (card.evidence.value, view.gate("go").evidence.value, local.evidence.value):
            assert "<b>kept</b>" in shown and html.escape(IMAGE_DROPPED) in shown
            assert 'class="gw-evidence gw-evidence-text"' in shown

        image = base64.b64encode(png("ok")).decode()
        _tamper(server.store, name, {"text": 5, "html": ["<script>alert(1)</script>"], "png": f"{image}\" x=\"",
                                     "extra": "<script>alert(2)</script>"})
        card.refresh()
        assert_inert(card)
        assert 'class="gw-evidence gw-evidence-text"' in card.evidence.value and not scan(card.evidence.value).images
        assert html.escape(IMAGE_DROPPED) in card.evidence.value

        broken = base64.b64encode(png("ok")[:-5] + zlib.compress(b"<script>")).decode()  # no IEND at its end
        _tamper(server.store, name, {"text": "<svg onload=alert(1)>", "png": broken, "kind": "image"})
        card.refresh()
        assert_inert(card)
        assert not scan(card.evidence.value).images and html.escape(IMAGE_DROPPED) in card.evidence.value

        _tamper(server.store, name, {"text": "\" onerror=\"alert(1)", "png": image, "kind": "image"})
        card.refresh()
        assert scan(card.evidence.value).images == [("\" onerror=\"alert(1)", f"data:image/png;base64,{image}")]
        assert_inert(card)
        assert card.approve(comment="</textarea><script>alert(1)</script>") is not None
        assert_inert(card)
    finally:
        for widget in made:
            widget.close()
        client.store.close()
