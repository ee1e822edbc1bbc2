"""The demo's console: an embedded MQTT broker (amqtt, pure Python, installed with the
``fleet`` extra) on its own thread and event loop on a free loopback port, anonymous allowed;
the console (``ConsoleService``) on SQLite in the demo's data directory with a fleet key made
there; a demo operator account; optionally simulated machines selling on their own.

``kiosk demo`` starts one next to the demo kiosk (whose ``[fleet]`` table then points at the
embedded broker and trusts the key); ``vending-fleet demo`` starts one with simulated machines
only. A real fleet runs a real broker (Mosquitto, EMQX, NATS...) with TLS, passwords and the
ACL of docs/fleet-protocol.md.

amqtt quirks met here (0.12): an anonymous client's session is dropped when it disconnects,
``clean_session = false`` or not, so a command sent to a demo kiosk that is away is lost (the
console shows it "sent" without a reply); its packet logger and ``$SYS`` plugins are left out
(they cost CPU on every packet for nothing a demo shows).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0


class EmbeddedBroker:
    """``EmbeddedBroker().start()`` -> a running broker at ``url``; ``stop()`` ends it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        # Imported here: amqtt is the fleet extra's, and loads a good deal.
        from amqtt.broker import Broker  # type: ignore[import-untyped]

        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)   # a line per connection
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[int] = concurrent.futures.Future()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}",
                                      "max_connections": -1}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }

        async def boot() -> None:
            broker = Broker(config, loop=loop)
            await broker.start()
            self._broker = broker
            server = broker._servers["default"].instance   # the port chosen for ":0"
            started.set_result(int(server.sockets[0].getsockname()[1]))

        def run() -> None:
            asyncio.set_event_loop(loop)
            task = loop.create_task(boot())
            task.add_done_callback(
                lambda t: started.set_exception(t.exception() or RuntimeError("cancelled"))
                if (t.cancelled() or t.exception()) and not started.done() else None)
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="demo-broker", daemon=True)
        self._thread.start()
        try:
            self.port = started.result(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        log.info("embedded MQTT broker (amqtt) at %s", self.url)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        if self._broker is not None and not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop)
            try:
                future.result(5.0)
            except Exception as exc:   # noqa: BLE001 - a demo's broker going away: say, go on
                log.debug("embedded broker shutdown: %r", exc)
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


DEMO_USER = "demo"
PASSWORD_FILE = "console-demo-password"


class DemoConsole:
    """``DemoConsole(data_dir, machines=5).start()``: broker, console, demo user, simulated
    machines; ``url``, ``password``, ``fleet_table()`` for the demo kiosk; ``stop()``."""

    def __init__(self, data_dir: Path | None = None, *, port: int = 0, machines: int = 0,
                 rate: float = 1.0) -> None:
        self.data_dir = (data_dir.resolve() if data_dir is not None
                         else Path(tempfile.mkdtemp(prefix="vending-fleet-demo-")))
        self.port = port
        self.machines = machines
        self.rate = rate
        self.broker: EmbeddedBroker | None = None
        self.service: Any = None
        self.simulator: Any = None
        self.public_key = ""
        self.password = ""

    @property
    def url(self) -> str:
        return self.service.url if self.service is not None else ""

    @property
    def broker_url(self) -> str:
        return self.broker.url if self.broker is not None else ""

    def start(self) -> DemoConsole:
        from vending_fleet.config import load_console_config, write_config
        from vending_fleet.service import ConsoleService

        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.broker = EmbeddedBroker().start()
            key = self.data_dir / "fleet-key.pem"
            self.public_key = _public_key(key)
            path = write_config(self.data_dir / "console.toml", broker_url=self.broker.url,
                                database="sqlite:///console.db", signing_key=key,
                                listen=f"127.0.0.1:{self.port}", secure_cookies=False,
                                client_id="vending-fleet-demo")
            config = load_console_config(path)
            self.service = ConsoleService(config)
            self.password = self._demo_user()
            self.service.start()
            if self.machines:
                from kiosk.config.fleet import decode_public_key
                from vending_fleet.simulator import SimOptions, Simulator

                self.simulator = Simulator(SimOptions(
                    self.broker.url, machines=self.machines, rate=self.rate,
                    public_key=decode_public_key(self.public_key))).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _demo_user(self) -> str:
        """The demo operator's password: made once per data directory, kept beside it."""
        from vending_fleet.model import Role
        from vending_fleet.web.passwords import hash_password

        file = self.data_dir / PASSWORD_FILE
        store = self.service.store
        if store is None:
            from vending_fleet.store import open_store

            store = self.service.store = open_store(self.service.config.database)
        if file.is_file() and store.user(DEMO_USER) is not None:
            return file.read_text(encoding="utf-8").strip()
        password = secrets.token_urlsafe(9)
        if store.user(DEMO_USER) is None:
            store.add_user(DEMO_USER, Role.OPERATOR, hash_password(password))
        else:
            password = ""           # an account from elsewhere: its password is not ours
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(password + "\n")
        return password

    def fleet_table(self, keepalive_s: int = 5) -> str:
        """The demo kiosk's ``[fleet]`` table: this broker, this console's key."""
        return (f'\n[fleet]\nbroker = "{self.broker_url}"\n'
                f'command_public_key = "{self.public_key}"\nkeepalive_s = {keepalive_s}\n')

    def banner(self) -> str:
        login = f"login: {DEMO_USER} / {self.password}" if self.password else \
            f"login: {DEMO_USER} (password kept in {self.data_dir / PASSWORD_FILE})"
        lines = [f"dashboard: {self.url}  {login}",
                 f"fleet demo: broker {self.broker_url} (embedded), console data in "
                 f"{self.data_dir}"]
        if self.simulator is not None:
            lines.append(f"fleet demo: {self.machines} simulated machines selling "
                         f"({self.rate:g} events/s)")
        return "\n".join(lines)

    def stop(self) -> None:
        for part in (self.simulator, self.service, self.broker):
            if part is None:
                continue
            try:
                part.stop()
            except Exception:   # noqa: BLE001 - the rest must stop too
                log.exception("stopping the demo's %s failed", type(part).__name__)
        self.simulator = self.service = self.broker = None


def _public_key(path: Path) -> str:
    from kiosk.fleet.signing import public_key_text
    from vending_fleet.keys import generate_key, load_key

    if path.exists():
        return public_key_text(load_key(path))
    return generate_key(path)
