"""``conditional``: branches chosen at run time from promise values, with flytekit's fluent form.

```python
result = (
    conditional("big-or-small")
    .if_(amount > 1000).then(approve(amount, "cfo", timeout=None))
    .elif_(ok.is_false()).then(refund(x=amount))
    .else_().fail("no rule matched")
)
```

Only the taken case runs; the nodes of the others are ``SKIPPED`` and their gates'
signals ``CANCELLED``. The result is a promise usable downstream.
"""
from __future__ import annotations

from typing import Any

from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.graph.builder import Builder, Promise, literal_type_of, require_builder
from gatewidgets.graph.model import BranchSpec, Condition, Const, Node, Ref

__all__ = ["conditional", "ConditionalSection"]


class ConditionalSection:
    """The cases of one conditional, built with ``if_`` / ``elif_`` / ``else_`` and ``then`` / ``fail``."""

    def __init__(self, name: str) -> None:
        self._builder: Builder = require_builder("conditional")
        self.name = name
        self.spec = BranchSpec(name)
        self._decision: Node | None = None
        self._open: int | None = None
        self._closed = False
        self._hints: list[Any] = []
        self._builder.sections.append(self)

    def if_(self, condition: Condition) -> _Case:
        """The first case."""
        if self.spec.conditions:
            raise WorkflowDefinitionError(f"conditional({self.name!r}): if_ starts a conditional; use elif_ next.")
        return self._case(condition)

    def elif_(self, condition: Condition) -> _Case:
        """One more case, tried if the ones before are false."""
        if not self.spec.conditions:
            raise WorkflowDefinitionError(f"conditional({self.name!r}): start with if_(...), not elif_.")
        return self._case(condition)

    def else_(self) -> _Case:
        """The case taken when no condition holds."""
        if not self.spec.conditions:
            raise WorkflowDefinitionError(f"conditional({self.name!r}): start with if_(...), not else_.")
        return self._case(None)

    def _case(self, condition: Condition | None) -> _Case:
        what = f"conditional({self.name!r})"
        if self._closed:
            raise WorkflowDefinitionError(f"{what}: else_ was the last case; nothing can follow it.")
        if self._open is not None:
            raise WorkflowDefinitionError(f"{what}: call .then(...) or .fail(...) on the case before adding another.")
        if condition is not None and not isinstance(condition, Condition):
            raise WorkflowDefinitionError(
                f"{what}: a condition must test a promise (e.g. `x > 5`, `ok.is_true()`), got {condition!r}. "
                "A plain Python value is decided at definition time, not when the workflow runs."
            )
        if self._decision is None:
            self._decision = self._builder.add("branch", self.name, branch=self.spec, output_hints=(int,))
        if condition is not None:
            self._decision.upstream.update(condition.node_ids())
        self.spec.conditions.append(condition)
        index = len(self.spec.conditions) - 1
        self._builder.cases.append((self._decision.id, index))
        self._open = index
        return _Case(self, index)

    def _end_case(self, index: int, output: Any, failure: str | None) -> ConditionalSection | Promise:
        self._builder.cases.pop()
        self._open = None
        if output is None:
            self.spec.outputs.append(None)
            self._hints.append(None)
        elif isinstance(output, Promise):
            if output.node is not None and not output.node.has_output:
                self.spec.outputs.append(None)
                self._hints.append(None)
            else:
                self.spec.outputs.append(output.ref)
                self._hints.append(output._hint)
        else:
            self.spec.outputs.append(Const(output))
            self._hints.append(type(output))
        self.spec.failures.append(failure)
        if self.spec.conditions[index] is None:
            return self._finish()
        return self

    def _finish(self) -> Promise:
        self._closed = True
        taken = [h for h, f in zip(self._hints, self.spec.failures) if f is None]
        has_output = {h is not None for h in taken}
        if len(has_output) > 1:
            raise WorkflowDefinitionError(
                f"conditional({self.name!r}): some cases produce a value and others do not; every case must "
                "end the same way (or fail)."
            )
        kinds = {str(literal_type_of(h)) for h in taken if h is not None}
        if len(kinds) > 1:
            raise WorkflowDefinitionError(
                f"conditional({self.name!r}): the cases produce different types ({', '.join(sorted(kinds))}); "
                "every case must produce the same type."
            )
        hint = next((h for h in taken if h is not None), None)
        assert self._decision is not None
        upstream = {self._decision.id} | {
            b.node_id for b in self.spec.outputs if isinstance(b, Ref) and b.node_id}
        merge = self._builder.add("merge", f"{self.name}-result", branch=self.spec,
                                  output_hints=(hint,) if hint is not None else ())
        merge.upstream.update(upstream)
        merge.bindings["branch"] = Ref(node_id=self._decision.id)
        return Promise(self._builder, Ref(node_id=merge.id), hint, merge)

    def check_complete(self) -> None:
        """Raise if a case was opened and never given ``then`` / ``fail``."""
        if self._open is not None:
            raise WorkflowDefinitionError(
                f"conditional({self.name!r}): case {self._open} has no .then(...) or .fail(...)."
            )


class _Case:
    def __init__(self, section: ConditionalSection, index: int) -> None:
        self._section = section
        self._index = index

    def then(self, value: Any) -> Any:
        """What this case produces: a task or gate call (made here), a promise or a constant."""
        return self._section._end_case(self._index, value, None)

    def fail(self, message: str) -> Promise:
        """Fail the execution with ``message`` when this case is taken (only after ``else_``)."""
        if self._section.spec.conditions[self._index] is not None:
            raise WorkflowDefinitionError(
                f"conditional({self._section.name!r}): .fail(...) is only allowed after else_()."
            )
        result = self._section._end_case(self._index, None, str(message))
        assert isinstance(result, Promise)
        return result


def conditional(name: str) -> ConditionalSection:
    """Start a conditional named ``name`` inside a workflow (or a ``@dynamic`` body)."""
    return ConditionalSection(name)
