"""The ingest path under load: many messages in one commit (``Ingester.handle_batch``), a bad
one among them costing only itself, live updates only after the commit, and the queue between
the broker's thread and the store losing nothing when it stops."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from console_parts import sqlite_store_fixture
from test_console_store import T0, Machine

from vending_fleet.hub import Hub
from vending_fleet.ingest import Ingester, Message
from vending_fleet.ingest_queue import IngestQueue
from vending_fleet.model import Store

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
