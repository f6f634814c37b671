"""Run by tests in a subprocess: one workflow per hostile payload, the payload in every evidence field.

Usage: python _hostile_workflow.py PREFIX FOLDER
Launches execution ``PREFIX-<i>`` of workflow ``hostile_<i>`` for each of :data:`PAYLOADS` (its input is the
payload, as if set over HTTP); each waits at :data:`GATES`, approvals whose value to approve carries the payload
as text, dict keys and values, dataclass fields, DataFrame cells and columns, ``_repr_html_``, ``_repr_png_``
(a string, and a real PNG with the payload in a text chunk and in its ``repr``), a file's name and content; every
gate's description is the payload. Execution ``PREFIX-http`` waits for its payload as the input ``payload`` (to be
set over HTTP), then approves a value whose ``_repr_png_`` is that string. Prints ``DONE <n>`` once every
execution has ended.
"""
from __future__ import annotations

import dataclasses
import hashlib
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

from gatewidgets import GateFile, approve, task, wait_for_input, workflow

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"x\" onerror=\"fetch('/api/contents')\">",
    "<img \"\"\"><script>alert(1)</script>\">",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text x=\"20\" y=\"20\">x</text></a></svg>",
    "<svg><use href=\"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' id='x'>"
    "<image href='1' onerror='alert(1)'/></svg>#x\"/></svg>",
    "<body onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\" javascript:alert(1)\">x</a>",
    "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
    "<a href=\"java\nscript:alert(1)\">x</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<a href=\"&#x6A;avascript&colon;alert(1)\">x</a>",
    "<a href=\"\u0001javascript:alert(1)\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<img src=\"data:text/html,<script>alert(1)</script>\">",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<iframe srcdoc=\"&lt;img src=x onerror=alert(1)&gt;\"></iframe>",
    "<object data=\"data:text/html,<script>alert(1)</script>\"></object>",
    "<embed src=\"javascript:alert(1)\">",
    "<form action=\"javascript:alert(1)\"><button>x</button></form>",
    "<button formaction=\"javascript:alert(1)\">x</button>",
    "<input onfocus=alert(1) autofocus>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<marquee onstart=alert(1)>x</marquee>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math href=\"javascript:alert(1)\">x</math>",
    "<template><script>alert(1)</script></template>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<!--<img src=\"--><img src=x onerror=alert(1)//\">",
    "<![CDATA[<script>alert(1)</script>]]>",
    "</title><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "\"><script>alert(1)</script>",
    "\" onmouseover=\"alert(1)",
    "' onfocus='alert(1)' autofocus='",
    "AAAA\" onerror=\"fetch('/api/contents')",
    "AAAA' onerror='alert(1)",
    "<style>@import 'https://evil.example/x.css';</style>",
    "<style>body{background:url(\"javascript:alert(1)\")}</style>",
    "<div style=\"width: expression(alert(1))\">x</div>",
    "<div style=\"background-image:url(javascript:alert(1))\">x</div>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<base href=\"javascript:alert(1)//\">",
    "<link rel=\"stylesheet\" href=\"javascript:alert(1)\">",
    "[click](javascript:alert(1)) ![x](javascript:alert(2)) [y](&#106;avascript:alert(3))",
    "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
]
GATES = ["text", "tree", "claim", "frame", "rich", "picture", "photo", "file"]


@dataclasses.dataclass
class Claim:
    who: str
    note: str


class Rich:
    """A value that renders itself as (hostile) HTML."""

    def __init__(self, payload: str) -> None:
        self.payload = payload

    def _repr_html_(self) -> str:
        return f"<p>{self.payload}</p>{self.payload}"

    def __repr__(self) -> str:
        return self.payload


class Picture(Rich):
    """A value whose ``_repr_png_`` is the payload itself (a string, as if base64)."""

    def _repr_png_(self) -> str:
        return self.payload


class Photo(Rich):
    """A real PNG carrying the payload in a text chunk (and in its ``repr``, the image's alt text)."""

    def _repr_png_(self) -> bytes:
        return png(self.payload)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(text: str) -> bytes:
    """A 1×1 PNG with ``text`` in a tEXt chunk."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + _chunk(b"tEXt", b"Comment\0" + text.encode("utf-8")) + _chunk(b"IDAT", zlib.compress(b"\0\0"))
            + _chunk(b"IEND", b""))


@task
def as_text(payload: str) -> str:
    return payload


@task
def as_tree(payload: str) -> dict:  # type: ignore[type-arg]
    return {payload: payload, "list": [payload, {payload: [payload]}]}


@task
def as_claim(payload: str) -> Claim:
    return Claim(who=payload, note=payload)


@task
def as_frame(payload: str) -> object:
    import pandas as pd

    return pd.DataFrame({payload: [payload, "x"], "n": [1, 2]}, index=[payload, "i"])


@task
def as_rich(payload: str) -> object:
    return Rich(payload)


@task
def as_picture(payload: str) -> object:
    return Picture(payload)


@task
def as_photo(payload: str) -> object:
    return Photo(payload)


@task
def as_file(payload: str, folder: str) -> GateFile:
    name = (payload.replace("/", "\u2215").replace("\\", "\u2216").replace("\0", "")[:200] or "x") + ".png"
    path = Path(folder, hashlib.sha256(payload.encode()).hexdigest())
    path.write_text(f"{payload}\n{payload}\n")
    return GateFile(path, name=name)


@task
def summary(text: str, tree: dict, claim: Claim, file: GateFile) -> str:  # type: ignore[type-arg]
    return f"{text}|{sorted(tree)}|{claim.who}|{file.name}"


def hostile_workflow(number: int, payload: str) -> Any:
    """Workflow ``hostile_<number>``: every gate of :data:`GATES`, each described by ``payload``."""

    def body(payload: str, folder: str) -> str:
        def gate(value: Any, name: str) -> Any:
            return approve(value, name, timeout=None, description=PAYLOADS[number])

        text = gate(as_text(payload=payload), "text")
        tree = gate(as_tree(payload=payload), "tree")
        claim = gate(as_claim(payload=payload), "claim")
        for make, name in ((as_frame, "frame"), (as_rich, "rich"), (as_picture, "picture"), (as_photo, "photo")):
            gate(make(payload=payload), name)
        file = gate(as_file(payload=payload, folder=folder), "file")
        return summary(text=text, tree=tree, claim=claim, file=file)

    return workflow(body, name=f"hostile_{number}")


@task
def seen(picture: object) -> str:
    return repr(picture)


@workflow
def hostile_input() -> str:
    """The reported chain: a string set over HTTP becomes what a ``_repr_png_`` returns."""
    payload = wait_for_input("payload", timeout=None, expected_type=str)
    return seen(picture=approve(as_picture(payload=payload), "picture", timeout=None, description="The picture?"))


if __name__ == "__main__":
    prefix, folder = sys.argv[1], sys.argv[2]
    executions = [hostile_workflow(i, p).launch(payload=p, folder=folder, execution_name=f"{prefix}-{i}")
                  for i, p in enumerate(PAYLOADS)]
    executions.append(hostile_input.launch(execution_name=f"{prefix}-http"))
    for ex in executions:
        ex.wait(timeout=300)
    print(f"DONE {len(executions)}", flush=True)
