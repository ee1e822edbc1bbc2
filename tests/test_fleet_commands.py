"""Signed commands through a real Mosquitto: each command applied with a valid signature, and
every kind of bad one rejected, journalled and answered with its reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from brokers import CONSOLE, Collector, Mosquitto, client_for, console_collector, \
    module_mosquitto_fixture, publish
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_kiosk import FleetKiosk, command, kiosk_fixture, load_fleet_kiosk, payload
from harness import pay

from kiosk.flow import CoinChosen, ItemChosen, Screen, StartTapped
from kiosk.journal import Journal
from kiosk.sim import Sandbox

__all__ = ["kiosk_fixture", "module_mosquitto_fixture"]   # found by pytest

MACHINE = "m-001"


@pytest.fixture
def console(module_mosquitto: Mosquitto, kiosk: FleetKiosk) -> Iterator[Collector]:
    collector = console_collector(module_mosquitto, f"{kiosk.topic}/#")
    kiosk.wait_published(collector, lambda m: m.topic.endswith("/status")
                         and payload(m)["online"] and payload(m)["in_service"], timeout_s=15)
    yield collector
    collector.close()


class Sender:
    """The console's publishing side: sends a command and waits for its reply."""

    def __init__(self, broker: Mosquitto, kiosk: FleetKiosk, console: Collector) -> None:
        client, host, port = client_for(broker.url, username=CONSOLE,
                                        password=broker.credentials[CONSOLE],
                                        ca_file=broker.ca_file)
        client.connect(host, port)
        client.loop_start()
        self.client, self.kiosk, self.console = client, kiosk, console

    def send(self, doc: dict[str, Any] | bytes) -> dict[str, Any]:
        """Publish a command (or raw bytes); the first reply to it after now."""
        raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        wanted = None if isinstance(doc, bytes) else doc.get("id")
        topic = f"{self.kiosk.topic}/reply"
        seen = len(self.console.on(topic))

        def reply() -> dict[str, Any] | None:
            for message in self.console.on(topic)[seen:]:
                if wanted is None or payload(message)["command"] == wanted:
                    return payload(message)
            return None

        publish(self.client, f"{self.kiosk.topic}/cmd", raw)
        self.kiosk.harness.wait_for(lambda: reply() is not None)
        answer = reply()
        assert answer is not None
        return answer

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def sender(module_mosquitto: Mosquitto, kiosk: FleetKiosk,
           console: Collector) -> Iterator[Sender]:
    running = Sender(module_mosquitto, kiosk, console)
    yield running
    running.close()


def journal_of(kiosk: FleetKiosk) -> Journal:
    return kiosk.harness.journal()


def test_a_price_change_applies_to_the_next_sale_never_the_one_on_screen(
        kiosk: FleetKiosk, sender: Sender, console: Collector) -> None:
    runtime = kiosk.harness.runtime
    runtime.post(StartTapped())
    runtime.post(ItemChosen("A1"))
    kiosk.harness.wait_for(lambda: kiosk.harness.sale_assets() is not None)
    reply = sender.send(command(MACHINE, "set_price", {"slot": "A1", "price": "3.10"}))
    assert reply["status"] == "applied" and reply["result"] == {"slot": "A1", "price": "3.10"}
    kiosk.wait_published(console, lambda m: m.topic.endswith("/state")    # the fleet sees it
                         and payload(m)["slots"][0]["price"] == "3.10")
    kiosk.harness.wait_for(lambda: runtime.state.product("A1").price == Decimal("3.10"))
    runtime.post(CoinChosen(kiosk.harness.sale_assets()[0]))      # the sale on screen
    kiosk.harness.wait_screen(Screen.AWAITING_PAYMENT)
    sale = runtime.state.sale
    assert sale is not None and sale.order is not None
    assert sale.order.amount == Decimal("2.50")
    assert sale.request is not None
    pay(sale.request.link)
    kiosk.harness.wait_screen(Screen.THANK_YOU)
    with journal_of(kiosk) as journal:
        assert journal.slot_states()["A1"].price == Decimal("3.10")
        event = journal.latest_operator_event(("price_set",))
    assert event is not None and event["detail"]["source"] == "fleet"


def test_each_command_is_applied_with_a_valid_signature(kiosk: FleetKiosk,
                                                        sender: Sender) -> None:
    assert sender.send(command(MACHINE, "set_stock", {"slot": "A2", "stock": 7}))["ok"]
    assert sender.send(command(MACHINE, "set_slot_enabled",
                               {"slot": "A2", "enabled": False}))["ok"]
    runtime = kiosk.harness.runtime
    kiosk.harness.wait_for(lambda: runtime.state.stock.get("A2") == 7
                           and "A2" in runtime.state.disabled)
    reply = sender.send(command(MACHINE, "set_service", {"in_service": False,
                                                         "reason": "restocking"}))
    assert reply["ok"]
    kiosk.harness.wait_for(lambda: runtime.state.hardware_fault
                           == "out of service: restocking")
    assert sender.send(command(MACHINE, "set_service", {"in_service": True}))["ok"]
    kiosk.harness.wait_for(lambda: runtime.state.hardware_fault == "", timeout_s=15)
    selftest = sender.send(command(MACHINE, "selftest"))
    assert selftest["ok"] and {c["name"] for c in selftest["result"]["checks"]} >= {
        "config", "data_dir", "clock", "network", "secrets"}
    audit = sender.send(command(MACHINE, "send_audit"))
    assert audit["ok"] and audit["result"]["file"].startswith("DXS*")


