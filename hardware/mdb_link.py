"""The link to the Qibixx MDB bridge: the serial port and the ``mdb-reader`` thread.

``BridgePort`` is the port itself: open, read one line, write one command. ``BridgeLink`` is
the reader thread that owns it: the start-up sequence (``V``, ``C,0``, the address and
``setconf`` lines, ``C,1``), the bridge's lines turned into session events for the
``SessionRunner``, the keep-alive ``V`` and the reconnect with back-off after a serial error or
a silent bridge. Neither knows what a vend is: ``hardware.mdb_session`` decides that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, cast

import serial

from hardware import mdb_protocol as proto
from hardware import mdb_session as session
from hardware.base import KeypadSelection
from hardware.errors import HardwareError
from hardware.mdb_protocol import BridgeLine, Kind
from hardware.mdb_session_runner import SessionRunner

log = logging.getLogger("hardware.mdb")  # the driver's log, whichever part writes it

READ_TICK_S = 0.05         # how often the reader looks at its timers between lines
NOT_ANSWERING = "MDB bridge not answering"


class _Port(Protocol):
    """What the driver uses of a pyserial port. Every pyserial port class has ``in_waiting``;
    the type stubs declare it only on the concrete classes, not on ``SerialBase``."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = ..., /) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


class BridgePort:
    """The bridge's serial port: one command on the wire at a time, lines read one by one.

    ``last_heard`` is when the last complete line came in (the reader thread's own clock).
    """

    def __init__(self, url: str, *, baudrate: int, write_timeout_s: float, decimals: int,
                 failure_prefixes: Sequence[str], clock: Callable[[], float]) -> None:
        serial.serial_for_url(url, do_not_open=True)  # an unknown URL scheme fails here
        self.url = url
        self.last_heard = 0.0
        self._baudrate = baudrate
        self._write_timeout_s = write_timeout_s
        self._decimals = decimals
        self._failure_prefixes = tuple(failure_prefixes)
        self._clock = clock
        self._write_lock = threading.Lock()      # one command on the wire at a time
        self._port: _Port | None = None
        self._lines = proto.LineSplitter()

    def open(self) -> None:
        port = cast(_Port, serial.serial_for_url(self.url, baudrate=self._baudrate,
                                                 timeout=READ_TICK_S,
                                                 write_timeout=self._write_timeout_s))
        port.reset_input_buffer()  # lines queued while we were away are stale
        with self._write_lock:
            self._port = port
        self._lines.clear()
        self.last_heard = self._clock()

    def read_line(self) -> BridgeLine | None:
        """The next complete line, or None after one read tick without one."""
        raw = self._lines.next_line()
        if raw is None:
            port = self._port
            if port is None:
                raise serial.SerialException("port not open")
            dropped = self._lines.feed(port.read(max(1, port.in_waiting)))
            if dropped:
                log.warning("skipped %d bytes of junk without a line end", dropped)
            raw = self._lines.next_line()
            if raw is None:
                return None
        self.last_heard = self._clock()
        return proto.parse_line(raw, decimals=self._decimals,
                                failure_prefixes=self._failure_prefixes)

    def write(self, command: str) -> None:
        """Write one command; raises ``serial.SerialException`` if the port is gone."""
        with self._write_lock:
            if self._port is None:
                raise serial.SerialException("port not open")
            self._port.write(proto.encode(command))
        log.debug("MDB > %s", command)

    def send(self, command: str) -> bool:
        """``write`` that logs instead of raising: the reader notices a dead port itself."""
        try:
            self.write(command)
        except OSError as exc:
            log.warning("could not send %s to the MDB bridge: %s", command, exc)
            return False
        return True

    def close(self) -> None:
        with self._write_lock:
            port, self._port = self._port, None
        if port is not None:
            port.close()


