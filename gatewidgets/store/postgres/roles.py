"""The login role as who decides: a store learns its role and the database's identity model
(:mod:`gatewidgets.store.postgres.guard`), writes the model and the groups when it owns the tables, and vouches for
decisions as the database will record them."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from gatewidgets.models.policy import Ballot, Identity
from gatewidgets.settings import settings
from gatewidgets.store.postgres.connection import Conn
from gatewidgets.store.postgres.schema import Schema

__all__ = ["Guarded"]

log = logging.getLogger(__name__)


class Guarded(Schema):
    """A store that knows its login role and the database's identity model, and vouches for decisions by it."""

    role: str = ""  # this connection's login role (session_user)
    role_is_user: bool = False  # the database records the login role as who decides (meta.role_is_user)

    def _open_guard(self) -> None:
        """Learn the role and the model; as the tables' owner (on a writable database), first write
        ``GateWidgets.postgres_role_is_user`` (when set) and ``GateWidgets.groups`` (when not empty) into it."""
        wanted = settings.postgres_role_is_user
        groups = {(name, member) for name, members in (settings.groups or {}).items() for member in members}
        with self._tx() as conn:
            row = conn.execute("SELECT session_user AS role, gatewidgets_role_is_user() AS by_role, "
                               "gatewidgets_admin() AND current_setting('transaction_read_only') = 'off' AS admin"
                               ).fetchone()  # a read-only database (a standby) opens for listing as it is
            assert row is not None
            if row["admin"] and wanted is not None and wanted != row["by_role"]:
                conn.execute("INSERT INTO meta VALUES ('role_is_user', %s) ON CONFLICT (key) DO UPDATE "
                             "SET value = excluded.value", ("true" if wanted else "false",))
                row["by_role"] = wanted
            if row["admin"] and groups and groups != self._group_rows(conn):
                conn.execute("DELETE FROM group_members")
                conn.cursor().executemany("INSERT INTO group_members VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                          sorted(groups))
        self.role, self.role_is_user = row["role"], bool(row["by_role"])
        if wanted is not None and wanted != self.role_is_user:
            log.warning("GateWidgets.postgres_role_is_user is %s but %s says %s; only the owner of its tables "
                        "changes it", wanted, self.path, self.role_is_user)

    @staticmethod
    def _group_rows(conn: Conn) -> set[tuple[str, str]]:
        return {(r["group_name"], r["member"]) for r in conn.execute("SELECT * FROM group_members")}

    def vouched(self, identity: Identity | None) -> Identity | None:
        """Who the database will record for ``identity``: its login role when roles are users, else ``identity``."""
        return Identity(self.role, "database") if self.role_is_user else identity

    def vouched_ballot(self, conn: Conn, ballot: Ballot) -> Ballot:
        """``ballot`` as the database sees it: under the per-user-role model, cast by the login role, in the
        groups the database puts that role in."""
        if not self.role_is_user:
            return ballot
        rows: list[dict[str, Any]] = conn.execute(
            "SELECT group_name AS name FROM group_members WHERE member = session_user UNION SELECT rolname FROM "
            "pg_roles WHERE pg_has_role(session_user, oid, 'MEMBER') AND rolname <> session_user "
            "AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)").fetchall()
        return replace(ballot, identity=Identity(self.role, "database"),
                       member_of=frozenset(r["name"] for r in rows))
