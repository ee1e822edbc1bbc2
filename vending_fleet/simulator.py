"""Simulated machines for the console's demo and bench (``vending-fleet simulate``).

Each simulated machine publishes what a real kiosk's fleet link publishes
(docs/fleet-protocol.md): a retained ``status`` on connect with a retained last will
(``online: false``, ``"connection lost"``), a retained ``state`` snapshot, and sales as the
journal writes them: ``payment_requested``, ``payment_created``, ``paid_verified``,
``vend_started``, ``vend_dispensing`` and ``vend_result`` (status ``vended``) events with ids
``<journal id>-<seq>`` in order (``seq`` shared with its ``state`` and ``reply`` rows), amounts
as decimal text, QoS 1. It also takes the simple commands (``set_price``, ``set_stock``,
``set_slot_enabled``, ``set_service``: applied, with an operator event, a reply and a new
state; signatures are checked when the fleet's public key is given) and refuses the rest.

Every machine is its own MQTT connection with client id = machine id (as a real one; a broker
ACL that names machines by user name sees each). They all run on ONE thread: paho clients
driven through paho's external-loop API (``socket()``, ``loop_read``/``loop_write``/
``loop_misc``) from one ``selectors`` loop, which also schedules the sales: 1,000 machines cost
one thread and one socket each. Sales begin once every machine is connected (or 30 s after the
start, whichever comes first). A lost connection is retried with a back-off (0.5 s doubling to
10 s).
"""

from __future__ import annotations

import json
import logging
import random
import resource
import selectors
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

log = logging.getLogger(__name__)

VERSION = "0.1.0-sim"
SALE_KINDS = ("payment_requested", "payment_created", "paid_verified", "vend_started",
              "vend_dispensing", "vend_result")
EVENTS_PER_SALE = len(SALE_KINDS)
CATALOGUE = (("A1", "Sparkling water", "2.50"), ("A2", "Cola", "2.00"),
             ("A3", "Sea salt crisps", "1.75"), ("A4", "Dark chocolate bar", "1.50"),
             ("B1", "Cold brew coffee", "3.20"), ("B2", "Orange juice", "2.80"))
ASSETS = ("USDT", "BTC", "ETH", "LTC")
STOCK = 40
RESTOCK_BELOW = 3             # a simulated machine is refilled (an operator event) at this
MISC_EVERY_S = 1.0            # keep-alive work of every client
CONNECTS_PER_TURN = 50        # new connections opened per loop turn (CONNACKs get read between)
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 10.0
SELL_AFTER_S = 30.0           # sales start once every machine is connected, or after this


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class SimOptions:
    broker: str                                # mqtt://host:port or mqtts://host:port
    machines: int = 10
    rate: float = 10.0                         # sale events per second, the whole fleet
    prefix: str = "vk/v1"
    id_prefix: str = "sim-"
    first: int = 1                             # machine ids sim-0001... from this number
    currency: str = "USD"
    keepalive_s: int = 15
    ca_file: Path | None = None
    username: str = ""                         # "" : anonymous; "{id}": each its machine id
    password: str = ""
    public_key: bytes | None = None            # the fleet's: commands are verified with it
    seed: int | None = None


@dataclass
class Slot:
    slot: str
    name: str
    price: Decimal
    stock: int = STOCK
    enabled: bool = True
    disabled_reason: str = ""


@dataclass
class Machine:
    id: str
    journal_id: str
    client: mqtt.Client
    slots: list[Slot]
    seq: int = 0
    connected: bool = False
    tried: bool = False                  # connect() called once: reconnect() from then on
    in_service: bool = True
    service_reason: str = ""
    sales_count: int = 0
    sales_amount: Decimal = Decimal("0")
    next_attempt: float = 0.0
    backoff: float = BACKOFF_MIN_S
    sock: Any = None
    pending: set[int] = field(default_factory=set)      # mids of events not yet PUBACKed
    handled: set[str] = field(default_factory=set)      # command ids

    def next_id(self) -> str:
        self.seq += 1
        return f"{self.journal_id}-{self.seq}"


