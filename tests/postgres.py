"""A real PostgreSQL 15 (Debian's ``postgresql`` package) for the console's store tests.

Each server runs from its own temp dir (data, Unix socket, log) on a free loopback port, with
trust authentication for loopback (a test database only), and fsync off (fast; nothing here
must survive a power cut). PostgreSQL refuses to run as root, and the tests run as root in CI:
then initdb and postgres run as the ``postgres`` system user (made by the Debian package) via
``setpriv``, the temp dir chowned to it. The server also dies with the pytest process that
started it (``setpriv --pdeathsig KILL``, as tests/brokers.py does). Fixtures (import them
into a test module):

- ``postgres`` (per test) and ``module_postgres`` (per module): a running ``Postgres`` with a
  database ``fleet`` at ``url``; ``new_database()`` makes another, empty, and returns its URL
  (cheap: tests on one module server each take a fresh database).

Skipped when PostgreSQL is not installed; failed instead when ``CI`` is set (.ci/run installs
it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from brokers import free_ports, port_open

PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT_S = 30.0
SETPRIV = shutil.which("setpriv")


def require_postgres() -> None:
    missing = [name for name in ("initdb", "postgres") if not (PG_BIN / name).exists()]
    if os.geteuid() == 0 and not missing:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("the postgres user")
    if missing:
        message = (f"PostgreSQL 15 not installed ({', '.join(missing)} missing under {PG_BIN};"
                   " .ci/run installs it: apt-get install postgresql)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _as_server_user(argv: list[str], pdeathsig: bool = False) -> list[str]:
    """``argv`` as the ``postgres`` user when we are root (postgres refuses root)."""
    prefix: list[str] = []
    if SETPRIV is not None and (pdeathsig or os.geteuid() == 0):
        prefix = [SETPRIV]
        if os.geteuid() == 0:
            prefix += ["--reuid=postgres", "--regid=postgres", "--init-groups"]
        if pdeathsig:
            prefix += ["--pdeathsig", "KILL"]
        prefix.append("--")
    elif os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
    return prefix + argv


class Postgres:
    """A PostgreSQL server in its own temp dir; ``start()``, then ``url``; ``close()``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="vk-postgres-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        if os.geteuid() == 0:
            server_user = pwd.getpwnam("postgres")
            os.chown(self.root, server_user.pw_uid, server_user.pw_gid)

    def start(self) -> Postgres:
        subprocess.run(_as_server_user([str(PG_BIN / "initdb"), "-D", str(self.data), "-U",
                                        "postgres", "--auth=trust", "-E", "UTF8",
                                        "--no-locale", "--no-sync"]),
                       cwd=self.root, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        for _ in range(3):
            self.port = free_ports(1)[0]
            if self._launch():
                self.url = self.new_database("fleet")
                return self
        raise RuntimeError(f"postgres did not start within {START_TIMEOUT_S} s; its log "
                           f"({self.log}):\n{self._tail()}")

    def _launch(self) -> bool:
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with (self.root / "postgres.log").open("ab") as out:
            self.process = subprocess.Popen(_as_server_user(argv, pdeathsig=True),
                                            stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            if port_open(self.port):
                try:
                    psycopg.connect(self.admin_url, connect_timeout=2).close()
                    return True
                except psycopg.OperationalError:
                    pass           # "the database system is starting up"
            time.sleep(0.1)
        self.stop()
        return False

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self, name: str | None = None) -> str:
        """An empty database on this server: its URL."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clients disconnected, then a clean stop); SIGKILL if slow."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as error:
            return f"(no log: {error})"


def running_postgres() -> Iterator[Postgres]:
    require_postgres()
    server = Postgres()
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture(name="postgres")
def postgres_fixture() -> Iterator[Postgres]:
    """A running PostgreSQL for one test (database ``fleet`` at ``.url``); stopped after."""
    yield from running_postgres()


@pytest.fixture(name="module_postgres", scope="module")
def module_postgres_fixture() -> Iterator[Postgres]:
    """``postgres`` shared by a module: take a ``new_database()`` per test."""
    yield from running_postgres()
