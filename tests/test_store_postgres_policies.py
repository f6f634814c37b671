"""PostgreSQL as the enforcer of who may answer (``gatewidgets.store.postgres.guard``): clients that bypass
gatewidgets — raw ``psycopg`` connections, with the tables' owner's role or a person's own — can neither set a gated
signal against its policy nor forge who decided; the database records the login role of every decision, and where
roles are users (``GateWidgets.postgres_role_is_user``) that role is the identity, source ``database``. Every test
runs on a database of its own on the suite's PostgreSQL server; after every refusal the stored rows are unchanged."""
from __future__ import annotations

import json
import threading
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from gatewidgets import GateRemote, SignalState, approve, task, workflow
from gatewidgets.errors import GateForbiddenError, GateRejectedError
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.models.policy import Identity
from gatewidgets.models.signal import Via
from gatewidgets.settings import settings
from gatewidgets.store.postgres.guard import FORBIDDEN
from gatewidgets.store.postgres.store import SCHEMA_VERSION, PostgresStore
from gatewidgets.types import GateType

KEY = WorkflowExecutionIdentifier("p", "d", "run")
TEAM = ("alice", "bob", "carol", "dave")
WHERE = "project='p' AND domain='d' AND execution='run' AND signal_id='go'"
FORGED_SET = f"UPDATE signals SET state='SET', value='true', identity='true', set_by=%s, via='api' WHERE {WHERE}"


def as_role(url: str, role: str) -> str:
    """``url`` logging in as ``role`` (the suite's server trusts its socket)."""
    return url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)


@pytest.fixture
def team(postgres_url: str) -> str:
    """A database whose tables exist (made by their owner, ``postgres``), with login roles for the team granted what
    a gatewidgets user needs, and a role ``finance`` that dave is a member of."""
    PostgresStore(postgres_url, files_dir="/nonexistent").close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        existing = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        for role in (*TEAM, "finance"):
            if role not in existing:
                conn.execute(f"CREATE ROLE {role} {'NOLOGIN' if role == 'finance' else 'LOGIN'}")
        conn.execute("GRANT finance TO dave")
        for role in TEAM:
            conn.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role}")
            conn.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    return postgres_url


@pytest.fixture
def configured() -> Iterator[Any]:
    """Set gatewidgets settings for the test; put back what the configuration says afterwards."""
    changed: list[str] = []

    def configure(**values: Any) -> None:
        for name, value in values.items():
            setattr(settings, name, value)
            changed.append(name)
    yield configure
    for name in changed:
        delattr(settings, name)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Any]:
    """Open stores (closed at the end)."""
    stores: list[PostgresStore] = []

    def open_(url: str) -> PostgresStore:
        stores.append(PostgresStore(url, files_dir=str(tmp_path / "files")))
        return stores[-1]
    yield open_
    for store in stores:
        store.close()


def launch(store: PostgresStore, policy: dict[str, Any] | None, launcher: str = "erin",
           deadline: datetime | None = None, **declared: Any) -> None:
    """An execution whose approve gate ``go`` waits under ``policy`` (and ``declared``, as its context)."""
    store.create_execution(KEY, "wf", {}, [{"node_id": "g", "kind": "gate", "name": "go", "upstream": [],
                                            "signal_id": "go"}],
                           [{"signal_id": "go", "kind": "approve", "node_id": "g", "description": None,
                             "type": GateType.of(bool).to_record(),
                             "context": {**({"policy": policy} if policy else {}), **declared} or None}],
                           launched_by=Identity(launcher, "server"))
    store.reach_signal(KEY, "go", deadline)


def remote(store: PostgresStore, user: str) -> GateRemote:
    return GateRemote(store=store, default_project="p", default_domain="d", user=user, via="http")


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the database holds about executions, signals, events and the model, to compare after a refusal."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("executions", "signals", "events", "meta", "group_members")}


def refused(url: str, sql: str, *params: Any) -> str:
    """Run ``sql`` on a raw connection: it must be refused by the guard (its message returned)."""
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute(sql, params)
    assert raised.value.sqlstate == FORBIDDEN, raised.value
    return str(raised.value.diag.message_primary)


