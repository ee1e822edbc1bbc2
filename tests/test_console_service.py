"""The whole console (``vending_fleet.service``) against a real Mosquitto (TLS, passwords, the
fleet ACL) with a real kiosk selling: its sale reaches ``/api/sales``; a price changed through
the web app's form (logged in as an operator via the login form, CSRF and all) reaches the kiosk
and the kiosk's next state shows it; stopping is clean, and ``vending-fleet serve`` ends on
SIGTERM with status 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from brokers import CONSOLE, Mosquitto, free_ports, module_mosquitto_fixture  # noqa: F401
from cryptography.hazmat.primitives import serialization
from fleet_kiosk import FLEET_KEY, FleetKiosk, kiosk_on

from kiosk.sim import Sandbox
from vending_fleet.config import ConsoleConfig, load_console_config
from vending_fleet.model import Role
from vending_fleet.service import ConsoleService
from vending_fleet.web.passwords import hash_password

MACHINE = "m-001"
OPERATOR, PASSWORD = "olivia", "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REPO = Path(__file__).resolve().parent.parent


def write_console(directory: Path, broker: Mosquitto, listen: str = "127.0.0.1:0") -> Path:
    """A console config for ``broker`` (TLS, the console's password in console-secrets.toml)
    signing with the tests' fleet key."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "fleet-key.pem"
    key.write_bytes(FLEET_KEY.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    key.chmod(0o600)
    path = directory / "console.toml"
    path.write_text(f'[console]\nlisten = "{listen}"\ndatabase = "sqlite:///console.db"\n'
                    f'signing_key = "fleet-key.pem"\nsecure_cookies = false\n\n'
                    f'[broker]\nurl = "{broker.url}"\nca_file = "{broker.ca_file}"\n'
                    f'client_id = "console-{os.urandom(3).hex()}"\n')
    secrets = directory / "console-secrets.toml"
    user, password = broker.console
    secrets.write_text(f'[broker]\nusername = "{user}"\npassword = "{password}"\n')
    secrets.chmod(0o600)
    return path


def wait_until(check: Callable[[], Any], timeout_s: float, what: str,
               step: Callable[[], None] = lambda: time.sleep(0.05)) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        step()


@pytest.fixture
def console_config(module_mosquitto: Mosquitto, tmp_path: Path) -> ConsoleConfig:
    config = load_console_config(write_console(tmp_path / "console", module_mosquitto))
    assert config.broker.username == CONSOLE
    return config


@pytest.fixture
def service(console_config: ConsoleConfig) -> Iterator[ConsoleService]:
    running = ConsoleService(console_config).start()
    try:
        assert running.store is not None
        running.store.add_user(OPERATOR, Role.OPERATOR, hash_password(PASSWORD))
        assert running.link is not None
        assert running.link.connected.wait(10), "the console never connected to the broker"
        yield running
    finally:
        running.stop()


@pytest.fixture
def kiosk(module_mosquitto: Mosquitto, tmp_path: Path, sandbox: Sandbox) -> Iterator[FleetKiosk]:
    (tmp_path / "kiosk").mkdir()
    running = kiosk_on(module_mosquitto, tmp_path / "kiosk", sandbox, MACHINE)
    try:
        yield running
    finally:
        running.close()


def logged_in(base_url: str) -> httpx.Client:
    """An operator's browser: the login form's CSRF cookie and token, then the session."""
    client = httpx.Client(base_url=base_url, timeout=10)
    form = client.get("/login")
    assert form.status_code == 200
    token = CSRF.search(form.text)
    assert token is not None, form.text[:500]
    answer = client.post("/login", data={"name": OPERATOR, "password": PASSWORD,
                                         "csrf": token.group(1)})
    assert answer.status_code == 303, answer.text[:500]
    return client


def test_a_sale_shows_and_a_price_change_reaches_the_kiosk(
        service: ConsoleService, kiosk: FleetKiosk) -> None:
    browser = logged_in(service.url)
    try:
        # the sale, as the kiosk journals it, through the broker into /api/sales
        tx = kiosk.sell("A1")

        def sold() -> list[dict[str, Any]]:
            return [s for s in browser.get("/api/sales").json() if s["tx"] == tx]

        [sale] = wait_until(sold, 15, "the sale in /api/sales", step=kiosk.harness.runtime.pump)
        assert sale["machine"] == MACHINE and sale["slot"] == "A1"
        assert Decimal(sale["amount"]) == Decimal("2.50")     # exact, never a float

        # the operator changes A1's price on the machine's page (its form and CSRF token)
        page = browser.get(f"/machines/{MACHINE}")
        assert page.status_code == 200
        token = CSRF.search(page.text)
        assert token is not None
        sent = browser.post(f"/machines/{MACHINE}/commands/set_price",
                            data={"slot": "A1", "price": "3.10", "csrf": token.group(1)})
        assert sent.status_code == 303, sent.text[:1000]

        # the kiosk applies it (on its sale worker) and its next state says so
        assert service.store is not None
        store = service.store

        def new_price() -> bool:
            return any(s.slot == "A1" and s.price == Decimal("3.10")
                       for s in store.slots(MACHINE))

        wait_until(new_price, 20, "the kiosk's state with A1 at 3.10",
                   step=lambda: kiosk.harness.wait_for(lambda: True, 1))
        [record] = [r for r in store.commands(MACHINE) if r.command == "set_price"]
        wait_until(lambda: store.commands(MACHINE)[0].status == "applied", 10,
                   "the applied reply")
        assert record.sent_by == OPERATOR
        # ... and its next sale is at the new price
        order, _request = kiosk.harness.buy("A1")
        assert Decimal(order.amount) == Decimal("3.10")
    finally:
        browser.close()


def test_stop_is_clean(console_config: ConsoleConfig) -> None:
    before = {thread.ident for thread in threading.enumerate()}
    service = ConsoleService(console_config).start()
    assert service.link is not None and service.link.connected.wait(10)
    with httpx.Client(base_url=service.url) as client:
        assert client.get("/login").status_code == 200
    service.stop()
    service.stop()                                # twice: nothing more happens
    wait_until(lambda: not ({t.ident for t in threading.enumerate() if t.is_alive()} - before),
               10, "every thread the console started to end")
    with pytest.raises(httpx.TransportError):
        httpx.get(service.url + "/login", timeout=2)


def test_serve_ends_on_sigterm(module_mosquitto: Mosquitto, tmp_path: Path) -> None:
    [port] = free_ports(1)
    config = write_console(tmp_path / "console", module_mosquitto, f"127.0.0.1:{port}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "vending_fleet.cli", "serve", "--config",
                                str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        def up() -> bool:
            assert process.poll() is None, process.communicate()[1][-3000:]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/login", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 20, "vending-fleet serve to answer")
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "console stopped" in err