class BridgeLink:
    """The ``mdb-reader`` thread: keeps the bridge configured and feeds its lines to the session.

    ``connected``, ``fault`` and ``version`` are guarded by the session's ``cond``.

    :param startup: the address and ``setconf`` lines, sent after every (re)connect.
    :param silence_timeout_s: a bridge quiet this long is unplugged or hung.
    :param backoff: waits between reconnect attempts; the last one repeats.
    :param reply_timeout_s: how long the bridge may take to answer one command.
    """

    def __init__(self, port: BridgePort, runner: SessionRunner, *, startup: Sequence[str],
                 silence_timeout_s: float, backoff: Sequence[float], reply_timeout_s: float,
                 clock: Callable[[], float]) -> None:
        self.port = port
        self.stopping = threading.Event()
        self.connected = False                   # the port is open and the handshake done
        self.fault = initial_fault(port.url)
        self.version = ""
        self._versions_seen = 0
        self._runner = runner
        self._cond = runner.cond
        self._startup = tuple(startup)
        self._silence_timeout_s = silence_timeout_s
        self._backoff = tuple(backoff)
        self._reply_timeout_s = reply_timeout_s
        self._clock = clock
        self._last_probe = 0.0
        self._thread = threading.Thread(target=self._run, name="mdb-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop the reader, which disables the reader on the bus (``C,0``) and closes the port."""
        self.stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def ask_version(self) -> tuple[str | None, str]:
        """Send ``V`` and wait for a fresh answer: (version, "") or (None, why not)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.connected, self._reply_timeout_s):
                return None, self.fault
            seen = self._versions_seen
            if self.port.send(proto.VERSION) and self._cond.wait_for(
                    lambda: self._versions_seen > seen, self._reply_timeout_s):
                return self.version, ""
            return None, f"{NOT_ANSWERING}: no reply to V within {self._reply_timeout_s:g} s"

    # -- the reader thread ----------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                self._open()
                self._handshake()
                failures = 0
                self._serve()
                self.port.write(proto.DISABLE)  # closing: leave the bus as a disabled reader
            except (OSError, HardwareError) as exc:  # serial.SerialException is an OSError
                if not self.stopping.is_set():
                    self._link_down(str(exc) if isinstance(exc, HardwareError)
                                    else f"{NOT_ANSWERING}: {exc}")
            except Exception as exc:  # supervised: a bug drops the link and is retried
                log.exception("the MDB reader failed")
                self._link_down(f"MDB reader failing: {type(exc).__name__}: {exc}"[:200])
            finally:
                self.port.close()
            if not self.stopping.is_set():
                self.stopping.wait(self._backoff[min(failures, len(self._backoff) - 1)])
                failures += 1
        with self._cond:
            self.connected = False
            self.fault = "the MDB driver is closed"
            self._runner.feed(session.DriverClosed())

    def _open(self) -> None:
        self.port.open()
        self._last_probe = self.port.last_heard
        with self._cond:
            self._runner.feed(session.LinkUp())
        log.info("MDB bridge port %s open", self.port.url)

    def _handshake(self) -> None:
        self._ask(proto.VERSION, lambda line: line.kind is Kind.VERSION)
        self.port.write(proto.DISABLE)
        for command in self._startup:
            answer = self._ask(command, lambda line: line.kind in (Kind.SET_OK, Kind.ERROR,
                                                                   Kind.FAILURE))
            if answer.kind is not Kind.SET_OK:
                raise HardwareError(f"MDB bridge rejected {command}: {answer.text}")
        with self._cond:
            self.connected = True
            self._cond.notify_all()
        self.port.write(proto.ENABLE)
        log.info("MDB bridge %s configured; waiting for the machine to enable the reader",
                 self.version)

    def _ask(self, command: str, wanted: Callable[[BridgeLine], bool]) -> BridgeLine:
        """Send ``command`` and read until ``wanted`` accepts a line (all lines are handled)."""
        self.port.write(command)
        deadline = self._clock() + self._reply_timeout_s
        while self._clock() < deadline and not self.stopping.is_set():
            line = self.port.read_line()
            if line is not None:
                self._handle(line)
                if wanted(line):
                    return line
        raise HardwareError(f"{NOT_ANSWERING}: no reply to {command} "
                            f"within {self._reply_timeout_s:g} s")

    def _serve(self) -> None:
        while not self.stopping.is_set():
            line = self.port.read_line()
            if line is not None:
                self._handle(line)
            self._watch_link()
            with self._cond:
                self._runner.feed(session.Tick())

    def _watch_link(self) -> None:
        now = self._clock()
        quiet = now - self.port.last_heard
        if quiet > self._silence_timeout_s:
            raise HardwareError(f"{NOT_ANSWERING}: no line for {quiet:.1f} s")
        keepalive = self._silence_timeout_s / 3
        if quiet > keepalive and now - self._last_probe > keepalive:
            self._last_probe = now
            self.port.write(proto.VERSION)  # the bridge answers V even when the VMC is quiet

    def _link_down(self, reason: str) -> None:
        log.warning("%s", reason)
        with self._cond:
            self.connected = False
            self.fault = reason
            self._runner.feed(session.LinkLost(reason))

    def _handle(self, line: BridgeLine) -> None:
        with self._cond:
            if line.kind is Kind.VERSION:
                self.version = line.text
                self._versions_seen += 1
                self._cond.notify_all()
                return
            event = _event_for(line)
            notices = self._runner.feed(event) if event is not None else []
        for notice in notices:
            notice()


def initial_fault(url: str) -> str:
    """The health reason before the first handshake."""
    return f"{NOT_ANSWERING}: connecting to {url}"


def _event_for(line: BridgeLine) -> session.Event | None:
    """The session event a bridge line carries, if any; every line is logged."""
    match line.kind:
        case Kind.STATUS:
            log.info("MDB reader status %s", line.text)
            return _status_event(line.status)
        case Kind.VEND_REQUEST:
            assert line.item is not None and line.price_minor is not None
            log.info("MDB VEND REQUEST: item %s at %s", line.item, line.price_text)
            return session.VendRequested(KeypadSelection(line.item, line.price_minor),
                                         line.price_text)
        case Kind.VEND_SUCCESS:
            log.info("MDB VEND SUCCESS")
            return session.VendSucceeded()
        case Kind.FAILURE:
            log.warning("MDB vend failure: %s", line.text)
            return session.VendFailed(line.text)
        case Kind.ERROR:
            log.warning("MDB bridge error: %s", line.text)
            return session.BridgeError(line.text)
        case Kind.GARBAGE | Kind.UNKNOWN:
            log.warning("skipped %s line from the MDB bridge: %s", line.kind.value, line.text)
        case _:
            log.debug("MDB < %s", line.text)
    return None


def _status_event(status: str) -> session.Event:
    if status == proto.ENABLED:
        return session.ReaderEnabled()
    if status == proto.IDLE:
        return session.SessionIdle()
    if status == proto.RESET_STATUS:
        return session.ReaderReset()
    return session.ReaderDisabled(status)
