"""``Deciding``: the hooks a SQL store supplies to the shared decision flow are an explicit, abstract contract."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatewidgets.store.deciding import Deciding
from gatewidgets.store.postgres.store import PostgresStore
from gatewidgets.store.sqlite import SqliteStore

HOOKS = {"_NO_POLICY", "_set_row", "_locked_row", "_assign", "_launcher", "_keep_approvals"}


class _Complete(Deciding):
    """Every hook supplied (the flow itself is exercised through the real stores' tests)."""

    _NO_POLICY = "AND context IS NULL"

    def _set_row(self, conn: Any, key: Any, signal_id: str, fields: Any, detail: Any, condition: str) -> Any:
        return None

    def _locked_row(self, conn: Any, key: Any, signal_id: str) -> Any:
        return {}

    def _assign(self, conn: Any, key: Any, signal_id: str, columns: Any) -> Any:
        return {}

    def _launcher(self, conn: Any, key: Any) -> str | None:
        return None

    def _keep_approvals(self, conn: Any, key: Any, signal_id: str, approvals: str) -> Any:
        return {}


def test_the_hooks_are_abstract() -> None:
    assert Deciding.__abstractmethods__ == HOOKS


@pytest.mark.parametrize("missing", sorted(HOOKS))
def test_a_store_missing_a_hook_fails_at_construction(missing: str) -> None:
    partial = type("Partial", (_Complete,), {missing: Deciding.__dict__[missing]})
    with pytest.raises(TypeError, match=missing):
        partial()
    _Complete()  # with every hook it constructs


def test_the_sql_stores_supply_every_hook(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gates.db")
    try:
        assert not type(store).__abstractmethods__
    finally:
        store.close()
    assert not PostgresStore.__abstractmethods__
