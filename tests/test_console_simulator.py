"""The simulated machines the console's demo and bench use: they publish what a kiosk
publishes, and take the simple signed commands as a kiosk does (refusing unsigned ones)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from brokers import CONSOLE, Collector, Mosquitto, client_for, console_collector, publish
from fleet_kiosk import FLEET_KEY, command

from kiosk.fleet.signing import public_key_text
from kiosk.config.fleet import decode_public_key
from vending_fleet.simulator import SimOptions, Simulator

MACHINE = "sim-0001"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    running = Mosquitto(tmp_path / "broker")
    running.add_machine(MACHINE, "sim-password")
    yield running.start()
    running.close()


def reply_to(console: Collector, doc: dict[str, object]) -> dict[str, object]:
    message = console.wait_for(lambda m: m.topic.endswith("/reply")
                               and json.loads(m.payload).get("command") == doc["id"], 10)
    return dict(json.loads(message.payload))


def test_a_simulated_machine_sells_and_takes_signed_commands(broker: Mosquitto) -> None:
    console = console_collector(broker, f"vk/v1/{MACHINE}/#")
    key = decode_public_key(public_key_text(FLEET_KEY))
    simulator = Simulator(SimOptions(broker.url, machines=1, rate=60.0, ca_file=broker.ca_file,
                                     username="{id}", password="sim-password",
                                     public_key=key, seed=1)).start()
    sender, host, port = client_for(broker.url, username=CONSOLE,
                                    password=broker.credentials[CONSOLE], ca_file=broker.ca_file)
    sender.connect(host, port)
    sender.loop_start()
    try:
        assert simulator.wait_connected(timeout_s=15)
        console.wait_for(lambda m: m.topic.endswith("/event")
                         and json.loads(m.payload).get("kind") == "vend_result", 15)
        signed = command(MACHINE, "set_price", {"slot": "A1", "price": "3.10"})
        publish(sender, f"vk/v1/{MACHINE}/cmd", json.dumps(signed))
        assert reply_to(console, signed)["status"] == "applied"
        console.wait_for(lambda m: m.topic.endswith("/state")
                         and json.loads(m.payload)["slots"][0]["price"] == "3.10", 10)
        unsigned = command(MACHINE, "set_stock", {"slot": "A1", "stock": 1}, key=None)
        publish(sender, f"vk/v1/{MACHINE}/cmd", json.dumps(unsigned))
        refused = reply_to(console, unsigned)
        assert refused["status"] == "rejected" and "unsigned" in str(refused["error"])
        publish(sender, f"vk/v1/{MACHINE}/cmd", json.dumps(signed))      # the same again
        assert "replayed" in str(console.wait_for(
            lambda m: m.topic.endswith("/reply") and b"replayed" in m.payload, 10).payload)
    finally:
        sender.disconnect()
        sender.loop_stop()
        simulator.stop()
        console.close()
    assert simulator.stats.sales >= 1 and simulator.stats.commands == 3
