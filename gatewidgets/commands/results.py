"""What a command may use (:class:`Context`) and what it produces (:class:`Result`, with :class:`Table` s), which
each face renders: HTML in notebooks, text in terminals, JSON with ``--json``."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Sequence

from gatewidgets.formatting import inert
from gatewidgets.remote import GateRemote

__all__ = ["Context", "Table", "Result"]


@dataclass
class Context:
    """What a command may use besides its arguments."""

    remote: GateRemote
    namespace: dict[str, Any] | None = None  # the notebook's user namespace
    launched: Sequence[Any] = ()  # Executions launched in this process, oldest first
    cell: str | None = None  # body of ``%%gate set``


@dataclass
class Table:
    """Rows of strings with a title; renders as text or HTML."""

    title: str
    columns: list[str]
    rows: list[list[str]]

    def to_text(self) -> str:
        """The table for a terminal: one line per row, whatever its cells hold (see :func:`inert`)."""
        rows = [[inert(v, layout=False) for v in r] for r in self.rows]
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(self.columns)]
        lines = [inert(self.title, layout=False), "  ".join(c.ljust(w) for c, w in zip(self.columns, widths)).rstrip()]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        if not self.rows:
            lines.append("(none)")
        return "\n".join(lines)

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in self.rows)
        if not self.rows:
            body = f'<tr><td colspan="{len(self.columns)}"><i>(none)</i></td></tr>'
        return (f'<table class="gatewidgets-table"><caption style="text-align:left">{html.escape(self.title)}'
                f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


@dataclass
class Result:
    """What a command produced, for each face to render."""

    message: str | None = None
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    data: Any = None  # the JSON form (``--json``)
    show: Any = None  # notebook only: an Execution, an ExecutionRecord (not this kernel's), or "dashboard"
    value: Any = None  # what the magic returns (``run``: the Execution)

    def to_text(self) -> str:
        """Notes, message and tables for a terminal, control characters shown, not interpreted."""
        parts = [inert(p) for p in self.notes + ([self.message] if self.message else [])]
        parts += [t.to_text() for t in self.tables]
        return "\n\n".join(p for p in parts if p)

    def to_html(self) -> str:
        parts = [f"<p>{html.escape(p)}</p>" for p in self.notes + ([self.message] if self.message else [])]
        return "".join(parts + [t.to_html() for t in self.tables])