def test_a_claim_settled_from_the_fleet_leaves_the_claims_list(kiosk: FleetKiosk,
                                                               sender: Sender) -> None:
    tx_id, code = kiosk.claim_paid_after_cancel()
    with journal_of(kiosk) as journal:
        assert journal.open_claim_count() == 1
    reply = sender.send(command(MACHINE, "settle_claim", {"claim": code, "how": "refund_sent",
                                                          "reference": "0xabc"}))
    assert reply["ok"], reply
    with journal_of(kiosk) as journal:
        assert journal.transaction(tx_id)["status"] == "refunded"
        assert journal.open_claim_count() == 0
    again = sender.send(command(MACHINE, "settle_claim", {"claim": code,
                                                          "how": "item_given"}))
    assert not again["ok"] and "is not open" in again["error"]


OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
HOUR_AGO = datetime.now(timezone.utc) - timedelta(hours=1)


def _tamper(doc: dict[str, Any]) -> None:
    doc["args"]["stock"] = 99


@pytest.mark.parametrize(("bad", "reason"), [
    (lambda: command(MACHINE, "set_stock", {"slot": "A1", "stock": 5}, key=None), "unsigned"),
    (lambda: command(MACHINE, "set_stock", {"slot": "A1", "stock": 5}, key=OTHER_KEY),
     "bad signature"),
    (lambda: command(MACHINE, "set_stock", {"slot": "A1", "stock": 5}, change=_tamper),
     "bad signature"),
    (lambda: command(MACHINE, "set_stock", {"slot": "A1", "stock": 5}, issued=HOUR_AGO),
     "expired"),
    (lambda: command("m-002", "set_stock", {"slot": "A1", "stock": 5}), "another machine"),
    (lambda: command(MACHINE, "reboot"), "unknown command"),
    (lambda: command(MACHINE, "set_price", {"slot": "Z9", "price": "1.00"}), 'no slot "Z9"'),
    (lambda: command(MACHINE, "set_price", {"slot": "A1", "price": "-1"}), "greater than zero"),
    (lambda: command(MACHINE, "set_price", {"slot": "A1", "price": "1.005"}), "decimals"),
    (lambda: command(MACHINE, "set_stock", {"slot": "A1", "stock": -3}), "between 0"),
    (lambda: command(MACHINE, "set_stock", {"slot": "A1", "stock": "5"}), "an integer"),
    (lambda: b"{not json", "not JSON"),
    (lambda: b"[1, 2]", "JSON object"),
])
def test_every_kind_of_bad_command_is_refused_with_its_reason(
        kiosk: FleetKiosk, sender: Sender, bad: Callable[[], dict[str, Any] | bytes],
        reason: str) -> None:
    reply = sender.send(bad())
    assert reply["ok"] is False and reply["status"] == "rejected"
    assert reason in reply["error"]
    with journal_of(kiosk) as journal:
        assert journal.slot_states()["A1"].stock == 50
        assert journal.slot_states()["A1"].price is None
        refused = journal.latest_operator_event(("command_refused",))
    assert refused is not None and reason in refused["detail"]["reason"]


def test_a_replayed_command_is_not_applied_again(kiosk: FleetKiosk, sender: Sender) -> None:
    doc = command(MACHINE, "set_stock", {"slot": "A1", "stock": 9})
    assert sender.send(doc)["status"] == "applied"
    with journal_of(kiosk) as journal:
        journal.set_slot("A1", stock=3)       # a sale later, say
    replay = sender.send(doc)
    assert replay["status"] == "replayed" and "already handled" in replay["error"]
    with journal_of(kiosk) as journal:
        assert journal.slot_states()["A1"].stock == 3


def test_a_forged_message_cannot_use_up_a_real_commands_id(kiosk: FleetKiosk,
                                                           sender: Sender) -> None:
    real = command(MACHINE, "set_stock", {"slot": "A1", "stock": 11})
    forged = {**real, "signature": None}
    forged.pop("signature")
    assert sender.send(forged)["status"] == "rejected"
    assert sender.send(real)["status"] == "applied"


def test_without_a_public_key_every_command_is_refused(
        module_mosquitto: Mosquitto, tmp_path: Path, sandbox: Sandbox) -> None:
    kiosk = load_fleet_kiosk(tmp_path, sandbox, "m-002",
                             {"broker": module_mosquitto.url,
                              "ca_file": str(module_mosquitto.ca_file),
                              "command_public_key": ""},
                             module_mosquitto.machine("m-002"))
    console = console_collector(module_mosquitto, f"{kiosk.topic}/#")
    sender = Sender(module_mosquitto, kiosk, console)
    try:
        kiosk.wait_published(console, lambda m: m.topic.endswith("/status")
                             and payload(m)["online"], timeout_s=15)
        reply = sender.send(command("m-002", "set_stock", {"slot": "A1", "stock": 1}))
    finally:
        sender.close()
        console.close()
        kiosk.close()
    assert reply["status"] == "rejected" and "no command_public_key" in reply["error"]
