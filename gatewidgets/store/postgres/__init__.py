"""The team store: executions, nodes, signals and their events in a PostgreSQL database shared by every process on
every machine that names it (``GATEWIDGETS_STORE=postgresql://user:password@host/db``, or ``?host=/socket/dir``).

- Decisions are single statements or short transactions on locked rows: a set is one ``UPDATE ... WHERE state IN
  (open states) RETURNING`` (first answer wins); an adoption locks the execution's row.
- Every event is appended in the transaction that makes it and announced by ``NOTIFY`` at its commit; a
  subscriber's ``LISTEN`` thread wakes waiting gates and dashboards in other processes at once, and polls every
  ``poll_interval`` seconds for what a dropped connection missed.
- Node changes are written behind, in batches; :meth:`durable` commits every completion before the engine starts a
  successor (in the database, so it survives the process and its machine).
- Files of values stay in ``files_dir`` (``$GATEWIDGETS_FILES_DIR``, a folder the team shares), content-addressed
  as with SQLite: the faces, the server's uploads and the value types hand files around by path, and large files
  stream to and from a file system without filling the database or its backups.
- Every database error leaves a public method as a ``StoreError`` naming the database with its password masked;
  statements time out after ``busy_timeout`` seconds; lost connections are retried for ``retry_for`` seconds.

- An execution is owned by the process that launched or adopted it while it renews its lease (:mod:`.leases`);
  a process that finds one taken over stops its copy, and an end the database does not take is kept and written
  once it can.

The rooms, lowest first: :mod:`.url`, :mod:`.connection`, :mod:`.schema`, :mod:`.leases`, :mod:`.executions`,
:mod:`.signals`, :mod:`.history`, :mod:`.store`. This package itself needs no driver: ``gatewidgets[postgres]``
(psycopg 3 and its pool) is imported with :mod:`.store`.
"""
from __future__ import annotations

from gatewidgets.store.postgres.url import is_postgres_url, masked

__all__ = ["is_postgres_url", "masked"]
