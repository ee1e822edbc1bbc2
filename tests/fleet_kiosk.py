"""A kiosk with its fleet link, against a real broker: the runtime harness (real sandbox gateway,
journal on disk, simulated machine) plus ``start_fleet``, and a signer for its commands."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from brokers import Collector, Message, Mosquitto
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fakes import WATER, COLA, mixpay_table, toml_text, write_kiosk_toml
from harness import Harness, pay

from hardware.sim.driver import SimulatedDriver
from kiosk.config import Config, load_config
from kiosk.fleet.link import FleetLink
from kiosk.fleet.signing import public_key_text, sign
from kiosk.fleet.start import start_fleet
from kiosk.flow import CancelPressed, DonePressed, Screen
from kiosk.sim import Sandbox

FLEET_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))   # the tests' fleet
PREFIX = "vk/v1"


def fleet_toml(tmp_path: Path, sandbox: Sandbox, machine_id: str, fleet: Mapping[str, object],
               credentials: tuple[str, str] | None = None) -> Path:
    """A MixPay kiosk (USD; A1 water and A2 cola, 50 of each, on the simulated machine) with
    ``[fleet]`` ``fleet`` and the broker credentials in its secrets file."""
    path = write_kiosk_toml(
        tmp_path, machine={"id": machine_id, "currency": "USD", "wait_for_time_sync": False},
        payment={"gateway": "mixpay", "poll_interval_s": 0.2, "mixpay": mixpay_table(sandbox.url)},
        vend={"driver": "simulated", "simulated": {"turn_time_s": 0}},
        slots=({**WATER, "stock": 50}, {**COLA, "stock": 50}))
    table = {"command_public_key": public_key_text(FLEET_KEY), "keepalive_s": 5, **fleet}
    path.write_text(path.read_text() + "\n" + toml_text({"fleet": table}))
    if credentials is not None:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(toml_text({"fleet": {"username": credentials[0],
                                                "password": credentials[1]}}))
        secrets.chmod(0o600)
    return path


class FleetKiosk:
    """The harness and its fleet link, started; ``close`` stops both (the link first)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.harness = Harness(config, SimulatedDriver({}, turn_time_s=0))
        link = start_fleet(config, self.harness.runtime)
        assert link is not None
        self.link: FleetLink = link
        self.topic = f"{PREFIX}/{config.machine.id}"

    def sell(self, slot: str = "A1") -> str:
        """One paid, vended sale, back on attract: its transaction id."""
        order, request = self.harness.buy(slot)
        pay(request.link)
        self.harness.wait_screen(Screen.THANK_YOU)
        self.harness.runtime.post(DonePressed())
        self.harness.wait_screen(Screen.ATTRACT)
        return order.tx_id

    def claim_paid_after_cancel(self, slot: str = "A1") -> tuple[str, str]:
        """A customer who cancelled and paid anyway: the sale's id and its open claim code."""
        order, request = self.harness.buy(slot)
        self.harness.runtime.post(CancelPressed())
        self.harness.wait_status(order.tx_id, "cancelled")
        pay(request.link)                      # money after the customer gave up: a claim
        tx = self.harness.wait_status(order.tx_id, "paid_late", timeout_s=15)
        return order.tx_id, str(tx["claim_code"])

    def wait_published(self, console: Collector, predicate: Callable[[Message], bool],
                       timeout_s: float = 10.0) -> Message:
        """The first message ``console`` received that ``predicate`` accepts, pumping the
        kiosk (its UI thread's work) meanwhile."""
        self.harness.wait_for(lambda: any(predicate(m) for m in console.messages), timeout_s)
        return next(m for m in console.messages if predicate(m))

    def close(self) -> None:
        self.link.stop()
        self.harness.close()


@pytest.fixture(name="kiosk")
def kiosk_fixture(module_mosquitto: Mosquitto, tmp_path: Path,
                  sandbox: Sandbox) -> Iterator[FleetKiosk]:
    """Kiosk ``m-001`` logged in to the module's Mosquitto over TLS, its link running."""
    running = kiosk_on(module_mosquitto, tmp_path, sandbox, "m-001")
    yield running
    running.close()


def load_fleet_kiosk(tmp_path: Path, sandbox: Sandbox, machine_id: str,
                     fleet: Mapping[str, object],
                     credentials: tuple[str, str] | None = None) -> FleetKiosk:
    return FleetKiosk(load_config(fleet_toml(tmp_path, sandbox, machine_id, fleet,
                                             credentials)))


def kiosk_on(broker: Mosquitto, tmp_path: Path, sandbox: Sandbox,
             machine: str = "m-001") -> FleetKiosk:
    """A kiosk whose fleet link logs in to ``broker`` over TLS (its CA) as ``machine``."""
    return load_fleet_kiosk(tmp_path, sandbox, machine,
                            {"broker": broker.url, "ca_file": str(broker.ca_file)},
                            broker.machine(machine))


def command(machine_id: str, name: str, args: Mapping[str, Any] | None = None, *,
            key: Ed25519PrivateKey | None = FLEET_KEY, issued: datetime | None = None,
            lifetime: timedelta = timedelta(minutes=5),
            change: Callable[[dict[str, Any]], None] = lambda doc: None) -> dict[str, Any]:
    """A command as the console sends it: signed by ``key`` (None: unsigned), ``change``
    applied to it after signing (to forge it)."""
    issued = issued or datetime.now(timezone.utc)
    doc: dict[str, Any] = {
        "id": f"c-{uuid.uuid4().hex[:12]}", "machine": machine_id, "command": name,
        "args": dict(args or {}), "issued_at": issued.isoformat(timespec="seconds"),
        "expires_at": (issued + lifetime).isoformat(timespec="seconds")}
    if key is not None:
        doc = sign(doc, key)
    change(doc)
    return doc


def payload(message: Message) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(message.payload)
    return value
