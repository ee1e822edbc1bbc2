"""Pieces several console test modules share: a SQLite store in the test's directory, a store
on either database (SQLite, and a real PostgreSQL), and a hub that remembers what it was told.
A module imports the fixtures it wants (pytest finds them in its namespace)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from vending_fleet.hub import Hub
from vending_fleet.model import Store
from vending_fleet.store import open_store


class RecordingHub(Hub):
    """The real hub, also keeping every update: what the pages would be told."""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[tuple[str, dict[str, Any]]] = []

    def publish(self, kind: str, data: Mapping[str, Any]) -> None:
        self.updates.append((kind, dict(data)))
        super().publish(kind, data)

    def listeners(self) -> int:
        return 1 + super().listeners()      # this recorder is one: what a page would hear

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [data for got, data in self.updates if got == kind]


@pytest.fixture(name="store")
def sqlite_store_fixture(tmp_path: Path) -> Iterator[Store]:
    """A SQLite store of its own for each test."""
    opened = open_store(f"sqlite:///{tmp_path / 'console.db'}")
    yield opened
    opened.close()


@pytest.fixture(name="store_url", params=["sqlite", "postgresql"])
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind (the module also imports ``module_postgres_fixture``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'console.db'}"
    return str(request.getfixturevalue("module_postgres").new_database())


@pytest.fixture(name="store")
def both_databases_store_fixture(store_url: str) -> Iterator[Store]:
    """The store on each database in turn (import it instead of ``sqlite_store_fixture``)."""
    opened = open_store(store_url)
    yield opened
    opened.close()
