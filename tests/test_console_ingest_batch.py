"""The ingest path under load: many messages in one commit (``Ingester.handle_batch``), a bad
one among them costing only itself, live updates only after the commit, and the queue between
the broker's thread and the store losing nothing when it stops."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console_parts import sqlite_store_fixture
from test_console_store import T0, Machine

from vending_fleet.hub import Hub
from vending_fleet.ingest import Ingester, Message
from vending_fleet import ingest_queue
from vending_fleet.ingest_queue import IngestQueue
from vending_fleet.model import Store
from vending_fleet.store.database import StoreUnavailable
from vending_fleet.store.sqlite import SqliteDatabase

__all__ = ["sqlite_store_fixture"]   # found by pytest


def messages(machine: Machine, sales: int) -> list[Message]:
    events = [step for n in range(sales) for step in machine.sale(f"tx-{n}", T0)]
    return [(f"vk/v1/{machine.id}/event", json.dumps(e).encode(), T0) for e in events]


class Recorder(Hub):
    """A hub that also notes, for each update, how many sales the store held then."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []
        self._store = store

    def publish(self, kind: str, data: Any) -> None:
        self.seen.append((kind, len(self._store.sales(T0, datetime.now(UTC)))))
        super().publish(kind, data)


def test_a_batch_is_one_commit_and_updates_follow_it(store: Store) -> None:
    hub = Recorder(store)
    ingester = Ingester(store, hub)
    ingester.handle_batch(messages(Machine(), 3))
    assert ingester.stored == 15 and ingester.rejected == 0
    assert len(store.sales(T0, datetime.now(UTC))) == 3
    # every update went out after the commit: each saw all three sales already stored
    assert {count for _, count in hub.seen} == {3}
    assert sum(kind == "sale" for kind, _ in hub.seen) == 3


def test_a_message_the_store_refuses_costs_only_itself(store: Store) -> None:
    machine = Machine()
    batch = messages(machine, 2)
    bad = machine.event(T0, group="sale", kind="vend_result", tx="tx-bad", status="vended",
                        slot="A1", item="Water", amount=2.5, currency="USD")  # a float
    batch.insert(3, (f"vk/v1/{machine.id}/event", json.dumps(bad).encode(), T0))
    ingester = Ingester(store, Hub())
    ingester.handle_batch(batch)
    assert (ingester.stored, ingester.rejected) == (10, 1)
    assert len(store.sales(T0, datetime.now(UTC))) == 2


def test_bad_input_in_a_batch_that_is_stored_again_is_turned_away_once(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    machine = Machine()
    batch = messages(machine, 1)
    refused = machine.event(T0, group="sale", kind="vend_result", tx="tx-bad",
                            status="vended", slot="A1", item="Water", amount=2.5,
                            currency="USD")                       # the store refuses a float
    batch += [(f"vk/v1/{machine.id}/event", b"{not json", T0),
              (f"vk/v1/{machine.id}/event", json.dumps(refused).encode(), T0)]
    ingester = Ingester(store, Hub())
    with caplog.at_level(logging.WARNING, logger="vending_fleet.ingest"):
        ingester.handle_batch(batch)
    assert (ingester.stored, ingester.rejected) == (5, 2)
    ignored = [r.getMessage() for r in caplog.records if "message ignored" in r.getMessage()]
    assert len(ignored) == 2, ignored            # each said once, not again on the retry
    assert sum("malformed JSON" in line for line in ignored) == 1


def test_the_queue_stores_everything_it_was_given_before_it_stops(store: Store) -> None:
    ingester = Ingester(store, Hub())
    queue = IngestQueue(ingester)
    queue.start()
    batches = [messages(Machine(f"m-{n:03d}", journal=f"{n:012x}"), 40) for n in range(5)]
    putters = [threading.Thread(target=lambda b=b: [queue.put(*m) for m in b])
               for b in batches]
    for putter in putters:
        putter.start()
    for putter in putters:
        putter.join()
    queue.stop()
    assert ingester.stored == 5 * 40 * 5
    assert len(store.sales(T0, datetime.now(UTC))) == 5 * 40


class Flaky:
    """A store whose database cannot work for its first ``failures`` batches."""

    def __init__(self, store: Store, failures: int) -> None:
        self._store = store
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def batch(self) -> Any:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("the SQLite database: database is locked")
        return self._store.batch()

    def record_event(self, *args: Any) -> bool:
        if self.failures:                  # one at a time fails the same way meanwhile
            raise StoreUnavailable("the SQLite database: database is locked")
        return bool(self._store.record_event(*args))


def test_a_database_that_cannot_work_for_a_while_loses_nothing(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker has acknowledged them: the messages exist nowhere else, so a locked, full or
    unreachable database keeps them queued until it works again."""
    monkeypatch.setattr(ingest_queue, "RETRY_MIN_S", 0.01)
    flaky = Flaky(store, failures=3)
    ingester = Ingester(flaky, Hub())         # type: ignore[arg-type]
    queue = IngestQueue(ingester)
    queue.start()
    for message in messages(Machine(), 4):
        queue.put(*message)
    deadline = time.monotonic() + 20
    while ingester.stored < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    queue.stop()
    assert flaky.failures == 0
    assert (ingester.stored, ingester.rejected) == (20, 0)
    assert len(store.sales(T0, datetime.now(UTC))) == 4


def test_sqlite_locked_by_another_writer_is_unavailable_not_a_bad_message(
        tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "console.db")
    other = sqlite3.connect(tmp_path / "console.db", isolation_level=None)
    try:
        db._conn.execute("PRAGMA busy_timeout = 50")      # not the 10 s it waits in service
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="database is locked"):
            with db.transaction():
                pass
        other.execute("ROLLBACK")
        with db.transaction() as tx:                       # and it works again after
            assert tx.one("SELECT 1") == (1,)
    finally:
        other.close()
        db.close()


def test_a_sale_of_zero_or_less_is_turned_away(store: Store) -> None:
    machine = Machine()
    bad = [machine.event(T0, group="sale", kind="vend_result", tx=f"tx-{amount}",
                         status="vended", slot="A1", item="Water", amount=amount,
                         currency="USD") for amount in ("0", "-2.50")]
    ingester = Ingester(store, Hub())
    ingester.handle_batch([(f"vk/v1/{machine.id}/event", json.dumps(e).encode(), T0)
                           for e in bad])
    assert (ingester.stored, ingester.rejected) == (0, 2)
    assert store.sales(T0, datetime.now(UTC)) == []