def test_a_raw_client_cannot_set_a_gated_signal_and_nothing_changes(team: str, opened: Any, configured: Any) -> None:
    configured(groups={"finance": ["bob", "carol"]})
    store = opened(team)  # the owner's store: writes the groups into the database
    launch(store, {"assignees": ["@finance"], "quorum": 2, "self_approval": False})
    before = rows(team)
    for role in ("postgres", "alice"):  # the tables' owner (the shared service role) and a person's own role
        url = as_role(team, role)
        assert "alice is not an assignee; it may be answered by @finance" in refused(url, FORGED_SET, "alice")
        assert "needs 2 distinct approvals" in refused(url, FORGED_SET, "bob")  # allowed, but alone
        forged = json.dumps({"policy": {"assignees": ["@finance"], "quorum": 2, "self_approval": False},
                             "approvals": [{"user": u, "source": "server", "via": "http", "at": "2026-01-01T00:00:00",
                                            "value_key": "true"} for u in ("bob", "carol")]})
        assert "needs 2 distinct approvals" in refused(url, FORGED_SET.replace("via='api'", "via='api', context=%s"),
                                                       "carol", forged)  # approvals written into the context
        assert "cannot change" in refused(url, f"UPDATE signals SET context=NULL WHERE {WHERE}")
        assert "before its deadline" in refused(url, f"UPDATE signals SET state='TIMED_OUT', value='true' "
                                                     f"WHERE {WHERE}")
    assert "append-only" in refused(team, "DELETE FROM events")  # the owner may delete; the guard refuses
    assert rows(team) == before
    assert store.get_signal(KEY, "go").state is SignalState.PENDING


def test_quorum_of_two_over_gateremote_records_each_role(team: str, opened: Any, configured: Any) -> None:
    configured(groups={"finance": ["bob", "carol"]})
    launch(opened(team), {"assignees": ["@finance"], "quorum": 2})
    bob, carol = (remote(opened(as_role(team, role)), role) for role in ("bob", "carol"))
    first = bob.approve("go", "run")
    assert first.state is SignalState.PENDING and [a.user for a in first.approvals] == ["bob"]
    done = carol.approve("go", "run")
    assert done.state is SignalState.SET and done.value is True and done.set_by == "carol"
    assert done.context is not None and done.context["db_role"] == "carol"
    history = carol.history("run")
    decided = [(e.kind, e.set_by, (e.detail or {}).get("db_role")) for e in history if e.set_by is not None]
    assert decided == [("launched", "erin", "postgres"), ("approved", "bob", "bob"), ("set", "carol", "carol")]
    with psycopg.connect(team) as conn:  # the record the database made, whatever the clients said
        assert conn.execute(f"SELECT db_role FROM signals WHERE {WHERE}").fetchone() == ("carol",)


def test_a_raw_client_appears_as_its_role_and_cannot_forge_the_stamp(team: str, opened: Any) -> None:
    store = opened(team)
    launch(store, None)
    alice = as_role(team, "alice")
    with psycopg.connect(alice, autocommit=True) as conn:
        conn.execute(f"UPDATE signals SET state='SET', value='true', identity='true', set_by='bob', via='api', "
                     f"db_role='bob' WHERE {WHERE}")  # no policy: the set goes through, the stamp is alice's
        conn.execute("INSERT INTO events (origin, at, project, domain, execution, signal_id, kind, set_by, db_role) "
                     "VALUES ('raw', '2026-01-01', 'p', 'd', 'run', 'go', 'set', 'bob', 'bob')")
        conn.execute("UPDATE executions SET launched_by='{\"user\": \"bob\"}', db_role='bob'")
    signal = store.get_signal(KEY, "go")
    assert signal.set_by == "bob" and signal.context == {"db_role": "alice"}  # who sent it, proven by the database
    assert [(e.set_by, (e.detail or {}).get("db_role")) for e in store.history(KEY)][-1] == ("bob", "alice")
    record = store.get_execution(KEY)
    assert record.launched_by == Identity("erin", "server")  # kept from the launch
    with psycopg.connect(team) as conn:
        assert conn.execute("SELECT db_role FROM executions").fetchone() == ("postgres",)


