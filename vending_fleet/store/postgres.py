"""PostgreSQL with psycopg 3: one connection shared by the threads behind a lock (the console's
load is small), opened again if the server dropped it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from vending_fleet.store.database import StoreUnavailable, Tx
from vending_fleet.store.dialect import POSTGRES, Dialect


class PostgresDatabase:
    dialect: Dialect = POSTGRES

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        # autocommit: each ``transaction()`` block below is one explicit transaction.
        return psycopg.connect(self._url, autocommit=True, options="-c TimeZone=UTC")

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        with self._lock:
            try:
                if self._conn.closed or self._conn.broken:
                    self._conn = self._connect()
                with self._conn.transaction(), self._conn.cursor() as cursor:
                    yield Tx(cursor, self.dialect)
            except psycopg.OperationalError as exc:   # the server away, or refusing for now
                raise StoreUnavailable(f"the PostgreSQL database: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
