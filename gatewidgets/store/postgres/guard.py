"""The database as the enforcer of who may answer (schema step 3): triggers that stamp every decision with the login
role that made it and refuse, inside PostgreSQL, a set that breaks the signal's policy, so a client that bypasses
gatewidgets (psql, another program) can neither forge who decided nor set a gated signal against its policy.

What the triggers do (the Python judge in :mod:`gatewidgets.store.postgres.signals` stays, for clear messages; these
are the backstop, with the same rules as :func:`gatewidgets.models.policy.judge`):

- ``db_role`` on ``signals`` (the role that closed it), ``events`` (the role that wrote it) and ``executions`` (the
  role that launched it) is ``session_user``, whatever the client sent; the history is append-only.
- A signal with a policy keeps that policy; it is set only by a decider the policy allows (assignees, ``@groups``,
  escalation, ``self_approval`` against the execution's ``launched_by``, ``verified``), an approval under a
  ``quorum`` only once that many distinct allowed people have an ``approved`` event for the same value; a decided
  signal is final; it times out only at its deadline, with the value its ``on_timeout`` gives.
- ``meta.role_is_user = 'true'`` (the per-user-role model: each person logs in with their own role): a decision's
  ``set_by`` must be the role (else refused), a role adds or takes back only its own entry in a signal's
  ``approvals``, and an execution's ``launched_by`` is the role.
- ``@group`` membership: the ``group_members`` table (kept in sync from ``GateWidgets.groups`` by a store opened
  as the tables' owner) or membership in a PostgreSQL role of that name (``GRANT finance TO bob``).
- Only the tables' owner (or a member of the owning role) may change ``role_is_user`` or ``group_members``.

Refusals raise SQLSTATE ``GW403`` (:data:`FORBIDDEN`), which the store turns into ``GateForbiddenError``.
"""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

__all__ = ["FORBIDDEN", "GUARD_SQL", "READABLE_SQL", "install_guard", "install_readable"]

FORBIDDEN = "GW403"  # the SQLSTATE of a refusal by the triggers
_OPEN = "('UPCOMING', 'PENDING')"
_RAISE = f"RAISE EXCEPTION USING ERRCODE = '{FORBIDDEN}', MESSAGE ="
_SCHEMA = "__gatewidgets_schema__"  # replaced by the tables' schema when installed
# every name a guard function uses is looked up here: the catalog, the tables' schema, and temporary objects last,
# so a client's temporary table or function cannot stand in for ours
_PATH = f"SET search_path = pg_catalog, {_SCHEMA}, pg_temp"

