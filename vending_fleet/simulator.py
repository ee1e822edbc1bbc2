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

Every machine is its own MQTT connection (``MachineClients``, sim_clients.py). They all run on
ONE thread: paho clients driven through paho's external-loop API (``socket()``,
``loop_read``/``loop_write``/``loop_misc``) from one ``selectors`` loop (sim_sockets.py), which
also schedules the sales: 1,000 machines cost one thread and one socket each. Sales begin once
every machine is connected (or 30 s after the start, whichever comes first). A lost connection
is retried with a back-off (0.5 s doubling to 10 s).
"""

from __future__ import annotations

import logging
import random
import resource
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vending_fleet.sim_clients import MachineClients
from vending_fleet.sim_sockets import SocketLoop
from vending_fleet.sim_machine import (
    ASSETS,
    CATALOGUE,
    EVENTS_PER_SALE,
    RESTOCK_BELOW,
    STOCK,
    Machine,
    Slot,
    Refused,
    now_text,
    reply_doc,
    sale_steps,
    state_doc,
    status_doc,
    take_command,
)

__all__ = ["EVENTS_PER_SALE", "SimOptions", "SimStats", "Simulator", "raise_fd_limit"]

log = logging.getLogger(__name__)

MISC_EVERY_S = 1.0            # keep-alive work of every client
HEARTBEAT_S = 300.0           # status again though nothing changed (docs/fleet-protocol.md)
SELL_AFTER_S = 30.0           # sales start once every machine is connected, or after this


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
        self._sockets = SocketLoop(self.host, self.port, options.keepalive_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._selling_stopped = False
        raise_fd_limit(options.machines * 2 + 256)
        self.machines: dict[str, Machine] = {}
        self._clients = MachineClients(options, tls=self.tls, stats=self.stats,
                                       sockets=self._sockets, machines=self.machines,
                                       on_connected=self._online, on_command=self._command,
                                       stopping=self._stop.is_set)
        for n in range(options.first, options.first + options.machines):
            machine_id = f"{options.id_prefix}{n:04d}"
            slots = [Slot(s, name, Decimal(price)) for s, name, price in CATALOGUE]
            self.machines[machine_id] = Machine(machine_id, uuid.uuid4().hex[:12],
                                                self._clients.client(machine_id), slots)

    # -- life

    def start(self) -> Simulator:
        self.stats.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._thread.start()
        return self

    def wait_connected(self, count: int | None = None, timeout_s: float = 30.0) -> bool:
        want = len(self.machines) if count is None else count
        return _wait_until(lambda: self.stats.connected >= want, timeout_s)

    def wait_acked(self, timeout_s: float = 30.0) -> bool:
        """Every event published so far acknowledged by the broker."""
        stats = self.stats
        return _wait_until(lambda: stats.events_acked >= stats.events_published, timeout_s)

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
        next_heartbeat = time.monotonic() + HEARTBEAT_S
        order = list(self.machines.values())
        turn = 0
        selling = False
        sell_anyway = time.monotonic() + SELL_AFTER_S
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                self._sockets.connect_some(order, now)
                if not selling and (self.stats.connected >= len(order) or now >= sell_anyway):
                    selling = True           # the fleet is up (or as up as it gets): sell
                    self.stats.selling_since = now
                    next_sale = now + (interval or 0)
                timeout = 0.2
                if interval is not None and selling:
                    timeout = min(timeout, max(0.0, next_sale - now))
                self._sockets.poll(timeout)
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
                    self._sockets.misc(order)
                if now >= next_heartbeat:           # as a real kiosk's link does
                    next_heartbeat = now + HEARTBEAT_S
                    for machine in order:
                        if machine.connected:
                            self._publish_status(machine)
        except Exception:
            log.exception("simulator loop failed")
            raise
        finally:
            self._goodbye()

    def _goodbye(self) -> None:
        for machine in self.machines.values():
            if machine.connected:
                self._publish_status(machine, online=False, reason="stopped")
        self._sockets.flush(2.0)
        for machine in self.machines.values():
            if machine.sock is not None:
                machine.client.disconnect()
        self._sockets.close()

    # -- what a machine says

    def _online(self, machine: Machine) -> None:
        """Connected and subscribed to its commands: status (online), then state."""
        self._publish_status(machine)
        self._publish_state(machine)

    def _publish_status(self, machine: Machine, *, online: bool = True,
                        reason: str = "") -> None:
        self._clients.publish(machine, "status", status_doc(machine, online=online,
                                                            reason=reason), retain=True)

    def _publish_state(self, machine: Machine) -> None:
        self._clients.publish(machine, "state", state_doc(machine, self.options.currency),
                              retain=True)
        self.stats.states_published += 1

    def _reply(self, machine: Machine, command_id: str | None, *,
               result: Mapping[str, Any] | None = None, error: str = "",
               status: str = "") -> None:
        self._clients.publish(machine, "reply", reply_doc(machine, command_id, result=result,
                                                          error=error, status=status))

    def _event(self, machine: Machine, doc: dict[str, Any]) -> str:
        event_id = machine.next_id()
        full = {"id": event_id, "machine": machine.id, **doc, "at": now_text()}
        mid = self._clients.publish(machine, "event", full)
        machine.pending.add(mid)
        self.stats.events_published += 1
        return event_id

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
        steps = sale_steps(slot, self.options.currency, self._random.choice(ASSETS))
        last = ""
        for step in steps:
            last = self._event(machine, step)
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

    def _command(self, machine: Machine, payload: bytes) -> None:
        self.stats.commands += 1
        command_id, applied = take_command(machine, payload, self.options.public_key)
        if isinstance(applied, Refused):
            self._reply(machine, command_id, error=applied.reason, status=applied.status)
            return
        for event in applied.events:
            self._event(machine, event)
        if applied.status_changed:
            self._publish_status(machine)
        self._reply(machine, command_id, result=applied.result)
        self._publish_state(machine)


def _wait_until(done: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``done`` (the stats move on the simulator's thread) until true or timed out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return False


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



