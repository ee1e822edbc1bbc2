"""``SqlStore``: the ``Store`` both databases share, over a ``Database`` backend."""

from __future__ import annotations

from vending_fleet.store import schema
from contextlib import AbstractContextManager

from vending_fleet.store.database import Batching, Database
from vending_fleet.store.fleet import FleetQueries
from vending_fleet.store.office import OfficeQueries


class SqlStore(FleetQueries, OfficeQueries):
    def __init__(self, db: Database) -> None:
        self._db = self._batching = Batching(db)
        with db.transaction() as tx:
            tx.execute(db.dialect.schema_lock)
            for statement in schema.statements(db.dialect.ddl(schema.TABLES)):
                tx.execute(statement)
            found = tx.one("SELECT value FROM meta WHERE key = 'schema_version'")
            if found is None:
                tx.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                           (str(schema.VERSION),))
            elif int(found[0]) > schema.VERSION:
                raise RuntimeError(f"the database has schema version {found[0]}, newer than"
                                   f" this console's {schema.VERSION}: upgrade the console")

    def batch(self) -> AbstractContextManager[None]:
        """The writes this thread makes inside are one commit: all of them, or none."""
        return self._batching.batch()

    @property
    def dialect_name(self) -> str:
        return self._db.dialect.name

    def close(self) -> None:
        self._db.close()