GUARD_SQL = f"""
ALTER TABLE signals ADD COLUMN IF NOT EXISTS db_role TEXT;
ALTER TABLE events ADD COLUMN IF NOT EXISTS db_role TEXT;
ALTER TABLE executions ADD COLUMN IF NOT EXISTS db_role TEXT;
CREATE TABLE IF NOT EXISTS group_members (
    group_name TEXT COLLATE "C" NOT NULL, member TEXT COLLATE "C" NOT NULL, PRIMARY KEY (group_name, member));

CREATE OR REPLACE FUNCTION gatewidgets_admin() RETURNS boolean LANGUAGE sql STABLE {_PATH} AS $$
    SELECT pg_has_role(session_user, c.relowner, 'MEMBER') FROM pg_class c WHERE c.oid = 'signals'::regclass $$;

CREATE OR REPLACE FUNCTION gatewidgets_role_is_user() RETURNS boolean LANGUAGE sql STABLE {_PATH} AS $$
    SELECT COALESCE((SELECT value = 'true' FROM meta WHERE key = 'role_is_user'), false) $$;

CREATE OR REPLACE FUNCTION gatewidgets_member(usr text, names jsonb) RETURNS boolean LANGUAGE sql STABLE {_PATH}
AS $$
    SELECT EXISTS (SELECT 1 FROM jsonb_array_elements_text(COALESCE(names, '[]')) AS n(name)
        WHERE n.name = usr OR (left(n.name, 1) = '@' AND (
            EXISTS (SELECT 1 FROM group_members g WHERE g.group_name = substr(n.name, 2) AND g.member = usr)
            OR EXISTS (SELECT 1 FROM pg_roles gr, pg_roles ur WHERE gr.rolname = substr(n.name, 2)
                       AND ur.rolname = usr AND ur.oid <> gr.oid AND NOT ur.rolsuper
                       AND pg_has_role(ur.oid, gr.oid, 'MEMBER'))))) $$;

CREATE OR REPLACE FUNCTION gatewidgets_may_answer(sig signals, usr text, action text, source text,
                                                  vouched jsonb)
RETURNS text LANGUAGE plpgsql STABLE {_PATH} AS $$
DECLARE
    policy jsonb := sig.context::jsonb -> 'policy';
    allowed jsonb;
    launcher text;
BEGIN
    IF policy IS NULL OR jsonb_typeof(policy) <> 'object' THEN
        RETURN NULL;
    END IF;
    IF COALESCE((policy ->> 'verified')::boolean, false) AND source NOT IN ('server', 'hub', 'database') THEN
        RETURN format('it needs an identity established by a server; %s is known only as %L', usr, source);
    END IF;
    IF NOT COALESCE((policy ->> 'self_approval')::boolean, true) AND action <> 'reject' THEN
        SELECT e.launched_by::jsonb ->> 'user' INTO launcher FROM executions e
            WHERE e.project = sig.project AND e.domain = sig.domain AND e.name = sig.execution;
        IF launcher = usr THEN
            RETURN format('%s launched this execution and self-approval is off', usr);
        END IF;
    END IF;
    allowed := COALESCE(policy -> 'assignees', '[]');
    IF policy ? 'escalate_after' AND sig.waiting_since IS NOT NULL AND now() >=
            sig.waiting_since::timestamptz + make_interval(secs => (policy ->> 'escalate_after')::float8) THEN
        allowed := allowed || COALESCE(policy -> 'escalate_to', '[]');
    END IF;
    IF jsonb_array_length(allowed) > 0 AND NOT gatewidgets_member(usr, allowed)
            -- the groups a hub vouched for (the service's login), as recorded with the decision
            AND NOT (source = 'hub' AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(allowed) AS n(name)
                     WHERE left(n.name, 1) = '@' AND COALESCE(vouched, '[]') ? substr(n.name, 2))) THEN
        RETURN format('%s is not an assignee; it may be answered by %s', COALESCE(usr, 'nobody named'),
                      (SELECT string_agg(a, ', ') FROM jsonb_array_elements_text(allowed) AS a));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION gatewidgets_signals_guard() RETURNS trigger LANGUAGE plpgsql {_PATH} AS $$
DECLARE
    by_role boolean := gatewidgets_role_is_user();
    policy jsonb;
    decider text;
    source text;
    action text;
    reason text;
    quorum integer;
    counted integer;
    approved jsonb;
    timed_out jsonb;
    what text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.db_role := CASE WHEN NEW.state IN {_OPEN} THEN NULL ELSE session_user END;
        IF NEW.state NOT IN {_OPEN} AND NEW.context IS NOT NULL AND NEW.context::jsonb ? 'policy' THEN
            {_RAISE} format('gatewidgets: signal %L has a policy and must start open', NEW.signal_id);
        END IF;
        RETURN NEW;
    END IF;
    what := format('signal %L of execution %L', OLD.signal_id, OLD.execution);
    NEW.db_role := CASE WHEN NEW.state IS NOT DISTINCT FROM OLD.state THEN OLD.db_role
                        WHEN NEW.state IN {_OPEN} THEN NULL ELSE session_user END;
    IF by_role AND NEW.set_by IS NOT NULL AND NEW.set_by IS DISTINCT FROM OLD.set_by
            AND NEW.set_by IS DISTINCT FROM session_user THEN
        {_RAISE} format('gatewidgets: %s may not record %L as who set %s: this database records the login role',
                        session_user, NEW.set_by, what);
    END IF;
    policy := OLD.context::jsonb -> 'policy';
    IF policy IS NULL THEN
        RETURN NEW;
    END IF;
    IF (NEW.context::jsonb -> 'policy') IS DISTINCT FROM policy
            OR (NEW.context::jsonb -> 'on_timeout') IS DISTINCT FROM (OLD.context::jsonb -> 'on_timeout') THEN
        {_RAISE} format('gatewidgets: the policy of %s cannot change', what);
    END IF;
    IF by_role AND EXISTS (  -- approvals shown in the context: a role adds or takes back only its own
            WITH o AS (SELECT jsonb_array_elements(COALESCE(OLD.context::jsonb -> 'approvals', '[]')) AS a),
                 n AS (SELECT jsonb_array_elements(COALESCE(NEW.context::jsonb -> 'approvals', '[]')) AS a)
            SELECT 1 FROM ((SELECT a FROM n EXCEPT SELECT a FROM o) UNION ALL (SELECT a FROM o EXCEPT SELECT a FROM n))
                AS changed WHERE changed.a ->> 'user' IS DISTINCT FROM session_user) THEN
        {_RAISE} format('gatewidgets: %s may change only its own approval of %s', session_user, what);
    END IF;
    IF OLD.state NOT IN {_OPEN} THEN
        IF (NEW.state, NEW.value, NEW.identity, NEW.set_by, NEW.via, NEW.set_at)
                IS DISTINCT FROM (OLD.state, OLD.value, OLD.identity, OLD.set_by, OLD.via, OLD.set_at) THEN
            {_RAISE} format('gatewidgets: %s is %s; a decision under a policy is final', what, OLD.state);
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.state = 'TIMED_OUT' AND (OLD.deadline IS NULL
            OR now() + interval '1 minute' < OLD.deadline::timestamptz) THEN
        {_RAISE} format('gatewidgets: %s cannot time out before its deadline (%s)', what, OLD.deadline);
    END IF;
    timed_out := CASE OLD.context::jsonb ->> 'on_timeout' WHEN 'approve' THEN 'true' WHEN 'reject' THEN 'false' END;
    IF NEW.state = 'TIMED_OUT' AND NEW.kind = 'approve' AND NEW.value::jsonb IS DISTINCT FROM timed_out THEN
        {_RAISE} format('gatewidgets: a timeout of %s decides %s, not %s', what, COALESCE(timed_out::text, 'nothing'),
                        NEW.value);
    END IF;
    IF NEW.state <> 'SET' THEN
        RETURN NEW;
    END IF;
    decider := CASE WHEN by_role THEN session_user ELSE NEW.set_by END;
    source := CASE WHEN by_role THEN 'database' ELSE COALESCE(NEW.context::jsonb ->> 'identity_source', 'claimed') END;
    IF decider IS NULL THEN
        {_RAISE} format('gatewidgets: a set of %s must say who decides (set_by): it has a policy', what);
    END IF;
    action := CASE WHEN NEW.kind <> 'approve' THEN 'set'
                   WHEN NEW.value::jsonb = 'false'::jsonb THEN 'reject' ELSE 'approve' END;
    reason := gatewidgets_may_answer(OLD, decider, action, source,
                                     CASE WHEN by_role THEN NULL ELSE NEW.context::jsonb -> 'identity_groups' END);
    IF reason IS NOT NULL THEN
        {_RAISE} format('gatewidgets: %s may not %s %s: %s (refused by the database)', decider, action, what, reason);
    END IF;
    quorum := COALESCE((policy ->> 'quorum')::integer, 1);
    IF action <> 'approve' OR quorum <= 1 THEN
        RETURN NEW;
    END IF;
    approved := CASE WHEN strpos(NEW.identity, '|') > 0 THEN substr(NEW.identity, strpos(NEW.identity, '|') + 1)::jsonb
                END;  -- an edited approval's value_key: 'true|<the approved value>'
    IF NEW.value::jsonb <> 'true'::jsonb OR split_part(NEW.identity, '|', 1) <> 'true'
            OR (NEW.context::jsonb -> 'approved_value') IS DISTINCT FROM approved THEN
        {_RAISE} format('gatewidgets: the value set on %s is not the value approved (%s)', what, NEW.identity);
    END IF;
    SELECT count(*) INTO counted FROM (
        SELECT DISTINCT ON (e.set_by) e.set_by, e.detail FROM events e
        WHERE e.project = OLD.project AND e.domain = OLD.domain AND e.execution = OLD.execution
          AND e.signal_id = OLD.signal_id AND e.kind = 'approved' AND e.set_by IS NOT NULL AND e.set_by <> decider
          AND (NOT by_role OR e.db_role = e.set_by)
        ORDER BY e.set_by, e.id DESC) AS latest
    WHERE latest.detail::jsonb ->> 'value_key' = NEW.identity
      AND gatewidgets_may_answer(OLD, latest.set_by, 'approve', CASE WHEN by_role THEN 'database'
          ELSE COALESCE(latest.detail::jsonb ->> 'identity_source', 'claimed') END,
          CASE WHEN by_role THEN NULL ELSE latest.detail::jsonb -> 'identity_groups' END) IS NULL;
    IF counted + 1 < quorum THEN
        {_RAISE} format('gatewidgets: %s needs %s distinct approvals of that value; the database holds %s with '
                        '%s''s (refused by the database)', what, quorum, counted + 1, decider);
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION gatewidgets_events_guard() RETURNS trigger LANGUAGE plpgsql {_PATH} AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        {_RAISE} 'gatewidgets: the history is append-only';
    END IF;
    NEW.db_role := session_user;
    IF NEW.set_by IS NOT NULL AND NEW.set_by IS DISTINCT FROM session_user AND gatewidgets_role_is_user() THEN
        {_RAISE} format('gatewidgets: %s may not record %L in the history: this database records the login role',
                        session_user, NEW.set_by);
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION gatewidgets_executions_guard() RETURNS trigger LANGUAGE plpgsql {_PATH} AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.db_role := OLD.db_role;
        NEW.launched_by := OLD.launched_by;
    ELSE
        NEW.db_role := session_user;
        IF gatewidgets_role_is_user() THEN
            NEW.launched_by := json_build_object('user', session_user, 'source', 'database')::text;
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION gatewidgets_owner_only(what text) RETURNS void LANGUAGE plpgsql {_PATH} AS $$
BEGIN
    IF NOT gatewidgets_admin() THEN
        {_RAISE} format('gatewidgets: only the owner of the gatewidgets tables may change %s, not %s', what,
                        session_user);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION gatewidgets_meta_guard() RETURNS trigger LANGUAGE plpgsql {_PATH} AS $$
BEGIN
    IF 'role_is_user' IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.key END, CASE WHEN TG_OP <> 'DELETE' THEN NEW.key END)
            THEN
        PERFORM gatewidgets_owner_only('role_is_user');
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE OR REPLACE FUNCTION gatewidgets_group_members_guard() RETURNS trigger LANGUAGE plpgsql {_PATH} AS $$
BEGIN
    PERFORM gatewidgets_owner_only('group_members');
    RETURN NULL;
END $$;
""" + "".join(f"CREATE OR REPLACE TRIGGER gatewidgets_{table}_guard BEFORE {ops} ON {table} FOR EACH {each} "
              f"EXECUTE FUNCTION gatewidgets_{table}_guard();\n"
              for table, ops, each in (("signals", "INSERT OR UPDATE", "ROW"),
                                       ("events", "INSERT OR UPDATE OR DELETE", "ROW"),
                                       ("executions", "INSERT OR UPDATE", "ROW"),
                                       ("meta", "INSERT OR UPDATE OR DELETE", "ROW"),
                                       ("group_members", "INSERT OR UPDATE OR DELETE OR TRUNCATE", "STATEMENT")))


