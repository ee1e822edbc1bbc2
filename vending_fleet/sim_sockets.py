"""One thread for a thousand MQTT connections: each simulated machine's paho client driven
through paho's external-loop API (``socket()``, ``loop_read``/``loop_write``/``loop_misc``)
from one ``selectors`` loop. Connecting is paced (a few per turn, CONNACKs read between) and a
failed connection is retried with a back-off."""

from __future__ import annotations

import logging
import selectors
import ssl
import time
from collections.abc import Iterable
from typing import Any

from vending_fleet.sim_machine import Machine

log = logging.getLogger(__name__)

CONNECTS_PER_TURN = 50        # new connections opened per loop turn (CONNACKs get read between)
BACKOFF_MAX_S = 10.0


class SocketLoop:
    def __init__(self, host: str, port: int, keepalive_s: int) -> None:
        self._host, self._port, self._keepalive_s = host, port, keepalive_s
        self._selector = selectors.DefaultSelector()
        self._writers: set[str] = set()

    # -- paho's socket callbacks (through the simulator)

    def opened(self, machine: Machine, sock: Any) -> None:
        machine.sock = sock
        self._writers.discard(machine.id)
        self._selector.register(sock, selectors.EVENT_READ, machine)

    def closed(self, machine: Machine, sock: Any) -> None:
        """Forget the socket; the next attempt after the machine's back-off."""
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        machine.sock = None
        self._writers.discard(machine.id)
        machine.next_attempt = time.monotonic() + machine.backoff
        machine.backoff = min(machine.backoff * 2, BACKOFF_MAX_S)

    # -- the loop

    def connect_some(self, machines: Iterable[Machine], now: float) -> None:
        opened = 0
        for machine in machines:
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
                    machine.client.connect(self._host, self._port, self._keepalive_s)
            except (OSError, ssl.SSLError) as exc:
                machine.next_attempt = now + machine.backoff
                log.debug("%s: connect failed (%s); again in %.1f s", machine.id, exc,
                          machine.backoff)
                machine.backoff = min(machine.backoff * 2, BACKOFF_MAX_S)
                continue
            self.update_writer(machine)

    def poll(self, timeout_s: float) -> None:
        """Read and write what is ready, waiting up to ``timeout_s``."""
        for key, mask in self._selector.select(timeout_s):
            machine: Machine = key.data
            if mask & selectors.EVENT_READ:
                machine.client.loop_read(max_packets=10)
            if mask & selectors.EVENT_WRITE:
                machine.client.loop_write()
                self.update_writer(machine)

    def misc(self, machines: Iterable[Machine]) -> None:
        """Keep-alives and retries of every open connection."""
        for machine in machines:
            if machine.sock is not None:
                machine.client.loop_misc()
                self.update_writer(machine)

    def flush(self, seconds: float) -> None:
        """Write what is queued (a goodbye), for at most ``seconds``."""
        deadline = time.monotonic() + seconds
        while self._writers and time.monotonic() < deadline:
            self.poll(0.1)

    def update_writer(self, machine: Machine) -> None:
        """Watch the socket for writing only while paho has something to write."""
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

    def close(self) -> None:
        self._selector.close()
