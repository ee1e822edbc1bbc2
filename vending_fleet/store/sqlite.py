"""SQLite: one connection shared by the ingester's thread and the web app's, behind a lock;
WAL so another console process on the same file reads while this one writes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from vending_fleet.store.database import StoreUnavailable, Tx
from vending_fleet.store.dialect import SQLITE, Dialect

BUSY_TIMEOUT_MS = 10_000    # another process's write transaction: wait, don't fail


class SqliteDatabase:
    dialect: Dialect = SQLITE

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are begun explicitly below, so a write takes the
        # file's write lock at BEGIN (IMMEDIATE) instead of upgrading half-way (deadlock-prone
        # with two processes).
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA synchronous = NORMAL")   # WAL: durable enough, faster

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        with self._lock:
            cursor = self._conn.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield Tx(cursor, self.dialect)
                cursor.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:     # also after a COMMIT that failed
                    with suppress(sqlite3.Error):
                        cursor.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreUnavailable(f"the SQLite database: {exc}") from exc
                raise
            finally:
                cursor.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
