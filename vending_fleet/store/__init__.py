"""``Store`` (vending_fleet.model) on SQLite (one file, the default) or PostgreSQL.

    open_store("sqlite:///var/lib/vending-fleet/console.db")   # or a plain path
    open_store("postgresql://fleet@db.example.net/fleet")

By job: ``schema.py`` the tables, ``fleet.py`` and ``office.py`` the queries (written once),
``dialect.py`` the little that differs between the two databases, ``sqlite.py`` and
``postgres.py`` their connections, ``sql_store.py`` the whole.
"""

from __future__ import annotations

from vending_fleet.model import Store
from vending_fleet.store.sql_store import SqlStore

__all__ = ["SqlStore", "open_store"]


def open_store(url: str) -> Store:
    """The store at ``url``: ``sqlite:///path`` (``sqlite:////abs/path`` or
    ``sqlite:///relative``), ``sqlite:///:memory:``, a plain file path, or
    ``postgresql://...`` / ``postgres://...``; tables are created if missing."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from vending_fleet.store.postgres import PostgresDatabase   # psycopg only when used

        return SqlStore(PostgresDatabase(url.replace("postgresql+psycopg://", "postgresql://")))
    from vending_fleet.store.sqlite import SqliteDatabase

    path = url.removeprefix("sqlite://")
    if path != url:
        path = path.removeprefix("/")     # sqlite:///rel -> rel, sqlite:////abs -> /abs
    if not path:
        raise ValueError(f"no database file in {url!r}")
    return SqlStore(SqliteDatabase(path))