@dataclass
class SimStats:
    started_at: float = 0.0
    selling_since: float = 0.0           # monotonic: when the sales began
    connected: int = 0
    max_connected: int = 0
    connects: int = 0
    disconnects: int = 0
    sales: int = 0
    events_published: int = 0
    events_acked: int = 0
    states_published: int = 0
    commands: int = 0
    dropped_ticks: int = 0               # sales not made: their machine was offline


class Simulator:
    """``Simulator(options).start()``; ``stats``; ``stop()`` (a goodbye ``status`` from each
    machine, then a clean DISCONNECT)."""

    def __init__(self, options: SimOptions, *,
                 on_sale: Callable[[str, str, float], None] | None = None) -> None:
        parts = urlsplit(options.broker)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"not an mqtt:// or mqtts:// broker URL: {options.broker}")
        self.options = options
        self.host = parts.hostname
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.tls = parts.scheme == "mqtts"
        self.stats = SimStats()
        self._on_sale = on_sale                 # (machine, event id, published at: time.time)
        self._random = random.Random(options.seed)
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._writers: set[str] = set()
        self._selling_stopped = False
        raise_fd_limit(options.machines * 2 + 256)
        self.machines: dict[str, Machine] = {}
        for n in range(options.first, options.first + options.machines):
            machine_id = f"{options.id_prefix}{n:04d}"
            slots = [Slot(s, name, Decimal(price)) for s, name, price in CATALOGUE]
            self.machines[machine_id] = Machine(machine_id, uuid.uuid4().hex[:12],
                                                self._client(machine_id), slots)

    # -- life

    def start(self) -> Simulator:
        self.stats.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._thread.start()
        return self

    def wait_connected(self, count: int | None = None, timeout_s: float = 30.0) -> bool:
        want = len(self.machines) if count is None else count
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stats.connected >= want:
                return True
            time.sleep(0.05)
        return False

    def wait_acked(self, timeout_s: float = 30.0) -> bool:
        """Every event published so far acknowledged by the broker."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stats.events_acked >= self.stats.events_published:
                return True
            time.sleep(0.05)
        return False

    def stop_selling(self) -> None:
        """No more sales (the machines stay connected: what is in flight gets acknowledged)."""
        self._selling_stopped = True

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def run_for(self, seconds: float | None) -> None:
        """Start, and return after ``seconds`` (None: until interrupted), stopped."""
        self.start()
        try:
            if seconds is None:
                while not self._stop.wait(3600):
                    pass
            else:
                self._stop.wait(seconds)
        finally:
            self.stop()

    # -- the one thread

    def _run(self) -> None:
        options = self.options
        interval = EVENTS_PER_SALE / options.rate if options.rate > 0 else None
        next_sale = time.monotonic() + (interval or 0)
        next_misc = time.monotonic() + MISC_EVERY_S
        order = list(self.machines.values())
        turn = 0
        selling = False
        sell_anyway = time.monotonic() + SELL_AFTER_S
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                self._connect_some(now)
                if not selling and (self.stats.connected >= len(order) or now >= sell_anyway):
                    selling = True           # the fleet is up (or as up as it gets): sell
                    self.stats.selling_since = now
                    next_sale = now + (interval or 0)
                timeout = 0.2
                if interval is not None and selling:
                    timeout = min(timeout, max(0.0, next_sale - now))
                for key, mask in self._selector.select(timeout):
                    machine: Machine = key.data
                    client = machine.client
                    if mask & selectors.EVENT_READ:
                        client.loop_read(max_packets=10)
                    if mask & selectors.EVENT_WRITE:
                        client.loop_write()
                        self._update_writer(machine)
                now = time.monotonic()
                if interval is not None and selling and not self._selling_stopped:
                    made = 0
                    while next_sale <= now and made < 1000:   # catch up, never forever
                        machine = order[turn % len(order)]
                        turn += 1
                        next_sale += interval
                        made += 1
                        if machine.connected and machine.in_service:
                            self._sale(machine)
                        else:
                            self.stats.dropped_ticks += 1
                    if made >= 1000:
                        next_sale = now + interval
                if now >= next_misc:
                    next_misc = now + MISC_EVERY_S
                    for machine in order:
                        if machine.sock is not None:
                            machine.client.loop_misc()
                            self._update_writer(machine)
        except Exception:
            log.exception("simulator loop failed")
            raise
        finally:
            self._goodbye()

    def _connect_some(self, now: float) -> None:
        opened = 0
        for machine in self.machines.values():
            if opened >= CONNECTS_PER_TURN:
                return
            if machine.sock is not None or machine.next_attempt > now:
                continue
            opened += 1
            try:
                if machine.tried:
                    machine.client.reconnect()
                else:
                    machine.tried = True
                    machine.client.connect(self.host, self.port, self.options.keepalive_s)
            except (OSError, ssl.SSLError) as exc:
                machine.next_attempt = now + machine.backoff
                log.debug("%s: connect failed (%s); again in %.1f s", machine.id, exc,
                          machine.backoff)
                machine.backoff = min(machine.backoff * 2, BACKOFF_MAX_S)
                continue
            self._update_writer(machine)

    def _update_writer(self, machine: Machine) -> None:
        sock = machine.sock
        if sock is None:
            return
        want = machine.client.want_write()
        if want == (machine.id in self._writers):
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
        try:
            self._selector.modify(sock, events, machine)
        except (KeyError, ValueError):
            return
        if want:
            self._writers.add(machine.id)
        else:
            self._writers.discard(machine.id)

    def _goodbye(self) -> None:
        for machine in self.machines.values():
            if machine.connected:
                self._publish(machine, "status", self._status(machine, online=False,
                                                              reason="stopped"), retain=True)
        deadline = time.monotonic() + 2.0
        while self._writers and time.monotonic() < deadline:
            for key, mask in self._selector.select(0.1):
                machine = key.data
                if mask & selectors.EVENT_WRITE:
                    machine.client.loop_write()
                    self._update_writer(machine)
                if mask & selectors.EVENT_READ:
                    machine.client.loop_read(max_packets=10)
        for machine in self.machines.values():
            if machine.sock is not None:
                machine.client.disconnect()
        self._selector.close()

    # -- paho clients

    def _client(self, machine_id: str) -> mqtt.Client:
        options = self.options
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=machine_id,
                             clean_session=False, protocol=MQTTProtocolVersion.MQTTv311,
                             userdata=machine_id)
        client.suppress_exceptions = True
        if options.username:
            client.username_pw_set(options.username.replace("{id}", machine_id),
                                   options.password or None)
        if self.tls:
            client.tls_set(ca_certs=str(options.ca_file) if options.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        topic = f"{options.prefix}/{machine_id}/status"
        will = {"online": False, "machine": machine_id, "version": VERSION,
                "in_service": False, "reason": "connection lost"}
        client.will_set(topic, _json(will), qos=1, retain=True)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_publish = self._published
        client.on_message = self._message
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        return client

    def _socket_open(self, client: mqtt.Client, machine_id: str, sock: Any) -> None:
        machine = self.machines[machine_id]
        machine.sock = sock
        self._writers.discard(machine_id)
        self._selector.register(sock, selectors.EVENT_READ, machine)

    def _socket_close(self, client: mqtt.Client, machine_id: str, sock: Any) -> None:
        machine = self.machines[machine_id]
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        machine.sock = None
        self._writers.discard(machine_id)
        if machine.connected:
            machine.connected = False
            self.stats.connected -= 1
            self.stats.disconnects += 1
        machine.next_attempt = time.monotonic() + machine.backoff
        machine.backoff = min(machine.backoff * 2, BACKOFF_MAX_S)

    def _connected(self, client: mqtt.Client, machine_id: str, _flags: Any, code: Any,
                   _properties: Any) -> None:
        machine = self.machines[machine_id]
        if code.is_failure:
            log.warning("%s: the broker refused the connection: %s", machine_id, code)
            return
        machine.connected = True
        machine.backoff = BACKOFF_MIN_S
        self.stats.connects += 1
        self.stats.connected += 1
        self.stats.max_connected = max(self.stats.max_connected, self.stats.connected)
        client.subscribe(f"{self.options.prefix}/{machine_id}/cmd", qos=1)
        self._publish(machine, "status", self._status(machine, online=True), retain=True)
        self._publish_state(machine)

    def _disconnected(self, client: mqtt.Client, machine_id: str, _flags: Any, code: Any,
                      _properties: Any) -> None:
        if not self._stop.is_set():
            log.debug("%s: disconnected (%s)", machine_id, code)

    def _published(self, client: mqtt.Client, machine_id: str, mid: int, _code: Any,
                   _properties: Any) -> None:
        machine = self.machines[machine_id]
        if mid in machine.pending:
            machine.pending.discard(mid)
            self.stats.events_acked += 1

    # -- what a machine says

    def _status(self, machine: Machine, *, online: bool, reason: str = "") -> dict[str, Any]:
        in_service = online and machine.in_service
        if online and not machine.in_service:
            reason = machine.service_reason
        return {"online": online, "machine": machine.id, "version": VERSION,
                "in_service": in_service, "reason": reason}

    def _publish(self, machine: Machine, leaf: str, doc: Mapping[str, Any], *,
                 retain: bool = False) -> int:
        info = machine.client.publish(f"{self.options.prefix}/{machine.id}/{leaf}",
                                      _json(doc), qos=1, retain=retain)
        self._update_writer(machine)
        return info.mid

    def _event(self, machine: Machine, doc: dict[str, Any]) -> str:
        event_id = machine.next_id()
        full = {"id": event_id, "machine": machine.id, **doc, "at": now_text()}
        mid = self._publish(machine, "event", full)
        machine.pending.add(mid)
        self.stats.events_published += 1
        return event_id

    def _publish_state(self, machine: Machine) -> None:
        state = {
            "id": machine.next_id(), "machine": machine.id, "at": now_text(), "kind": "state",
            "currency": self.options.currency,
            "slots": [{"slot": s.slot, "name": s.name, "price": f"{s.price:.2f}",
                       "stock": s.stock, "enabled": s.enabled,
                       "disabled_reason": s.disabled_reason} for s in machine.slots],
            "config_version": "5e1f0c9d2e7a", "open_claims": 0,
            "sales_today": {"count": machine.sales_count,
                            "amount": f"{machine.sales_amount:.2f}"},
            "health": {"in_service": machine.in_service, "reason": machine.service_reason},
        }
        self._publish(machine, "state", state, retain=True)
        self.stats.states_published += 1

    def _sale(self, machine: Machine) -> None:
        choices = [s for s in machine.slots if s.enabled and s.stock > 0]
        if not choices:
            for slot in machine.slots:       # an operator came by
                self._event(machine, {"group": "operator", "kind": "set_full",
                                      "detail": {"slot": slot.slot, "stock": STOCK,
                                                 "was": slot.stock}})
                slot.stock = STOCK
            self._publish_state(machine)
            return
        slot = self._random.choice(choices)
        tx = str(uuid.uuid4())
        asset = self._random.choice(ASSETS)
        amount = f"{slot.price:.2f}"
        common = {"group": "sale", "tx": tx, "slot": slot.slot, "item": slot.name,
                  "amount": amount, "currency": self.options.currency, "gateway": "mixpay",
                  "asset": asset}
        payment_id = uuid.uuid4().hex
        details: list[tuple[str, str, dict[str, Any]]] = [
            ("payment_requested", "creating", {"slot": slot.slot, "amount": amount,
                                               "currency": self.options.currency,
                                               "asset": asset}),
            ("payment_created", "awaiting", {"payment_id": payment_id,
                                             "link": f"https://pay.example/{payment_id}",
                                             "crypto_symbol": asset}),
            ("paid_verified", "paid", {"payment_id": payment_id, "state": "paid"}),
            ("vend_started", "vending", {"slot": slot.slot, "marks_dispense": True}),
            ("vend_dispensing", "vending", {}),
            ("vend_result", "vended", {"outcome": "vended"}),
        ]
        last = ""
        for kind, status, detail in details:
            last = self._event(machine, {**common, "kind": kind, "status": status,
                                         "detail": detail})
        slot.stock -= 1
        machine.sales_count += 1
        machine.sales_amount += slot.price
        self.stats.sales += 1
        if self._on_sale is not None:
            self._on_sale(machine.id, last, time.time())
        if slot.stock < RESTOCK_BELOW:
            self._event(machine, {"group": "operator", "kind": "restock",
                                  "detail": {"slot": slot.slot, "stock": STOCK,
                                             "was": slot.stock}})
            slot.stock = STOCK
        self._publish_state(machine)

    # -- commands

    def _message(self, client: mqtt.Client, machine_id: str,
                 message: mqtt.MQTTMessage) -> None:
        machine = self.machines[machine_id]
        self.stats.commands += 1
        try:
            doc = json.loads(message.payload)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            self._reply(machine, None, error="malformed: a command is a JSON object")
            return
        command_id = doc.get("id") if isinstance(doc.get("id"), str) else None
        if self.options.public_key is not None:
            from kiosk.errors import CommandRefused
            from kiosk.fleet.signing import verify

            try:
                verify(doc, self.options.public_key)
            except CommandRefused as exc:
                self._reply(machine, command_id, error=str(exc))
                return
        if command_id in machine.handled:
            self._reply(machine, command_id, error=f"replayed: command {command_id} was "
                                                   "already handled; not applied again",
                        status="replayed")
            return
        if command_id is not None:
            machine.handled.add(command_id)
        try:
            result = self._apply(machine, str(doc.get("command")), doc.get("args") or {},
                                 command_id)
        except ValueError as exc:
            self._reply(machine, command_id, error=str(exc))
            return
        self._reply(machine, command_id, result=result)
        self._publish_state(machine)

    def _apply(self, machine: Machine, command: str, args: Mapping[str, Any],
               command_id: str | None) -> dict[str, Any]:
        by_id = {slot.slot: slot for slot in machine.slots}
        fleet = {"source": "fleet", "command": command_id}
        if command == "set_service":
            machine.in_service = bool(args.get("in_service"))
            reason = str(args.get("reason") or "by the operator")
            machine.service_reason = "" if machine.in_service else f"out of service: {reason}"
            self._event(machine, {"group": "operator",
                                  "kind": "service_on" if machine.in_service else "service_off",
                                  "detail": {"reason": reason, **fleet}})
            self._publish(machine, "status", self._status(machine, online=True), retain=True)
            return {"in_service": machine.in_service}
        if command not in ("set_price", "set_stock", "set_slot_enabled"):
            raise ValueError(f'unknown command "{command}" (the simulator takes: set_price, '
                             "set_stock, set_slot_enabled, set_service)")
        slot = by_id.get(str(args.get("slot")))
        if slot is None:
            raise ValueError(f'{command}: no slot "{args.get("slot")}" on this machine '
                             f'(slots: {", ".join(by_id)})')
        if command == "set_price":
            try:
                price = Decimal(str(args.get("price")))
            except InvalidOperation:
                raise ValueError(f'set_price: "{args.get("price")}" is not a price like '
                                 '"2.50"') from None
            if not price > 0:
                raise ValueError(f'set_price: must be greater than zero, found "{price}"')
            slot.price = price
            self._event(machine, {"group": "operator", "kind": "price_set",
                                  "detail": {"slot": slot.slot, "price": str(args["price"]),
                                             **fleet}})
            return {"slot": slot.slot, "price": f"{price:.2f}"}
        if command == "set_stock":
            stock = args.get("stock")
            if not isinstance(stock, int) or isinstance(stock, bool) or not 0 <= stock <= 10000:
                raise ValueError(f"set_stock: stock must be between 0 and 10000, found {stock}")
            was, slot.stock = slot.stock, stock
            self._event(machine, {"group": "operator", "kind": "stock_set",
                                  "detail": {"slot": slot.slot, "stock": stock, "was": was,
                                             **fleet}})
            return {"slot": slot.slot, "stock": stock}
        enabled = bool(args.get("enabled"))
        slot.enabled, slot.disabled_reason = enabled, "" if enabled else "operator"
        self._event(machine, {"group": "operator",
                              "kind": "slot_enabled" if enabled else "slot_disabled",
                              "detail": {"slot": slot.slot, **fleet}})
        return {"slot": slot.slot, "enabled": enabled}

    def _reply(self, machine: Machine, command_id: str | None, *,
               result: Mapping[str, Any] | None = None, error: str = "",
               status: str = "") -> None:
        reply: dict[str, Any] = {"id": machine.next_id(), "machine": machine.id,
                                 "kind": "reply", "at": now_text(), "command": command_id}
        if result is not None:
            reply.update(status="applied", ok=True, result=dict(result))
        else:
            reply.update(status=status or "rejected", ok=False, error=error)
        self._publish(machine, "reply", reply)


def raise_fd_limit(wanted: int) -> int:
    """The soft limit of open files raised towards ``wanted`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def _json(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


