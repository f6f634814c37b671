"""A real PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` into a temporary folder owned by the
``postgres`` user (the server refuses root), listening on a unix socket only; each test gets a database of its own.
The ``postgres_server`` (session) and ``postgres_url`` (per test) fixtures in ``conftest.py`` use it."""
from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass
from typing import Iterator

import psycopg
import pytest

TOOLS = ("initdb", "pg_ctl", "postgres")


def _as_server_user(*command: str) -> list[str]:
    """``command`` run as ``postgres`` when this process is root (the server refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@dataclass
class PostgresServer:
    """A server started in ``folder`` (data in ``data/``, socket in ``sock/``)."""

    folder: str

    @property
    def data(self) -> str:
        return os.path.join(self.folder, "data")

    @property
    def sock(self) -> str:
        return os.path.join(self.folder, "sock")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.sock}"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(_as_server_user("pg_ctl", "-D", self.data, "-l", os.path.join(self.folder, "log"), "-w",
                                       *args), check=True, capture_output=True, timeout=60)

    def new_database(self) -> str:
        """The URL of a fresh, empty database."""
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[call-overload]
        return self.url(name)


@contextlib.contextmanager
def running_postgres(fsync: bool = False) -> Iterator[PostgresServer]:
    """A PostgreSQL server in a temporary folder, stopped (``-m immediate``) and removed afterwards; skips the
    test when the server is not installed. ``fsync``: commits reach the disk (off for tests: faster)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"PostgreSQL's server is not installed ({', '.join(missing)} not on PATH): "
                    "apt-get install postgresql")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: the PostgreSQL server refuses to run as root")
    folder = tempfile.mkdtemp(prefix="gw-pg-")
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    server = PostgresServer(folder)
    try:
        subprocess.run(_as_server_user("initdb", "-D", server.data, "-A", "trust", "-U", "postgres", "--no-sync"),
                       check=True, capture_output=True, timeout=120)
        subprocess.run(_as_server_user("mkdir", "-m", "0700", server.sock), check=True, timeout=10)
        with open(os.path.join(server.data, "postgresql.conf"), "a") as conf:
            conf.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{server.sock}'\n"
                       f"fsync = {'on' if fsync else 'off'}\n"
                       "max_connections = 200\n")
        server.pg_ctl("start")
        yield server
    finally:
        subprocess.run(_as_server_user("pg_ctl", "-D", server.data, "stop", "-m", "immediate"),
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def database_on_small_disk(server: PostgresServer, megabytes: int = 8) -> Iterator[str]:
    """The URL of a fresh database on ``server`` whose tables (``default_tablespace``) live on a file system of
    their own, a ``megabytes`` tmpfs, so a test can fill it for real (``No space left on device``); dropped and
    unmounted afterwards. Skips the test when this process may not mount one (it needs root, or CAP_SYS_ADMIN)."""
    disk = tempfile.mkdtemp(prefix="gw-pg-disk-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", disk],
                             capture_output=True, text=True, timeout=30)
    if mounted.returncode != 0:
        os.rmdir(disk)
        pytest.skip(f"this process may not mount a tmpfs (mount said: {mounted.stderr.strip()}): a full disk needs "
                    "a small file system of its own; run as root or with CAP_SYS_ADMIN")
    space = f"small_{secrets.token_hex(4)}"
    url = None
    try:
        user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if user is not None:
            os.chown(disk, user.pw_uid, user.pw_gid)
        url = server.new_database()
        with psycopg.connect(server.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"CREATE TABLESPACE {space} LOCATION '{disk}'")  # type: ignore[call-overload]
            conn.execute(f"ALTER DATABASE {database_of(url)} SET default_tablespace = {space}")  # type: ignore
        yield url
    finally:
        with psycopg.connect(server.url(), autocommit=True, connect_timeout=10) as conn:
            if url is not None:
                conn.execute(f"DROP DATABASE IF EXISTS {database_of(url)} WITH (FORCE)")  # type: ignore
            conn.execute(f"DROP TABLESPACE IF EXISTS {space}")  # type: ignore[call-overload]
        subprocess.run(["umount", "--lazy", disk], capture_output=True, timeout=30)
        os.rmdir(disk)


def database_of(url: str) -> str:
    """The database a :meth:`PostgresServer.url` names."""
    return urllib.parse.urlsplit(url).path.lstrip("/")
