"""Shared by several test modules: test doubles (a clock, systemd's notify socket), test configs
(``kiosk_toml`` and its parts), the kiosk as a subprocess, and a check of any gateway client."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from kiosk.errors import GatewayRateLimited
from kiosk.payments.base import Gateway, Order, PaymentRequest

START = 1_700_000_000.0
KIOSK = [sys.executable, "-m", "kiosk"]   # the kiosk command, run as a subprocess
Table = Mapping[str, object]
PAYEE_ID = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"
PLACEHOLDER_PAYEE_ID = "00000000-0000-4000-8000-000000000000"   # the example's: not configured
SETTLEMENT_ASSET_ID = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"     # USDT on Ethereum
NOWHERE = "http://127.0.0.1:9"   # a gateway address nothing answers on
SIMULATED: Table = MappingProxyType({"driver": "simulated"})
WATER: Table = MappingProxyType({"id": "A1", "name": "Water", "price": "2.50"})
COLA: Table = MappingProxyType({"id": "A2", "name": "Cola", "price": "2.00"})
# The operator's file on the boot partition, secrets and comments as an operator writes them.
OPERATOR_FILE = """\
# The operator's settings for machine 42
[machine]
id = "vm-0042"
data_dir = "{data_dir}"

[payment]
gateway = "wctpay"
assets = ["BTC"]

[payment.wctpay]
api_base = "https://pos.wct.test/api"
key = "terminal-key-1"          # secrets are allowed here; they leave the card at boot
api_secret = "{secret}"

[vend]
driver = "simulated"

[[slot]]
id = "A1"
name = "Water"
price = "{price}"
"""


def toml_text(document: Table) -> str:
    """``document`` as TOML: a mapping in it is a table, a list of mappings an array of tables
    (``[[slot]]``), anything else a value."""
    lines: list[str] = []

    def table(name: str, content: Table, header: str) -> None:
        values = {key: value for key, value in content.items() if not _is_table(value)}
        if values or not content:
            lines.extend(["", header, *(f"{key} = {_toml_value(value)}"
                                        for key, value in values.items())])
        for key, value in content.items():
            if isinstance(value, Mapping):
                table(f"{name}.{key}", value, f"[{name}.{key}]")
            elif _is_table(value):
                for item in value:  # type: ignore[attr-defined]
                    table(f"{name}.{key}", item, f"[[{name}.{key}]]")

    for name, content in document.items():
        if isinstance(content, Mapping):
            table(name, content, f"[{name}]")
        else:
            for item in content:  # type: ignore[attr-defined]
                table(name, item, f"[[{name}]]")
    return "\n".join(lines[1:]) + "\n"


def _is_table(value: object) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, list | tuple) and bool(value)
        and all(isinstance(item, Mapping) for item in value))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)   # a string or a path


def kiosk_toml(data_dir: Path | str, *, machine: Table | None = None, vend: Table = SIMULATED,
               slots: Sequence[Table] = (WATER,), **tables: Table) -> str:
    """A ``kiosk.toml``: ``[machine]`` with ``data_dir`` and ``machine``, then ``tables`` in the
    order given (``display``, ``payment`` with its gateways' tables...), ``[vend]`` and the
    ``[[slot]]`` tables."""
    return toml_text({"machine": {"data_dir": str(data_dir), **(machine or {})}, **tables,
                      "vend": vend, "slot": list(slots)})


def write_kiosk_toml(directory: Path, **parts: Any) -> Path:
    """``directory``/kiosk.toml (``kiosk_toml``), its data in ``directory``/data."""
    path = directory / "kiosk.toml"
    path.write_text(kiosk_toml(directory / "data", **parts))
    return path


def mixpay_table(base: str | None = NOWHERE, *, payee_id: str = PAYEE_ID) -> dict[str, object]:
    """``[payment.mixpay]`` for the MixPay served at ``base`` (a sandbox's ``url``, or NOWHERE:
    nothing answers); None: no address at all, the real MixPay's."""
    table: dict[str, object] = {"payee_id": payee_id, "settlement_asset_id": SETTLEMENT_ASSET_ID}
    if base is not None:
        table |= {"api_base": f"{base}/mixpay/v1", "checkout_base": f"{base}/mixpay"}
    return table


def centrapay_table(base: str, *, api_key: str = "sandbox-key") -> dict[str, object]:
    """``[payment.centrapay]`` for the Centrapay simulator served at ``base``."""
    return {"api_base": f"{base}/centrapay", "config_id": "sandbox-config", "api_key": api_key}


def wctpay_table(base: str) -> dict[str, object]:
    """``[payment.wctpay]`` for the WCT Pay simulator served at ``base``."""
    return {"api_base": f"{base}/wctpay", "key": "sandbox-key", "api_secret": "sandbox-secret"}


def simulated_machine(a2_fault: str) -> dict[str, Any]:
    """The simulated machine of a test kiosk, as ``kiosk_toml`` parts: A1 works, A2 has
    ``a2_fault``; three of each."""
    return {"vend": {"driver": "simulated",
                     "simulated": {"faults": {"A2": a2_fault}, "turn_time_s": 0}},
            "slots": ({**WATER, "stock": 3}, {**COLA, "stock": 3})}


def mdb_vend(port: object, **options: object) -> dict[str, object]:
    """``[vend]`` on the MDB bridge at ``port``."""
    return {"driver": "mdb", "mdb": {"port": str(port), **options}}


def offline_kiosk_toml(data_dir: Path | str, *, mixpay: Table | None = None,
                       **parts: Any) -> str:
    """A kiosk that starts anywhere: the simulated machine (one slot, unless ``parts`` say
    otherwise), a gateway address nothing answers on (out of service "payments unavailable"),
    no wait for network time."""
    parts = {"slots": ({**WATER, "stock": 1},), **parts}
    return kiosk_toml(data_dir, machine={"wait_for_time_sync": False},
                      payment={"mixpay": mixpay_table() if mixpay is None else mixpay},
                      **parts)


def status_refused(client: Gateway, order: Order,
                   request: PaymentRequest) -> GatewayRateLimited:
    """Ask for ``request``'s status twice against a sandbox allowing two requests a minute, one
    spent creating it: the first is answered, the second refused; that refusal."""
    client.status(order, request)
    with pytest.raises(GatewayRateLimited) as caught:
        client.status(order, request)
    return caught.value


def installed(name: str, package: str) -> str:
    """Where the ``name`` command is; not installed: the test is skipped, or fails in CI (which
    installs it: apt-get install ``package``)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it: apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_headless(config: Path, *args: str, env: Mapping[str, str] | None = None,
                 **options: Any) -> subprocess.Popen[Any]:
    """``kiosk run --headless --config config *args`` started as a subprocess, on SDL's dummy
    driver (``options`` for ``Popen``: where its output goes)."""
    return subprocess.Popen([*KIOSK, "run", "--config", str(config), "--headless", *args],
                            env={**os.environ, "SDL_VIDEODRIVER": "dummy", **(env or {})},
                            **options)


class FakeSystemd:
    """systemd's end of ``sd_notify``: a datagram socket at ``path`` collecting what a kiosk
    sends (READY=1, WATCHDOG=1...), and ``env`` pointing a kiosk at it."""

    def __init__(self, path: Path, watchdog_usec: int) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.settimeout(0.2)
        self.env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": str(watchdog_usec)}
        self.messages: list[str] = []

    def receive(self) -> bool:
        """Wait up to 0.2 s for the next message: False if none came."""
        try:
            self.messages.append(self.socket.recv(256).decode())
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.socket.close()


class FakeTime:
    """A clock whose ``sleep`` advances it, recording every sleep."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