def test_where_roles_are_users_the_role_decides_and_cannot_be_forged(team: str, opened: Any,
                                                                     configured: Any) -> None:
    configured(postgres_role_is_user=True, groups={"finance": ["bob", "carol"]})
    launcher = opened(as_role(team, "alice"))
    assert not launcher.role_is_user  # only the owner sets the model: alice's setting does not
    owner = opened(team)
    assert owner.role_is_user and owner.role == "postgres"
    launcher = opened(as_role(team, "alice"))
    assert launcher.role_is_user and launcher.role == "alice"
    launch(launcher, {"assignees": ["@finance", "alice"], "quorum": 2, "self_approval": False}, launcher="mallory")
    assert launcher.get_execution(KEY).launched_by == Identity("alice", "database")  # the role, not the claim
    with pytest.raises(GateForbiddenError, match="alice launched this execution and self-approval is off"):
        remote(launcher, "bob").approve("go", "run")  # claims to be bob: the role is alice
    attempt = launcher.history(KEY)[-1]
    assert (attempt.kind, attempt.set_by, attempt.detail) == (
        "refused", "alice", {"reason": "alice launched this execution and self-approval is off",
                             "identity_source": "database", "db_role": "alice"})
    before = rows(team)
    assert "self-approval is off" in refused(as_role(team, "alice"), FORGED_SET, "alice")
    assert "may not record 'bob'" in refused(as_role(team, "alice"), FORGED_SET, "bob")
    assert "may not record 'bob'" in refused(as_role(team, "alice"), "INSERT INTO events (origin, at, project, "
                                             "domain, execution, kind, set_by) VALUES ('raw', '2026', 'p', 'd', "
                                             "'run', 'approved', 'bob')")
    shown = json.dumps({"policy": {"assignees": ["@finance", "alice"], "quorum": 2, "self_approval": False},
                        "approvals": [{"user": "carol", "source": "database", "via": "http", "at": "2026-01-01",
                                       "value_key": "true"}]})
    assert "only its own approval" in refused(as_role(team, "bob"), f"UPDATE signals SET context=%s WHERE {WHERE}",
                                              shown)  # a standing line made up for carol
    assert "only the owner" in refused(as_role(team, "bob"), "UPDATE meta SET value='false' WHERE key='role_is_user'")
    assert "only the owner" in refused(as_role(team, "alice"), "INSERT INTO group_members VALUES ('finance', 'alice')")
    assert rows(team) == before
    bob = remote(opened(as_role(team, "bob")), "someone-else")
    first = bob.approve("go", "run")
    assert [(a.user, a.source) for a in first.approvals] == [("bob", "database")]
    assert "needs 2 distinct approvals" in refused(as_role(team, "bob"), FORGED_SET, "bob")  # again alone
    dave = remote(opened(as_role(team, "dave")), "dave")  # in @finance by the database role finance
    done = dave.approve("go", "run")
    assert done.state is SignalState.SET and done.set_by == "dave" and done.identity_source == "database"
    assert done.context is not None and done.context["db_role"] == "dave"


def test_the_database_refuses_what_a_misconfigured_client_lets_through(team: str, opened: Any,
                                                                       configured: Any) -> None:
    configured(groups={"finance": ["bob"]})
    launch(opened(team), {"assignees": ["@finance"]})
    configured(groups={"finance": ["alice"]})  # this process believes alice is in finance; the database does not
    alice = remote(opened(as_role(team, "alice")), "alice")
    before = rows(team)
    with pytest.raises(GateForbiddenError, match=r"alice may not approve .*refused by the database") as raised:
        alice.approve("go", "run")
    after = rows(team)
    assert {**after, "events": after["events"][:-1]} == before  # the signal unchanged, one event more:
    refusal = alice.history("run")[-1]  # the refusal, in the history as one judged by gatewidgets would be
    assert (refusal.kind, refusal.set_by, refusal.via, refusal.detail) == (
        "refused", "alice", Via.HTTP, {"reason": str(raised.value), "identity_source": "claimed", "db_role": "alice"})
    assert "alice is not an assignee; it may be answered by @finance" in str(raised.value)