# schema step 5: a signal whose stored context is not a JSON object, or whose policy is not one, cannot be read, so
# whether (and by whom) it may be decided cannot be told: every change of it is refused (fail closed, as the Python
# judge refuses an unreadable policy), and no signal is given such a context. Its trigger's name sorts before
# ``gatewidgets_signals_guard``'s, so it fires first (the guard of step 3 reads the context as JSON).
READABLE_SQL = f"""
CREATE OR REPLACE FUNCTION gatewidgets_context(context text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE {_PATH} AS $$
DECLARE
    parsed jsonb;
BEGIN
    IF context IS NULL THEN
        RETURN '{{}}';
    END IF;
    parsed := context::jsonb;
    RETURN CASE WHEN jsonb_typeof(parsed) = 'object' THEN parsed END;
EXCEPTION WHEN data_exception THEN  -- not JSON
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION gatewidgets_readable(context text, what text) RETURNS void LANGUAGE plpgsql IMMUTABLE
{_PATH} AS $$
DECLARE
    parsed jsonb := gatewidgets_context(context);
BEGIN
    IF parsed IS NULL THEN
        {_RAISE} format('gatewidgets: the stored context of %s is not a JSON object, so whether it has a policy '
                        'cannot be told: nobody may change it until the owner of the tables repairs it (refused by '
                        'the database)', what);
    END IF;
    IF jsonb_typeof(parsed -> 'policy') NOT IN ('object', 'null') THEN
        {_RAISE} format('gatewidgets: the stored policy of %s is %s, not a JSON object: it cannot be read, so nobody '
                        'may change it until the owner of the tables repairs it (refused by the database)', what,
                        left((parsed -> 'policy')::text, 80));
    END IF;
END $$;

CREATE OR REPLACE FUNCTION gatewidgets_signals_context() RETURNS trigger LANGUAGE plpgsql {_PATH} AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM gatewidgets_readable(OLD.context, format('signal %L of execution %L', OLD.signal_id, OLD.execution));
    END IF;
    PERFORM gatewidgets_readable(NEW.context, format('signal %L of execution %L', NEW.signal_id, NEW.execution));
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER gatewidgets_signals_context BEFORE INSERT OR UPDATE ON signals FOR EACH ROW
    EXECUTE FUNCTION gatewidgets_signals_context();
"""


def _install(conn: psycopg.Connection[Any], text: str) -> None:
    """Run ``text`` (several statements, naming the tables' schema :data:`_SCHEMA`) in the migration's
    transaction."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        row = cursor.execute("SELECT current_schema()").fetchone()
    assert row is not None
    schema = sql.Identifier(row[0]).as_string(conn)
    conn.execute(text.replace(_SCHEMA, schema).encode())  # our own text, several statements: one simple query


def install_guard(conn: psycopg.Connection[Any]) -> None:
    """Create or replace the guard's columns, tables, functions and triggers (idempotent; in the migration's
    transaction)."""
    _install(conn, GUARD_SQL)


def install_readable(conn: psycopg.Connection[Any]) -> None:
    """Create or replace the check that a signal's stored context and policy can be read (:data:`READABLE_SQL`;
    idempotent, in the migration's transaction)."""
    _install(conn, READABLE_SQL)

