"""The console's ingester (vending_fleet.ingest) against a real Mosquitto with the fleet ACL and
a real kiosk selling through its fleet link: every message stored once whatever the broker
resends, steps arriving out of order, a machine catching up after a day away, and bad input
(malformed, oversized, from the wrong machine, refused by the broker) never crashing it."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from brokers import Mosquitto, client_for, connect, disconnect, module_mosquitto_fixture, publish
from fleet_kiosk import FleetKiosk, kiosk_on
from console_parts import RecordingHub, both_databases_store_fixture, store_url_fixture
from postgres import module_postgres_fixture

from kiosk.claims import claim_code
from kiosk.sim import Sandbox
from vending_fleet.ingest import MAX_PAYLOAD, Ingester, subscriptions
from vending_fleet.model import Store, TotalsBy
from vending_fleet.store import open_store

__all__ = ["both_databases_store_fixture", "module_mosquitto_fixture",   # found by pytest
           "module_postgres_fixture", "store_url_fixture"]
PREFIX = "vk/v1"


class LiveConsole:
    """A console's MQTT client as the service runs it: logged in as ``console``, subscribed to
    ``subscriptions()``, each message handed to ``ingester`` on paho's thread (and kept, to be
    replayed)."""

    def __init__(self, broker: Mosquitto, ingester: Ingester,
                 share_group: str | None = None) -> None:
        self.ingester = ingester
        self.received: list[tuple[str, bytes]] = []
        self._subscribed = threading.Event()
        user, password = broker.console
        client, host, port = client_for(broker.url, client_id="console-" + os.urandom(4).hex(),
                                        username=user, password=password,
                                        ca_file=broker.ca_file)
        filters = subscriptions(PREFIX, share_group)
        client.on_connect = lambda c, _u, _f, _code, _p: c.subscribe([(f, 1) for f in filters])
        client.on_subscribe = lambda *_args: self._subscribed.set()
        client.on_message = self._on_message
        self.client = client
        client.connect(host, port, keepalive=30)
        client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        self.received.append((message.topic, bytes(message.payload)))
        self.ingester.on_message(client, userdata, message)

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.received]

    def close(self) -> None:
        disconnect(self.client)


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)




def machine_client(broker: Mosquitto, machine: str) -> mqtt.Client:
    user, password = broker.machine(machine)
    return connect(broker.url, client_id=f"{machine}-test-" + os.urandom(3).hex(),
                   username=user, password=password, ca_file=broker.ca_file)


def sale_step(machine: str, seq: int, tx: str, kind: str, status: str, at: datetime,
              amount: str = "2.50", **detail: Any) -> dict[str, Any]:
    return {"id": f"0123456789ab-{seq}", "machine": machine, "group": "sale", "kind": kind,
            "at": at.isoformat(timespec="microseconds"), "tx": tx, "status": status,
            "slot": "A1", "item": "Water", "amount": amount, "currency": "USD",
            "gateway": "mixpay", "asset": "USDT", "detail": detail}


def send(client: mqtt.Client, machine: str, leaf: str, payload: bytes | dict[str, Any],
         retain: bool = False) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    publish(client, f"{PREFIX}/{machine}/{leaf}", body, retain=retain)


def test_subscriptions_share_only_the_events() -> None:
    assert subscriptions("vk/v1", None) == ["vk/v1/+/status", "vk/v1/+/state", "vk/v1/+/event",
                                            "vk/v1/+/reply"]
    assert subscriptions("fleet/x", "consoles") == [
        "fleet/x/+/status", "fleet/x/+/state", "$share/consoles/fleet/x/+/event",
        "fleet/x/+/reply"]


# -- a real kiosk -----------------------------------------------------------------------------

def test_a_kiosk_selling_reaches_the_store_once_whatever_is_resent(
        module_mosquitto: Mosquitto, tmp_path: Path, sandbox: Sandbox, store: Store,
        store_url: str) -> None:
    hub = RecordingHub()
    ingester = Ingester(store, hub, PREFIX)
    console = LiveConsole(module_mosquitto, ingester)
    kiosk: FleetKiosk = kiosk_on(module_mosquitto, tmp_path, sandbox, "m-001")
    day = (datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1))
    try:
        kiosk.harness.wait_for(lambda: (m := store.machine("m-001")) is not None
                               and m.online and m.in_service, 15)
        sold = [kiosk.sell("A1"), kiosk.sell("A2")]
        kiosk.harness.wait_for(lambda: len(store.sales(*day)) == 2)
        kiosk.harness.wait_for(lambda: [s.stock for s in store.slots("m-001")] == [49, 49])
    finally:
        kiosk.close()
    wait_until(lambda: (m := store.machine("m-001")) is not None and not m.online)
    console.close()
    assert ingester.rejected == 0
    sales = store.sales(*day)
    assert {s.tx for s in sales} == set(sold)
    assert sorted((s.slot, s.item, s.amount, s.currency, s.gateway) for s in sales) == [
        ("A1", "Water", Decimal("2.50"), "USD", "mixpay"),
        ("A2", "Cola", Decimal("2.00"), "USD", "mixpay")]
    machine = store.machine("m-001")
    assert machine is not None and machine.reason == "stopped" and machine.currency == "USD"
    assert machine.sales_today == 2 and machine.last_seen is not None
    [total] = store.totals(TotalsBy.MACHINE, *day)
    assert (total.key, total.count, total.amount) == ("m-001", 2, Decimal("4.50"))
    assert {s["tx"] for s in hub.kinds("sale")} == set(sold)
    assert hub.kinds("machine") and hub.kinds("event")
    events = store.events_of("m-001", day[0])
    seqs = [int(str(e["id"]).rsplit("-", 1)[1]) for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    # The broker resends (a reconnect before PUBACK): the same messages again, twice.
    quiet = RecordingHub()
    again = Ingester(store, quiet, PREFIX)
    for topic, body in console.received * 2:
        again.handle(topic, body, datetime.now(UTC))
    assert again.rejected == 0 and again.stored == 0 and again.duplicates > 0
    assert len(store.sales(*day)) == 2 and len(store.events_of("m-001", day[0])) == len(events)
    assert quiet.kinds("sale") == [] and quiet.kinds("event") == []   # nothing new to tell

    # Out of order (newest first, as after a reconnect's resend) into a fresh store: the
    # same views.
    other = open_store(f"sqlite:///{tmp_path / 'reversed.db'}")
    try:
        backwards = Ingester(other, RecordingHub(), PREFIX)
        for topic, body in reversed(console.received):
            backwards.handle(topic, body, datetime.now(UTC))
        assert backwards.rejected == 0
        assert {s.tx for s in other.sales(*day)} == set(sold)
        assert [e["id"] for e in other.events_of("m-001", day[0])] == [e["id"] for e in events]
        assert other.open_claims() == [] and other.slots("m-001") == store.slots("m-001")
    finally:
        other.close()


# -- a machine's own client (its credentials, the ACL) ---------------------------------------

def test_a_machine_offline_for_a_day_catches_up(module_mosquitto: Mosquitto,
                                                store: Store) -> None:
    ingester = Ingester(store, RecordingHub(), PREFIX)
    console = LiveConsole(module_mosquitto, ingester)
    machine = machine_client(module_mosquitto, "m-002")
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    try:
        send(machine, "m-002", "status", {"online": True, "machine": "m-002",
                                          "version": "0.1.0", "in_service": True,
                                          "reason": ""}, retain=True)
        # Its outbox, kept while away: yesterday's sales, published now in journal order.
        seq = 0
        for i in range(3):
            for kind, status in (("payment_requested", "creating"), ("vend_result", "vended")):
                seq += 1
                send(machine, "m-002", "event",
                     sale_step("m-002", seq, f"old-{i}", kind, status,
                               yesterday + timedelta(minutes=i), "0.10"))
        wait_until(lambda: len(store.events_of("m-002", yesterday - timedelta(hours=1))) == 6)
    finally:
        disconnect(machine)
        console.close()
    assert ingester.rejected == 0
    days = store.totals(TotalsBy.DAY, yesterday - timedelta(days=1), now + timedelta(days=1))
    assert [(t.key, t.count, t.amount) for t in days] == [
        (yesterday.date().isoformat(), 3, Decimal("0.30"))]
    # Sold yesterday (their ``at``), heard from now.
    assert all(s.at < now - timedelta(hours=23) for s in
               store.sales(yesterday - timedelta(days=1), now, machine="m-002"))
    found = store.machine("m-002")
    assert found is not None and found.last_seen is not None
    assert found.last_seen > now - timedelta(minutes=1)


def test_steps_out_of_order_through_the_broker(module_mosquitto: Mosquitto,
                                               store: Store) -> None:
    ingester = Ingester(store, RecordingHub(), PREFIX)
    console = LiveConsole(module_mosquitto, ingester)
    machine = machine_client(module_mosquitto, "m-002")
    at = datetime.now(UTC) - timedelta(minutes=10)
    code = claim_code("tx-x")
    unknown = sale_step("m-002", 105, "tx-x", "vend_result", "vend_unknown", at,
                        outcome="unknown")
    due = sale_step("m-002", 106, "tx-x", "vend_resolved", "refund_due",
                    at + timedelta(minutes=1), outcome="no_drop", claim_code=code)
    refunded = sale_step("m-002", 107, "tx-x", "refund_done", "refunded",
                         at + timedelta(minutes=2))
    try:
        for step in (due, unknown):      # the older step arrives after the newer one
            send(machine, "m-002", "event", step)
        wait_until(lambda: len(store.events_of("m-002", at - timedelta(hours=1))) == 2)
        [claim] = store.open_claims()
        assert (claim.tx, claim.status, claim.code, claim.reason) == ("tx-x", "refund_due",
                                                                      code, "no_drop")
        send(machine, "m-002", "event", refunded)
        send(machine, "m-002", "event", unknown)          # resent once more: changes nothing
        wait_until(lambda: ingester.duplicates == 1)
    finally:
        disconnect(machine)
        console.close()
    assert store.open_claims() == []
    settled = store.find_claim(code.lower())
    assert settled is not None and settled.status == "refunded"


def test_bad_input_is_dropped_and_counted_never_crashing(module_mosquitto: Mosquitto,
                                                         store: Store,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    ingester = Ingester(store, RecordingHub(), PREFIX)
    console = LiveConsole(module_mosquitto, ingester)
    machine = machine_client(module_mosquitto, "m-002")
    at = datetime.now(UTC)
    good = sale_step("m-002", 1, "tx-good", "vend_result", "vended", at)
    bad: list[bytes | dict[str, Any]] = [
        b"{not json", b"\xff\xfe", b"[1, 2, 3]", b"",
        json.dumps({**good, "id": "0123456789ab-2", "pad": "x" * MAX_PAYLOAD}).encode(),
        {**good, "id": "0123456789ab-3", "machine": "m-001"},   # says it is another machine
        {k: v for k, v in good.items() if k != "id"},           # no id
        {**good, "id": "0123456789ab-4", "amount": 2.5},         # a float amount
        {**good, "id": "0123456789ab-5", "at": "yesterday"},     # an unreadable time
        {"id": "0123456789ab-6", "machine": "m-002", "kind": "reply", "command": "c-1",
         "status": "applied", "pad": "y" * (MAX_PAYLOAD + 1)},
    ]
    forged = [("event", {**good, "id": "0123456789ab-7", "machine": "m-001"}),
              ("status", {"online": True, "machine": "m-001", "reason": "forged"})]
    try:
        for i, payload in enumerate(bad):
            send(machine, "m-002", "reply" if i == len(bad) - 1 else "event", payload)
        # m-002 publishing under m-001's topic: the broker's ACL drops it (and acknowledges
        # it all the same). The allowed message after it shows delivery went on past it.
        for leaf, refused in forged:
            send(machine, "m-001", leaf, refused)
        send(machine, "m-002", "event", good)
        wait_until(lambda: ingester.stored == 1)
    finally:
        disconnect(machine)
    console.close()
    assert ingester.rejected == len(bad)            # an empty event too (not a retained clear)
    # (Other tests' retained m-001 status may be there; nothing m-002 sent as m-001 is.)
    assert f"{PREFIX}/m-001/event" not in console.topics()
    assert not any(b"forged" in body for _, body in console.received)
    assert store.events_of("m-001", at - timedelta(days=1)) == []
    assert [e["id"] for e in store.events_of("m-002", at - timedelta(days=1))] == [
        "0123456789ab-1"]
    assert "another's topic" in caplog.text and "malformed JSON" in caplog.text
    assert [s.tx for s in store.sales(at - timedelta(days=1), at + timedelta(days=1))] == [
        "tx-good"]


def test_unknown_machines_and_topics_straight_to_handle(store: Store) -> None:
    now = datetime.now(UTC)
    ingester = Ingester(store, RecordingHub(), PREFIX, machines={"m-001"})
    status = json.dumps({"online": True, "machine": "m-999"}).encode()
    for topic in ("vk/v1/m-999/status",         # not one of the fleet's machines
                  "vk/v1/m-001/cmd", "vk/v1/m-001/event/x", "other/m-001/status",
                  "vk/v1/+/status", "vk/v1//status"):
        ingester.handle(topic, status, now)
    assert ingester.rejected == 6 and store.machines() == []
    # The store failing (closed under it) is logged and counted, not raised into paho.
    ingester.handle("vk/v1/m-001/status", json.dumps({"online": True}).encode(), now)
    assert [m.id for m in store.machines()] == ["m-001"]
    broken = open_store(":memory:")
    broken.close()
    failing = Ingester(broken, RecordingHub(), PREFIX)
    failing.handle("vk/v1/m-001/status", b'{"online": true}', now)
    assert failing.rejected == 1


def test_an_unknown_machine_cannot_even_connect(module_mosquitto: Mosquitto) -> None:
    with pytest.raises(ConnectionError):
        connect(module_mosquitto.url, client_id="m-999", username="m-999", password="guess",
                ca_file=module_mosquitto.ca_file)


def test_consoles_sharing_the_events_store_each_once(module_mosquitto: Mosquitto,
                                                     store_url: str) -> None:
    stores = [open_store(store_url), open_store(store_url)]
    ingesters = [Ingester(s, RecordingHub(), PREFIX) for s in stores]
    consoles = [LiveConsole(module_mosquitto, i, share_group="consoles") for i in ingesters]
    machine = machine_client(module_mosquitto, "m-002")
    at = datetime.now(UTC)
    try:
        send(machine, "m-002", "status", {"online": True, "machine": "m-002"})
        for seq in range(1, 21):
            send(machine, "m-002", "event",
                 sale_step("m-002", 1000 + seq, f"share-{seq}", "vend_result", "vended", at))
        wait_until(lambda: sum(i.stored for i in ingesters) == 20)
        time.sleep(0.3)
    finally:
        disconnect(machine)
        for console in consoles:
            console.close()
    try:
        events = [[t for t in c.topics() if t.endswith("/event")] for c in consoles]
        assert sum(len(e) for e in events) == 20          # each event reached one console
        assert all(c.topics().count(f"{PREFIX}/m-002/status") >= 1 for c in consoles)
        for s in stores:
            sold = s.sales(at - timedelta(hours=1), at + timedelta(hours=1), machine="m-002")
            assert len({x.tx for x in sold if x.tx.startswith("share-")}) == 20
    finally:
        for s in stores:
            s.close()
