"""The web console under test: a real SQLite store in a temporary directory, a real hub, the
real command sender (signing with a throwaway key) publishing into a list instead of a broker,
a clock the test moves, and a logged-in TestClient per role."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Message

from vending_fleet.commands import CommandSender
from vending_fleet.hub import Hub
from vending_fleet.model import CommandRecord, Role, Store
from vending_fleet.store import open_store
from vending_fleet.web import create_app
from vending_fleet.web.passwords import hash_password

# Any fixed moment: sessions expire by the console's clock (the one the test moves).
START = datetime(2031, 3, 14, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
USERS = {"vera": Role.VIEWER, "olivia": Role.OPERATOR, "ada": Role.ADMIN}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SLOTS: list[dict[str, Any]] = [
    {"slot": "A1", "name": "Water", "price": "2.50", "stock": 7, "enabled": True,
     "disabled_reason": ""},
    {"slot": "A2", "name": "Cola", "price": "2.00", "stock": 0, "enabled": True,
     "disabled_reason": ""},
    {"slot": "A3", "name": "Chips", "price": "1.50", "stock": 2, "enabled": False,
     "disabled_reason": "jam"},
]


class MovableClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class SpySender:
    """The real sender, with every call kept (what the pages asked for)."""

    real: CommandSender
    calls: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)

    def send(self, machine: str, command: str, args: dict[str, Any],
             user: str) -> CommandRecord:
        self.calls.append((machine, command, dict(args), user))
        return self.real.send(machine, command, args, user)


@dataclass
class Console:
    store: Store
    hub: Hub
    clock: MovableClock
    sender: SpySender
    key: Ed25519PrivateKey
    published: list[tuple[str, dict[str, Any]]]
    app: Starlette

    def client(self, **options: Any) -> TestClient:
        return TestClient(self.app, follow_redirects=False, **options)

    def login(self, name: str, password: str = PASSWORD,
              client: TestClient | None = None) -> TestClient:
        client = client or self.client()
        response = client.post("/login", data={"name": name, "password": password,
                                               "csrf": login_token(client)})
        assert response.status_code == 303, response.text
        return client

    # -- what the machines say, through the store's ingest API
    def status(self, machine: str, at: datetime, **fields: Any) -> None:
        doc = {"online": True, "machine": machine, "version": "0.1.0", "in_service": True,
               "reason": ""} | fields
        self.store.record_status(machine, doc, at)

    def state(self, machine: str, slots: Sequence[Mapping[str, Any]], at: datetime | None = None,
              seq: int = 1, currency: str = "USD") -> None:
        at = at or self.clock()
        self.store.record_state(machine, {
            "id": f"{journal(machine)}-{seq}", "machine": machine, "at": at.isoformat(),
            "kind": "state", "currency": currency, "slots": list(slots),
            "config_version": "3b1f0c9d2e7a", "open_claims": 0,
            "sales_today": {"count": 0, "amount": "0.00"},
            "health": {"in_service": True, "reason": ""}}, at)

    def event(self, machine: str, seq: int, at: datetime, **fields: Any) -> None:
        doc = {"id": f"{journal(machine)}-{seq}", "machine": machine,
               "at": at.isoformat()} | fields
        assert self.store.record_event(machine, doc, at)

    def sale(self, machine: str, seq: int, at: datetime, *, tx: str, slot: str, item: str,
             amount: str, gateway: str = "mixpay", asset: str | None = "USDT") -> None:
        self.event(machine, seq, at, group="sale", kind="vend_result", tx=tx,
                   status="vended", slot=slot, item=item, amount=amount, currency="USD",
                   gateway=gateway, asset=asset, detail={"outcome": "vended"})

    def sent(self) -> list[dict[str, Any]]:
        """The commands published so far (their JSON)."""
        return [doc for _, doc in self.published]


def journal(machine: str) -> str:
    """A 12-hex-digit journal id per machine, as the kiosk's."""
    return (machine.encode().hex() + "0" * 12)[:12]


def login_token(client: TestClient) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    return csrf_in(page.text)


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf field on the page"
    return found.group(1)


def session_csrf(client: TestClient) -> str:
    """The logged-in session's form token (every page's logout form carries it)."""
    return csrf_in(client.get("/alerts").text)


def make_console(tmp_path: Path, **options: Any) -> Console:
    store = open_store(f"sqlite:///{tmp_path / 'console.db'}")
    for name, role in USERS.items():
        store.add_user(name, role, hash_password(PASSWORD))
    hub = Hub()
    clock = MovableClock()
    key = Ed25519PrivateKey.generate()
    published: list[tuple[str, dict[str, Any]]] = []

    def publish(topic: str, payload: bytes) -> bool:
        published.append((topic, json.loads(payload)))
        return True

    sender = SpySender(CommandSender(store, hub, publish, key, clock=clock))
    options.setdefault("secure_cookies", False)
    options.setdefault("monotonic", lambda: clock().timestamp())     # moved with the clock
    app = create_app(store, hub, sender, clock=clock, **options)
    return Console(store, hub, clock, sender, key, published, app)


@pytest.fixture(name="console")
def console_fixture(tmp_path: Path) -> Iterator[Console]:
    """A console whose m-001 is online with the three ``SLOTS``."""
    made = make_console(tmp_path)
    made.status("m-001", START - timedelta(minutes=5))
    made.state("m-001", SLOTS)
    yield made
    made.store.close()


@dataclass
class EventStream:
    """``GET /events`` driven over ASGI by hand: the TestClient reads a body to its end, and
    this one never ends by itself."""

    messages: asyncio.Queue[Message]
    gone: asyncio.Event                # set: the browser went away
    task: asyncio.Task[None]

    async def message(self) -> Message:
        return await asyncio.wait_for(self.messages.get(), 5)

    async def body(self) -> bytes:
        return bytes((await self.message())["body"])

    async def leave(self) -> None:
        self.gone.set()
        await asyncio.wait_for(self.task, 5)


async def open_events(console: Console, session_id: str) -> EventStream:
    """The stream for ``session_id``'s cookie, its response start already read (200)."""
    messages: asyncio.Queue[Message] = asyncio.Queue()
    gone = asyncio.Event()

    async def receive() -> Message:
        await gone.wait()
        return {"type": "http.disconnect"}

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/events",
             "raw_path": b"/events", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"),
                         (b"cookie", f"vf_session={session_id}".encode())],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    events = EventStream(messages, gone,
                         asyncio.create_task(console.app(scope, receive, messages.put)))
    start = await events.message()
    assert start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    return events
