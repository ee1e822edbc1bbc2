"""systemd's notify protocol without a dependency: one datagram per message to NOTIFY_SOCKET.

``READY=1`` once the first frame is on screen (``Type=notify``), ``WATCHDOG=1`` from the main
loop at half the ``WatchdogSec=`` interval systemd passes in ``WATCHDOG_USEC``, so a hung UI
loop gets the service restarted. Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        # "@name" is Linux's abstract namespace, spelt with a leading NUL on the wire.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)  # the UI thread must never wait on systemd
        usec = environ.get("WATCHDOG_USEC", "")
        self._watchdog_s = int(usec) / 2_000_000 if usec.isdigit() and int(usec) > 0 else None
        self._next_ping = 0.0
        self._ready_sent = False

    @property
    def enabled(self) -> bool:
        """Running under systemd with a notify socket."""
        return self._socket is not None

    def ready(self) -> None:
        if not self._ready_sent:
            self._ready_sent = self._send("READY=1")

    def ping(self, now: float) -> None:
        """Call every loop iteration; sends ``WATCHDOG=1`` when half the interval has passed."""
        if self._watchdog_s is not None and now >= self._next_ping:
            self._next_ping = now + self._watchdog_s
            self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def extend_timeout(self, seconds: float) -> None:
        """Ask systemd for ``seconds`` more before it kills us (a vend finishing on stop)."""
        self._send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, message: str) -> bool:
        if self._socket is None:
            return False
        try:
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            log.warning("systemd notify %s failed: %s", message, exc)
            return False
        return True