def test_temporary_tables_of_a_client_cannot_stand_in_for_the_guards(team: str, opened: Any,
                                                                     configured: Any) -> None:
    configured(postgres_role_is_user=True, groups={"finance": ["bob", "carol"]})
    launch(opened(team), {"assignees": ["@finance"], "quorum": 2})
    before = rows(team)
    with psycopg.connect(as_role(team, "bob"), autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE meta (key TEXT, value TEXT)")  # "roles are not users"
        conn.execute("INSERT INTO meta VALUES ('role_is_user', 'false')")
        conn.execute("CREATE TEMP TABLE events (LIKE public.events)")  # a quorum of made-up approvals
        conn.execute("INSERT INTO events (id, origin, at, project, domain, execution, signal_id, kind, set_by, "
                     "detail, db_role) SELECT n, 'raw', '2026', 'p', 'd', 'run', 'go', 'approved', u, "
                     "'{\"value_key\": \"true\"}', u FROM (VALUES (1, 'carol'), (2, 'alice')) AS a(n, u)")
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(FORGED_SET, ("bob",))
    assert raised.value.sqlstate == FORBIDDEN and "needs 2 distinct approvals" in str(raised.value)
    assert rows(team) == before


def test_two_approvers_racing_to_the_quorum_let_the_value_flow_once(team: str, opened: Any,
                                                                     configured: Any) -> None:
    configured(postgres_role_is_user=True, groups={"finance": ["bob", "carol", "dave"]})
    launch(opened(team), {"assignees": ["@finance"], "quorum": 2})
    remote(opened(as_role(team, "dave")), "dave").approve("go", "run")
    racers = [remote(opened(as_role(team, role)), role) for role in ("bob", "carol")]
    start, results = threading.Barrier(2), []

    def approve(racer: GateRemote) -> None:
        start.wait(timeout=30)
        results.append(racer.approve("go", "run"))
    threads = [threading.Thread(target=approve, args=(racer,)) for racer in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2 and all(r.state is SignalState.SET for r in results)
    history = racers[0].history("run")
    sets = [e for e in history if e.kind == "set"]
    assert len(sets) == 1 and sets[0].set_by in ("bob", "carol") and sets[0].detail is not None
    assert sets[0].detail["db_role"] == sets[0].set_by
    assert [a["user"] for a in sets[0].detail["approvals"]] == ["dave", sets[0].set_by]


def test_a_database_of_the_previous_version_is_upgraded_to_the_guard(postgres_url: str, opened: Any) -> None:
    launch(opened(postgres_url), {"assignees": ["bob"]})
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # as the previous version left it
        for table in ("signals", "events", "executions", "meta"):
            conn.execute(f"DROP TRIGGER gatewidgets_{table}_guard ON {table}")
        for table in ("signals", "events", "executions"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN db_role")
        conn.execute("DROP TABLE group_members")
        conn.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    store = opened(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert "alice is not an assignee" in refused(postgres_url, FORGED_SET, "alice")
    done = remote(store, "bob").approve("go", "run")
    assert done.state is SignalState.SET and done.context is not None and done.context["db_role"] == "postgres"


def test_a_read_only_database_opens_as_it_is_for_its_owner(postgres_url: str, opened: Any,
                                                           configured: Any) -> None:
    launch(opened(postgres_url), {"assignees": ["bob"]})
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        name = urllib.parse.urlsplit(postgres_url).path.lstrip("/")
        conn.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    before = rows(postgres_url)
    configured(postgres_role_is_user=True, groups={"finance": ["bob"]})  # would be written by a writable owner
    reader = opened(postgres_url)
    assert not reader.role_is_user and [s.signal_id for s in reader.list_signals(KEY)] == ["go"]
    assert rows(postgres_url) == before


def test_a_gated_approval_times_out_only_as_its_on_timeout_says(team: str, opened: Any) -> None:
    store = opened(team)
    launch(store, {"assignees": ["bob"]}, deadline=datetime.now(timezone.utc) - timedelta(seconds=1),
           on_timeout="reject")
    before = rows(team)
    timeout = f"UPDATE signals SET state='TIMED_OUT', value=%s, via='timeout' WHERE {WHERE}"
    assert "decides false, not true" in refused(as_role(team, "alice"), timeout, "true")
    assert "cannot change" in refused(as_role(team, "alice"), f"UPDATE signals SET context=jsonb_set(context::jsonb, "
                                      f"'{{on_timeout}}', '\"approve\"')::text WHERE {WHERE}")
    assert rows(team) == before
    timed_out = store.timeout_signal(KEY, "go", False, has_value=True)  # as the engine times it out
    assert (timed_out.state, timed_out.value) == (SignalState.TIMED_OUT, False)


@task
def report() -> int:
    return 7


@workflow
def release() -> int:
    return approve(report(), "release", timeout=timedelta(seconds=1), on_timeout="reject", assignees=["bob"])


def test_the_engine_times_a_gated_approval_out_through_the_guard(postgres_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWIDGETS_STORE", postgres_url)
    execution = release.launch(execution_name="timed")
    with pytest.raises(GateRejectedError, match="on_timeout='reject'"):
        execution.wait(timeout=60)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT state, value, context::jsonb -> 'on_timeout', db_role FROM signals").fetchall() \
            == [("TIMED_OUT", "false", "reject", "postgres")]


@pytest.mark.parametrize("context, why", [
    ('{"policy": {"assignees": ["bob"]', "is not a JSON object, so whether it has a policy cannot be told"),
    ('["policy"]', "is not a JSON object, so whether it has a policy cannot be told"),
    ('{"policy": ["bob"]}', 'the stored policy of signal \'go\' of execution \'run\' is ["bob"], not a JSON object'),
])
def test_a_signal_whose_context_or_policy_cannot_be_read_is_decided_by_nobody(team: str, opened: Any, context: str,
                                                                              why: str) -> None:
    """A gated signal's context edited by hand into something unreadable (the guard's triggers off meanwhile): the
    database refuses every change of it with one clear GW403 (fail closed: not a JSON cast error, and a policy that
    is not an object is no policy to let through), also a repair by a role; the store and GateRemote refuse it
    with one ``GateForbiddenError``; the signal stays as it is."""
    store = opened(team)
    launch(store, {"assignees": ["bob"]})
    with psycopg.connect(team, autocommit=True) as conn:  # as the tables' owner
        conn.execute("ALTER TABLE signals DISABLE TRIGGER USER")
        conn.execute(f"UPDATE signals SET context=%s WHERE {WHERE}", (context,))
        conn.execute("ALTER TABLE signals ENABLE TRIGGER USER")
    before = rows(team)
    for role in ("postgres", "bob"):
        assert why in refused(as_role(team, role), FORGED_SET, "bob")  # a raw client, past gatewidgets' own check
        assert why in refused(as_role(team, role), f"UPDATE signals SET context='{{}}' WHERE {WHERE}")
    assert "not a JSON object" in refused(team, "INSERT INTO signals (project, domain, execution, signal_id, seq, "
                                          "kind, node_id, type, state, created_at, context) VALUES ('p', 'd', 'run', "
                                          "'new', 9, 'approve', 'g', '{}', 'PENDING', '2026', %s)", context)
    assert rows(team) == before
    with pytest.raises(GateForbiddenError, match="it has a policy"):  # no ballot: judged, never set blindly
        store.set_signal(KEY, "go", True, "true", set_by="bob", via="api")
    with pytest.raises(GateForbiddenError, match="unreadable"):
        remote(store, "bob").approve("go", "run")
    after = rows(team)
    assert after["signals"] == before["signals"]
    assert [e.kind for e in store.history(KEY)][len(before["events"]):] == ["refused"]
