"""The console's signed commands (vending_fleet.commands) through a real Mosquitto to a real
kiosk with its fleet link, and the fleet key file (vending_fleet.keys)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from console_parts import RecordingHub, sqlite_store_fixture
from brokers import CONSOLE, Collector, Mosquitto, client_for, connect, console_collector, \
    disconnect, module_mosquitto_fixture
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_kiosk import FLEET_KEY, FleetKiosk, kiosk_fixture, payload

from kiosk.fleet.signing import public_key_text, verify
from vending_fleet.commands import CommandError, CommandSender, NotSent, check_command, \
    paho_publisher
from vending_fleet.hub import Hub
from vending_fleet.keys import KeyFileError, generate_key, load_key
from vending_fleet.model import Store

__all__ = ["kiosk_fixture", "module_mosquitto_fixture",   # found by pytest
           "sqlite_store_fixture"]

MACHINE = "m-001"
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


class ReplyIngester:
    """The ingester's part for replies: a console client on ``vk/v1/+/reply`` storing each."""

    def __init__(self, broker: Mosquitto, store: Store) -> None:
        self.store = store
        self.subscribed = threading.Event()
        client, host, port = client_for(broker.url, username=CONSOLE,
                                        password=broker.credentials[CONSOLE],
                                        ca_file=broker.ca_file)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *_args: self.subscribed.set()
        client.on_message = self._on_message
        client.connect(host, port)
        client.loop_start()
        self.client = client
        assert self.subscribed.wait(10), "no SUBACK for vk/v1/+/reply"

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.subscribe("vk/v1/+/reply", qos=1)

    def _on_message(self, _client: mqtt.Client, _userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        machine = message.topic.split("/")[2]
        self.store.record_reply(machine, json.loads(message.payload),
                                datetime.now(timezone.utc))

    def close(self) -> None:
        disconnect(self.client)


@pytest.fixture
def watcher(module_mosquitto: Mosquitto, kiosk: FleetKiosk) -> Iterator[Collector]:
    """The observer (reads every topic, ``cmd`` included), once the kiosk is in service."""
    collector = console_collector(module_mosquitto, f"{kiosk.topic}/#", user="observer")
    kiosk.wait_published(collector, lambda m: m.topic.endswith("/status")
                         and payload(m)["online"] and payload(m)["in_service"], timeout_s=15)
    yield collector
    collector.close()




@pytest.fixture
def publisher(module_mosquitto: Mosquitto) -> Iterator[mqtt.Client]:
    username, password = module_mosquitto.console
    client = connect(module_mosquitto.url, username=username, password=password,
                     ca_file=module_mosquitto.ca_file)
    yield client
    disconnect(client)


@pytest.fixture
def replies(module_mosquitto: Mosquitto, store: Store) -> Iterator[ReplyIngester]:
    ingester = ReplyIngester(module_mosquitto, store)
    yield ingester
    ingester.close()


def sender_for(store: Store, hub: Hub, client: mqtt.Client,
               key: Ed25519PrivateKey = FLEET_KEY,
               published: list[str] | None = None) -> CommandSender:
    publish = paho_publisher(client)

    def counted(topic: str, data: bytes) -> bool:
        if published is not None:
            published.append(topic)
        return publish(topic, data)

    return CommandSender(store, hub, counted, key)


def wait_answered(kiosk: FleetKiosk, sender: CommandSender, command_id: str) -> Any:
    """The command's record once its reply is stored, pumping the kiosk meanwhile."""
    kiosk.harness.wait_for(lambda: sender.wait_reply(command_id, 0).status != "sent",
                           timeout_s=15)
    return sender.wait_reply(command_id, 0)


def test_set_price_is_signed_applied_and_its_reply_recorded(
        kiosk: FleetKiosk, watcher: Collector, store: Store, publisher: mqtt.Client,
        replies: ReplyIngester) -> None:
    hub = RecordingHub()
    sender = sender_for(store, hub, publisher)
    record = sender.send(MACHINE, "set_price", {"slot": "A1", "price": "3.10"}, "alice")
    assert record.status == "sent" and record.sent_by == "alice"
    assert record.args == {"slot": "A1", "price": "3.10"}

    sent = watcher.wait_topic(f"{kiosk.topic}/cmd")          # what went over the wire
    doc = payload(sent)
    verify(doc, FLEET_KEY.public_key().public_bytes_raw())
    assert doc["id"] == record.id and doc["command"] == "set_price"
    issued = datetime.fromisoformat(doc["issued_at"])
    assert doc["issued_at"].endswith("Z") and doc["expires_at"].endswith("Z")
    assert datetime.fromisoformat(doc["expires_at"]) - issued == timedelta(minutes=10)
    assert not sent.retain

    answered = wait_answered(kiosk, sender, record.id)
    assert answered.status == "applied", answered
    assert answered.reply is not None and answered.reply["result"] == {"slot": "A1",
                                                                       "price": "3.10"}
    runtime = kiosk.harness.runtime
    kiosk.harness.wait_for(lambda: getattr(runtime.state.product("A1"), "price", None)
                           == Decimal("3.10"))
    with kiosk.harness.journal() as journal:
        assert journal.slot_states()["A1"].price == Decimal("3.10")

    audit = [entry for entry in store.audit_log() if entry.action == "command"]
    assert len(audit) == 1 and audit[0].user == "alice"
    assert audit[0].detail["id"] == record.id and audit[0].detail["command"] == "set_price"
    assert ("command", {"id": record.id, "machine": MACHINE, "command": "set_price",
                        "args": {"slot": "A1", "price": "3.10"}, "sent_by": "alice",
                        "sent_at": record.sent_at.isoformat(), "status": "sent"}) in hub.updates


def test_an_argument_of_the_wrong_type_is_refused_before_sending(
        kiosk: FleetKiosk, watcher: Collector, store: Store, publisher: mqtt.Client) -> None:
    published: list[str] = []
    sender = sender_for(store, RecordingHub(), publisher, published=published)
    with pytest.raises(CommandError, match='"stock" must be an integer, found "5"'):
        sender.send(MACHINE, "set_stock", {"slot": "A1", "stock": "5"}, "alice")
    with pytest.raises(CommandError, match='"stock" must be an integer, found true'):
        sender.send(MACHINE, "set_stock", {"slot": "A1", "stock": True}, "alice")
    assert published == [] and store.commands() == []
    assert [e for e in store.audit_log() if e.action == "command"] == []
    # delivery is in order: once a later command arrives, nothing came before it
    later = sender.send(MACHINE, "set_stock", {"slot": "A1", "stock": 5}, "alice")
    first = kiosk.wait_published(watcher, lambda m: m.topic.endswith("/cmd"))
    assert payload(first)["id"] == later.id


def test_a_command_signed_with_another_key_is_rejected_by_the_kiosk(
        kiosk: FleetKiosk, watcher: Collector, store: Store, publisher: mqtt.Client,
        replies: ReplyIngester) -> None:
    sender = sender_for(store, RecordingHub(), publisher, key=OTHER_KEY)
    record = sender.send(MACHINE, "set_stock", {"slot": "A1", "stock": 5}, "mallory")
    answered = wait_answered(kiosk, sender, record.id)
    assert answered.status == "rejected"
    assert answered.reply is not None and "bad signature" in answered.reply["error"]
    assert kiosk.harness.runtime.state.stock.get("A1") == 50


def test_a_publish_the_client_refuses_is_reported_and_audited(store: Store) -> None:
    hub = RecordingHub()
    sender = CommandSender(store, hub, lambda _topic, _data: False, FLEET_KEY)
    with pytest.raises(NotSent, match="not sent"):
        sender.send(MACHINE, "selftest", {}, "alice")
    [record] = store.commands()
    assert [e.action for e in reversed(store.audit_log())] == ["command", "command_not_sent"]
    assert hub.updates[-1][1]["status"] == "not_sent" and hub.updates[-1][1]["id"] == record.id


@pytest.mark.parametrize(("command", "args", "message"), [
    ("reboot", {}, 'unknown command "reboot"'),
    ("set_price", {"slot": "A1"}, 'set_price needs "price"'),
    ("set_price", {"slot": "A1", "price": 3.1}, '"price" must be a string, found 3.1'),
    ("set_slot_enabled", {"slot": "A1", "enabled": 1}, '"enabled" must be true or false'),
    ("selftest", {"now": True}, 'selftest takes no argument "now"'),
    ("set_service", {"in_service": False, "reason": None}, '"reason" must be a string'),
])
def test_the_machine_checks_are_made_before_sending(command: str, args: dict[str, Any],
                                                    message: str) -> None:
    with pytest.raises(CommandError, match=message):
        check_command(MACHINE, command, args)


def test_optional_arguments_may_be_left_out_and_machine_ids_are_one_topic_level() -> None:
    assert check_command(MACHINE, "set_service", {"in_service": True}) == {"in_service": True}
    assert check_command(MACHINE, "send_audit", {}) == {}
    for bad in ("", "m/1", "+", "#", "m 1"):
        with pytest.raises(CommandError, match="not a machine id"):
            check_command(bad, "selftest", {})


# -- keys ------------------------------------------------------------------------------------

def test_a_generated_key_loads_back_and_is_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "fleet-key.pem"
    public = generate_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    key = load_key(path)
    assert public_key_text(key) == public and len(public) == 44 and public.endswith("=")
    with pytest.raises(KeyFileError, match="exists already"):
        generate_key(path)
    assert public_key_text(load_key(path)) == public      # untouched


def test_a_key_that_is_not_ed25519_or_not_pem_is_refused(tmp_path: Path) -> None:
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ec_key.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an Ed25519 private key"):
        load_key(ec_key)
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    garbled.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        load_key(garbled)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(FLEET_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    encrypted.chmod(0o600)
    with pytest.raises(KeyFileError, match="encrypted"):
        load_key(encrypted)
    with pytest.raises(KeyFileError, match="cannot be read"):
        load_key(tmp_path / "missing.pem")


def test_a_key_file_others_may_read_loads_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "fleet-key.pem"
    public = generate_key(path)
    with caplog.at_level(logging.WARNING, logger="vending_fleet.keys"):
        load_key(path)
    assert not caplog.records
    path.chmod(0o640)
    with caplog.at_level(logging.WARNING, logger="vending_fleet.keys"):
        assert public_key_text(load_key(path)) == public
    assert "readable by group or others (mode 0640)" in caplog.text
