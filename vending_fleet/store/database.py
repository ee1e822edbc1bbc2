"""One transaction at a time over a DB-API connection, whichever database: ``Database`` is what
``SqlStore`` needs of a backend (``sqlite.py``, ``postgres.py``), ``Tx`` runs the shared SQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from vending_fleet.store.dialect import Dialect

Row = tuple[Any, ...]


class StoreUnavailable(RuntimeError):
    """The database could not do the work now (locked, full, read-only, connection lost), for
    no fault of what was asked: the caller keeps it and tries again later."""


class Tx:
    """The queries of one transaction, written with ``?`` markers (see ``Dialect.sql``)."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self.dialect = dialect

    def execute(self, query: str, params: Sequence[object] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        self._cursor.execute(self.dialect.sql(query), tuple(params))
        return int(self._cursor.rowcount)

    def rows(self, query: str, params: Sequence[object] = ()) -> list[Row]:
        self._cursor.execute(self.dialect.sql(query), tuple(params))
        return [tuple(row) for row in self._cursor.fetchall()]

    def one(self, query: str, params: Sequence[object] = ()) -> Row | None:
        found = self.rows(query, params)
        return found[0] if found else None


class Batching:
    """A ``Database`` whose writes can be gathered: inside ``batch()``, every transaction this
    thread opens is part of one outer transaction, so many messages cost one commit. If any of
    them raises, the whole batch rolls back (the caller then stores them one by one)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.dialect = db.dialect
        self._local = threading.local()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        outer: Tx | None = getattr(self._local, "tx", None)
        if outer is None:
            with self._db.transaction(write) as tx:
                yield tx
            return
        yield outer

    @contextmanager
    def batch(self) -> Iterator[None]:
        with self._db.transaction() as tx:
            self._local.tx = tx
            try:
                yield
            finally:
                self._local.tx = None

    def close(self) -> None:
        self._db.close()


class Database(Protocol):
    dialect: Dialect

    def transaction(self, write: bool = True) -> AbstractContextManager[Tx]:
        """A transaction, committed when the block ends, rolled back if it raises; callers
        from any thread take turns."""

    def close(self) -> None: ...
