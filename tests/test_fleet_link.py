"""The fleet link against a real Mosquitto (TLS, per-machine passwords, the fleet ACL): staged
sales arrive as events with unique ids in journal order, ``state`` and ``status`` are retained,
the broker away for the middle of 20 sales loses nothing, and a stopped kiosk says so."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from brokers import CONSOLE, Collector, Mosquitto, console_collector, mosquitto_fixture
from fleet_kiosk import fleet_toml, kiosk_on, load_fleet_kiosk, payload

import kiosk.fleet.link as link_module
from kiosk.selftest import SelftestOptions, run_selftest
from kiosk.sim import Sandbox

__all__ = ["mosquitto_fixture"]    # the fixture, found by pytest through this import

SALE_STEPS = ["payment_requested", "payment_created", "paid_verified", "vend_started",
              "vend_dispensing", "vend_result"]


def events(console: Collector, topic: str) -> list[dict[str, object]]:
    return [payload(m) for m in console.on(f"{topic}/event")]


def sale_kinds(console: Collector, topic: str, tx_id: str) -> list[object]:
    """The sale's event kinds, each event once by its id (as the console stores them): one
    sent again after a broker that died before its PUBACK arrives twice, by design."""
    once: dict[object, dict[str, object]] = {}
    for event in events(console, topic):
        once.setdefault(event["id"], event)       # in the order they first arrived
    return [e["kind"] for e in once.values() if e.get("tx") == tx_id]


def test_sales_arrive_in_journal_order_with_state_and_status_retained(
        mosquitto: Mosquitto, tmp_path: Path, sandbox: Sandbox) -> None:
    console = console_collector(mosquitto)
    kiosk = kiosk_on(mosquitto, tmp_path, sandbox)
    try:
        kiosk.wait_published(console, lambda m: m.topic == f"{kiosk.topic}/status"
                             and payload(m)["online"] is True
                             and payload(m)["in_service"] is True, timeout_s=15)
        sold = [kiosk.sell("A1"), kiosk.sell("A2")]
        kiosk.wait_published(console, lambda m: m.topic == f"{kiosk.topic}/state"
                             and payload(m)["slots"][1]["stock"] == 49)
        for tx_id in sold:
            kiosk.wait_published(console, lambda m, tx=tx_id: payload(m).get("tx") == tx
                                 and payload(m)["kind"] == "vend_result")
    finally:
        kiosk.close()
    received = events(console, kiosk.topic)
    ids = [e["id"] for e in received]
    assert len(ids) == len(set(ids)), "an event arrived twice without a crash"
    for tx_id in sold:
        assert [k for k in sale_kinds(console, kiosk.topic, tx_id) if k in SALE_STEPS] \
            == SALE_STEPS
    sale = next(e for e in received if e.get("kind") == "vend_result" and e["tx"] == sold[1])
    assert (sale["slot"], sale["item"], sale["amount"], sale["currency"], sale["gateway"]) \
        == ("A2", "Cola", "2.00", "USD", "mixpay")
    # journal order: the outbox seq in each id grows with every event
    seqs = [int(str(i).rsplit("-", 1)[1]) for i in ids]
    assert seqs == sorted(seqs)
    # a console arriving later finds the last state and the goodbye, retained
    late = console_collector(mosquitto, f"{kiosk.topic}/#")
    status = payload(late.wait_topic(f"{kiosk.topic}/status"))
    state = payload(late.wait_topic(f"{kiosk.topic}/state"))
    late.close()
    console.close()
    assert (status["online"], status["machine"], status["reason"]) == (False, "m-001",
                                                                       "stopped")
    assert [(s["slot"], s["price"], s["stock"], s["enabled"]) for s in state["slots"]] \
        == [("A1", "2.50", 49, True), ("A2", "2.00", 49, True)]
    assert state["open_claims"] == 0 and state["currency"] == "USD"


def test_the_broker_away_for_the_middle_of_twenty_sales_loses_nothing(
        mosquitto: Mosquitto, tmp_path: Path, sandbox: Sandbox) -> None:
    # A persistent session: the broker keeps what arrives while the console reconnects.
    console = console_collector(mosquitto, client_id="console-outage", clean_session=False)
    kiosk = kiosk_on(mosquitto, tmp_path, sandbox)
    sold: list[str] = []
    slowest = 0.0
    try:
        kiosk.wait_published(console, lambda m: m.topic.endswith("/status")
                             and payload(m)["online"] and payload(m)["in_service"],
                             timeout_s=15)
        for number in range(20):
            if number == 5:
                mosquitto.stop()
            if number == 15:
                mosquitto.start()
            started = time.monotonic()
            sold.append(kiosk.sell("A1" if number % 2 else "A2"))
            slowest = max(slowest, time.monotonic() - started)
        kiosk.wait_published(console, lambda m: payload(m).get("tx") == sold[-1]
                             and payload(m)["kind"] == "vend_result", timeout_s=30)
    finally:
        kiosk.close()
        console.close()
    received = events(console, kiosk.topic)
    ids = [e["id"] for e in received]
    seqs = [int(str(i).rsplit("-", 1)[1]) for i in dict.fromkeys(ids)]
    assert seqs == sorted(seqs), "events arrived out of journal order"
    for tx_id in sold:
        assert [k for k in sale_kinds(console, kiosk.topic, tx_id) if k in SALE_STEPS] \
            == SALE_STEPS, tx_id
    assert kiosk.harness.journal().outbox_size() <= 1    # at most the goodbye's state
    assert slowest < 10, "a dead broker slowed a sale down"


def test_a_machine_cannot_publish_as_another(mosquitto: Mosquitto, tmp_path: Path,
                                             sandbox: Sandbox) -> None:
    """Logged in as m-002 but configured as m-001: the ACL drops everything it publishes."""
    console = console_collector(mosquitto, user=CONSOLE)
    kiosk = load_fleet_kiosk(tmp_path, sandbox, "m-001",
                             {"broker": mosquitto.url, "ca_file": str(mosquitto.ca_file)},
                             mosquitto.machine("m-002"))
    try:
        kiosk.sell("A1")
        time.sleep(1.0)
    finally:
        kiosk.close()
    assert [m.topic for m in console.messages] == []
    console.close()


def test_the_self_test_logs_in_to_the_broker_as_the_machine(mosquitto: Mosquitto,
                                                           tmp_path: Path,
                                                           sandbox: Sandbox) -> None:
    """``kiosk selftest``'s fleet check: TLS verified and the machine's login accepted; a wrong
    password or an untrusted certificate fail with the reason."""
    def fleet_check(name: str, fleet: dict[str, object],
                    credentials: tuple[str, str]) -> tuple[bool, str]:
        directory = tmp_path / name
        directory.mkdir()
        checks = run_selftest(fleet_toml(directory, sandbox, "m-001", fleet, credentials),
                              SelftestOptions(move_motors=False))
        [check] = [c for c in checks if c.name == "fleet"]
        return check.passed, check.reason

    trusted = {"broker": mosquitto.url, "ca_file": str(mosquitto.ca_file)}
    passed, reason = fleet_check("good", trusted, mosquitto.machine("m-001"))
    assert passed and "logged in (TLS verified)" in reason
    passed, reason = fleet_check("password", trusted, ("m-001", "not-the-password"))
    assert not passed and "refused" in reason and "not-the-password" not in reason
    passed, reason = fleet_check("untrusted", {"broker": mosquitto.url},
                                 mosquitto.machine("m-001"))
    assert not passed and "certificate is not trusted" in reason


def test_the_state_is_read_once_per_journal_change(mosquitto: Mosquitto, tmp_path: Path,
                                                    sandbox: Sandbox) -> None:
    """A journal fact makes the link read the snapshot; its own snapshot row does not make
    it read the journal again to find the same snapshot."""
    console = console_collector(mosquitto)
    kiosk = kiosk_on(mosquitto, tmp_path, sandbox)
    observer = kiosk.link._observer
    reads: list[float] = []
    read_state = observer.state

    def counted() -> dict[str, object]:
        reads.append(time.monotonic())
        return read_state()

    try:
        kiosk.wait_published(console, lambda m: m.topic == f"{kiosk.topic}/status"
                             and payload(m)["in_service"] is True, timeout_s=15)
        kiosk.wait_published(console, lambda m: m.topic == f"{kiosk.topic}/state")
        time.sleep(1.0)                              # settled: nothing left to look at
        observer.state = counted                     # type: ignore[method-assign]
        kiosk.harness.runtime.journal.operator_change("A1", "restock", {"stock": 7}, stock=7)
        kiosk.wait_published(console, lambda m: m.topic == f"{kiosk.topic}/state"
                             and payload(m)["slots"][0]["stock"] == 7)
        time.sleep(0.5)                              # the snapshot's own row was committed
    finally:
        kiosk.close()
        console.close()
    assert len(reads) == 1, reads


def test_a_broker_that_keeps_hanging_up_is_retried_ever_more_slowly(
        tmp_path: Path, sandbox: Sandbox) -> None:
    """0.5 s, 1 s, 2 s...: a fleet of kiosks must not hammer a broker that is coming back.
    (The link's back-off once shared a name with its supervisor's, reset after every turn:
    a retry every second, for ever.)"""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[float] = []

    def hang_up() -> None:
        while len(accepted) < 4:
            connection, _ = listener.accept()
            accepted.append(time.monotonic())
            connection.close()

    taker = threading.Thread(target=hang_up, daemon=True)
    taker.start()
    kiosk = load_fleet_kiosk(tmp_path, sandbox, "m-001",
                             {"broker": f"mqtt://127.0.0.1:{listener.getsockname()[1]}"})
    try:
        taker.join(timeout=30)
    finally:
        kiosk.close()
        listener.close()
    assert len(accepted) == 4, accepted
    gaps = [later - earlier for earlier, later in zip(accepted, accepted[1:], strict=False)]
    assert gaps[-1] >= 1.8, gaps               # 2 s by then (a busy machine only adds)


def test_status_is_repeated_while_nothing_changes(mosquitto: Mosquitto, tmp_path: Path,
                                                   sandbox: Sandbox,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A heartbeat: a quiet machine keeps saying it is there (every 5 minutes; here every
    turn), so the console can tell it from one whose connection died without its will."""
    monkeypatch.setattr(link_module, "HEARTBEAT_S", 0.1)
    console = console_collector(mosquitto)
    kiosk = kiosk_on(mosquitto, tmp_path, sandbox)
    try:
        kiosk.wait_published(console, lambda m: m.topic == f"{kiosk.topic}/status"
                             and payload(m)["in_service"] is True, timeout_s=15)
        kiosk.harness.wait_for(lambda: len([m for m in console.on(f"{kiosk.topic}/status")
                                            if payload(m)["in_service"]]) >= 3, 30)
    finally:
        kiosk.close()
        console.close()
    statuses = [payload(m) for m in console.on(f"{kiosk.topic}/status")]
    assert all(s["online"] for s in statuses[:-1]) and statuses[-1]["reason"] == "stopped"
