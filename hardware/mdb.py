"""Sell through the vending machine's own controller as an MDB cashless device.

The Pi joins the machine's MDB bus as a cashless reader (a card reader's place) through a
Qibixx bridge, and the machine's controller (VMC) dispenses and reports the result:

* **MDB Pi HAT** on the Pi's UART (GPIO14/15, enable the UART and disable the serial
  console): ``port="/dev/ttyAMA0"`` (``/dev/serial0`` on older Pis);
* **MDB-USB interface**: ``port="/dev/ttyACM0"`` or, stabler, the
  ``/dev/serial/by-id/usb-Qibixx_...`` link.

Either way the machine's MDB cable goes to the bridge's *Peripheral* port, never to the Pi:
MDB carries 24-42 V. ``port`` is any pyserial URL, so tests and demos pass a pty path
(``hardware.sim.mdb_bridge``), ``loop://``, or ``sim://?items=11:250,12:300``: a simulated
bridge and machine opened in-process (``hardware.sim.protocol_sim``) through this same code.

Two ways to sell, both ending in the VMC's VEND SUCCESS or FAILURE:

* **touchscreen first**: the kiosk takes the payment, then ``vend`` opens a session with
  exactly the paid amount (``C,START``), the customer presses the item on the machine's
  keypad (``vend_prompt`` says which), and the driver approves it only if item and price
  match what was paid;
* **keypad first** (MDB "Always Idle"): the customer presses an item while no sale is
  running; the driver tells the kiosk (``set_selection_listener``), which takes the payment
  and calls ``vend`` for that item (approve) or ``release_selection`` (deny). The VMC waits
  at most ``patience_s``; after that the driver denies it itself.

Two budgets that never share time: touchscreen first, the customer has
``selection_timeout_s`` from ``C,START`` to press the paid item, else the result is
``TIMEOUT`` and the session is ended (a certain no-vend); once a vend is approved the VMC has
``dispense_timeout_s`` to report VEND SUCCESS or FAILURE, else the result is ``UNKNOWN``:
the item may still drop, so it is never reported as a failure and nothing is denied mid-vend.

The session rules are the pure state machine in ``hardware.mdb_session``; this module is its
I/O shell: the reader thread turns bridge lines into session events, one lock serialises them
with the kiosk's calls, and the machine's actions become bridge commands, the vend's result
and keypad notices.

Example::

    driver = MdbDriver(port="/dev/ttyACM0", setconf=["C,SETCONF,mdb-currency-code=0x1978"])
    driver.set_selection_listener(lambda selection: events.put(selection))
    result = driver.vend(VendRequest("A1", price_minor=250, mdb_item=11))
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, cast

import serial

from hardware import mdb_protocol as proto
from hardware import mdb_session as session
from hardware.base import (
    NOT_RECORDED,
    DriverHealth,
    KeypadSelection,
    Probe,
    ResultListener,
    SelectionListener,
    VendDriver,
    VendRequest,
    VendResult,
)
from hardware.errors import HardwareError
from hardware.mdb_config import ADDRESSES
from hardware.mdb_protocol import BridgeLine, Kind

log = logging.getLogger(__name__)

# ``sim://`` URLs open a simulated bridge (``hardware/sim/protocol_sim.py``), the way OctoPrint
# selects its virtual printer: pyserial imports that handler only when such a URL is opened.
if "hardware.sim" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("hardware.sim")

READ_TICK_S = 0.05         # how often the reader looks at its timers between lines
WAIT_SLICE_S = 0.05        # vend() re-checks the injected clock at least this often
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


class MdbDriver(VendDriver):
    """An MDB cashless device on a Qibixx bridge: approves the VMC's vends that were paid for.

    A reader thread owns the port: it runs the start-up sequence (``V``, ``C,0``, the
    address and ``setconf`` lines, ``C,1``), turns the bridge's lines into session events
    and reconnects with back-off after a serial error or ``silence_timeout_s`` without a line
    (it sends ``V`` when the line has been quiet for a third of that).

    :param port: pyserial URL of the bridge (``/dev/ttyACM0``, ``/dev/ttyAMA0``, a pty path).
    :param address: MDB address the bridge answers as: 0x10 (cashless #1) or 0x60 (#2).
    :param patience_s: how long a keypad-first selection may wait for payment.
    :param deny_command: the bridge command that denies a VEND REQUEST (firmware-specific).
    :param setconf: extra ``C,SETCONF,...`` lines, sent after every (re)connect.
    :param selection_timeout_s: touchscreen first, how long the customer has from ``C,START``
        to press the paid item on the keypad.
    :param dispense_timeout_s: how long the VMC has from the approval to report VEND SUCCESS
        or FAILURE; after that the vend is ``UNKNOWN``.
    :param silence_timeout_s: a bridge quiet this long is unplugged or hung.
    :param reconnect_backoff_s: waits between reconnect attempts; the last one repeats.
    :param vend_failure_prefixes: lines that report a failed vend (firmware-specific).
    :param decimal_places: the machine currency's decimals, for the bridge's amounts.
    :param reply_timeout_s: how long the bridge may take to answer one command (and the VMC
        to end the previous session before a new one opens).
    :param enable_timeout_s: how long ``probes`` waits for the VMC to enable the reader.
    :param clock: monotonic seconds (injectable for tests).
    """

    name = "mdb"

    def __init__(
        self,
        *,
        port: str,
        baudrate: int = 115200,
        address: int = 0x10,
        patience_s: float = 60.0,
        deny_command: str = proto.DENY,
        setconf: Sequence[str] = (),
        selection_timeout_s: float = 60.0,
        dispense_timeout_s: float = 60.0,
        silence_timeout_s: float = 30.0,
        reconnect_backoff_s: Sequence[float] = (1, 2, 5, 10, 30),
        vend_failure_prefixes: Sequence[str] = proto.DEFAULT_FAILURE_PREFIXES,
        decimal_places: int = 2,
        reply_timeout_s: float = 2.0,
        enable_timeout_s: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_settings(address, deny_command, setconf, reconnect_backoff_s,
                        vend_failure_prefixes, decimal_places,
                        {"patience_s": patience_s, "selection_timeout_s": selection_timeout_s,
                         "dispense_timeout_s": dispense_timeout_s,
                         "silence_timeout_s": silence_timeout_s,
                         "reply_timeout_s": reply_timeout_s,
                         "enable_timeout_s": enable_timeout_s})
        serial.serial_for_url(port, do_not_open=True)  # an unknown URL scheme fails here
        self._url = port
        self._baudrate = baudrate
        self._address = address
        self._deny_command = deny_command
        self._startup = [proto.set_address(address), *setconf]
        self._silence_timeout_s = silence_timeout_s
        self._backoff = tuple(reconnect_backoff_s)
        self._failure_prefixes = tuple(vend_failure_prefixes)
        self._decimals = decimal_places
        self._reply_timeout_s = reply_timeout_s
        self._enable_timeout_s = enable_timeout_s
        self._clock = clock
        self._machine = session.SessionMachine(session.Settings(
            patience_s=patience_s, selection_timeout_s=selection_timeout_s,
            dispense_timeout_s=dispense_timeout_s, session_end_wait_s=reply_timeout_s))

        self._cond = threading.Condition()       # guards everything below
        self._write_lock = threading.Lock()      # one command on the wire at a time
        self._vend_lock = threading.Lock()       # one vend at a time
        self._stop = threading.Event()
        self._port: _Port | None = None
        self._lines = proto.LineSplitter()
        self._connected = False                  # the port is open and the handshake done
        self._fault = f"{NOT_ANSWERING}: connecting to {port}"
        self._version = ""
        self._versions_seen = 0
        self._last_heard = 0.0
        self._last_probe = 0.0
        self._state: session.State = session.Disabled(self._fault)
        self._result: VendResult | None = None   # the current vend's Report
        self._listener: SelectionListener | None = None
        self._unclaimed_listener: ResultListener | None = None
        self._thread = threading.Thread(target=self._run, name="mdb-reader", daemon=True)
        self._thread.start()

    # -- VendDriver -----------------------------------------------------------------------

    def health(self) -> DriverHealth:
        """Ready only while the bridge answers and the VMC has enabled the reader."""
        with self._cond:
            return self._health()

    def wait_ready(self, timeout_s: float) -> DriverHealth:
        """Wait up to ``timeout_s`` for the reader to become ready; return the health then."""
        deadline = self._clock() + timeout_s
        with self._cond:
            while not self._health().ready and not self._stop.is_set():
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, WAIT_SLICE_S))
            return self._health()

    @property
    def version(self) -> str:
        """The bridge's last answer to ``V`` (``v,<firmware>,<cpu id>``), "" before one."""
        with self._cond:
            return self._version

    def vend_prompt(self, request: VendRequest) -> str:
        with self._cond:
            if request.mdb_item is None or session.selection_waiting(self._state, request):
                return ""  # keypad first: the customer already pressed it
        return f"Select {request.mdb_item} on the machine's keypad"

    def set_unclaimed_result_listener(self, listener: ResultListener | None) -> None:
        """``listener`` runs on the reader thread: it must only post an event and return."""
        with self._cond:
            self._unclaimed_listener = listener

    def set_selection_listener(self, listener: SelectionListener | None) -> None:
        """``listener`` runs on the reader thread: it must only post an event and return."""
        with self._cond:
            self._listener = listener

    def release_selection(self) -> None:
        with self._cond:
            self._feed(session.SelectionReleased())

    def vend(self, request: VendRequest) -> VendResult:
        """Approve the VMC's vend of ``request.mdb_item`` at the paid price, then wait for it.

        Keypad first, the pending selection is approved at once; touchscreen first, a
        session is opened with the paid amount and the customer has ``selection_timeout_s``
        to press the item. A VEND REQUEST for anything else is denied. Once approved, the VMC
        has ``dispense_timeout_s`` to report; without a report the result is ``UNKNOWN``.
        """
        with self._vend_lock, self._cond:
            self._result = None
            self._feed(session.VendAsked(request))
            while self._result is None:
                if self._stop.is_set():
                    self._feed(session.DriverClosed())
                else:
                    self._cond.wait(WAIT_SLICE_S)
                    self._feed(session.Tick())
            result, self._result = self._result, None
        log.info("vend of item %s: %s %s", request.mdb_item, result.outcome.value, result.detail)
        return result

    def probes(self, requests: Sequence[VendRequest], move_motors: bool) -> list[Probe]:
        """The bridge answers ``V`` now and the VMC enables the reader.

        ``move_motors`` changes nothing: only a customer's keypad press starts an MDB vend.
        """
        version, failure = self._ask_version()
        if version is None:
            return [Probe("mdb_bridge", False, failure)]
        health = self.wait_ready(self._enable_timeout_s)
        if not health.ready:
            return [Probe("mdb_bridge", False, f"{version}; {health.reason}")]
        return [Probe("mdb_bridge", True,
                      f"{version}; reader enabled as cashless {self._address:#04x}")]

    def close(self) -> None:
        """Stop the reader, disable the reader on the bus (``C,0``) and close the port."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # -- the session machine, under self._cond ---------------------------------------------

    def _feed(self, event: session.Event) -> list[Callable[[], None]]:
        """Step the session machine and carry out its actions.

        Returns the keypad notices, for the caller to run once it has let go of the lock
        (only a VEND REQUEST line produces one, so only the reader thread gets any).
        """
        notices: list[Callable[[], None]] = []
        events = [event]
        while events:
            event = events.pop(0)
            before = self._state
            self._state, actions = self._machine.step(before, event, self._clock())
            if self._state != before:
                log.debug("MDB session %s -> %s on %s", before, self._state, event)
            for action in actions:
                follow_up = self._carry_out(action, notices)
                if follow_up is not None:
                    events.append(follow_up)
        self._cond.notify_all()
        return notices

    def _carry_out(self, action: session.Action,
                   notices: list[Callable[[], None]]) -> session.Event | None:
        """Do one action; returns the event it leads to (a failed write, nobody listening)."""
        match action:
            case session.StartSession(price_minor=price):
                log.info("opening a session with %s", price)
                return self._command(action, proto.start_session(price, self._decimals))
            case session.Approve(price_text=price_text):
                dispensing = self._state
                if isinstance(dispensing, session.Dispensing) and \
                        not dispensing.request.may_dispense():
                    # Not sent: to the machine this is an approval that never came.
                    log.error("not approving the vend: %s", NOT_RECORDED)
                    return session.WriteFailed(action)
                log.info("approving the vend at %s", price_text)
                return self._command(action, proto.approve(price_text))
            case session.Deny(reason=reason):
                log.info("denying the VMC's request: %s", reason)
                return self._command(action, self._deny_command)
            case session.Report(result=result):
                self._result = result
            case session.NotifySelection(selection=selection):
                listener = self._listener
                if listener is None:
                    log.info("keypad item %s: nobody is listening for selections",
                             selection.item)
                    return session.SelectionReleased()
                notices.append(lambda: _notify(listener, selection))
            case session.ReportUnclaimed(result=result):
                log.warning("a vend result nobody waits for: %s %s", result.outcome.value,
                            result.detail)
                unclaimed = self._unclaimed_listener
                if unclaimed is not None:
                    notices.append(lambda: _notify(unclaimed, result))
        return None

    def _command(self, command: session.Command, line: str) -> session.Event | None:
        return None if self._send(line) else session.WriteFailed(command)

    def _health(self) -> DriverHealth:
        if not self._thread.is_alive() and not self._stop.is_set():
            return DriverHealth(False, "MDB reader stopped")
        if not self._connected:
            return DriverHealth(False, self._fault)
        if isinstance(self._state, session.Disabled):
            return DriverHealth(False, self._state.reason)
        return DriverHealth(True)

    # -- the reader thread ----------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._open()
                self._handshake()
                failures = 0
                self._serve()
                self._write(proto.DISABLE)  # closing: leave the bus as a disabled reader
            except (OSError, HardwareError) as exc:  # serial.SerialException is an OSError
                if not self._stop.is_set():
                    self._link_down(str(exc) if isinstance(exc, HardwareError)
                                    else f"{NOT_ANSWERING}: {exc}")
            except Exception as exc:  # supervised: a bug drops the link and is retried
                log.exception("the MDB reader failed")
                self._link_down(f"MDB reader failing: {type(exc).__name__}: {exc}"[:200])
            finally:
                self._close_port()
            if not self._stop.is_set():
                self._stop.wait(self._backoff[min(failures, len(self._backoff) - 1)])
                failures += 1
        with self._cond:
            self._connected = False
            self._fault = "the MDB driver is closed"
            self._feed(session.DriverClosed())

    def _open(self) -> None:
        port = cast(_Port, serial.serial_for_url(self._url, baudrate=self._baudrate,
                                                 timeout=READ_TICK_S,
                                                 write_timeout=self._reply_timeout_s))
        port.reset_input_buffer()  # lines queued while we were away are stale
        with self._write_lock:
            self._port = port
        self._lines.clear()
        self._last_heard = self._last_probe = self._clock()
        with self._cond:
            self._feed(session.LinkUp())
        log.info("MDB bridge port %s open", self._url)

    def _handshake(self) -> None:
        self._ask(proto.VERSION, lambda line: line.kind is Kind.VERSION)
        self._write(proto.DISABLE)
        for command in self._startup:
            answer = self._ask(command, lambda line: line.kind in (Kind.SET_OK, Kind.ERROR,
                                                                   Kind.FAILURE))
            if answer.kind is not Kind.SET_OK:
                raise HardwareError(f"MDB bridge rejected {command}: {answer.text}")
        with self._cond:
            self._connected = True
            self._cond.notify_all()
        self._write(proto.ENABLE)
        log.info("MDB bridge %s configured; waiting for the machine to enable the reader",
                 self._version)

    def _ask(self, command: str, wanted: Callable[[BridgeLine], bool]) -> BridgeLine:
        """Send ``command`` and read until ``wanted`` accepts a line (all lines are handled)."""
        self._write(command)
        deadline = self._clock() + self._reply_timeout_s
        while self._clock() < deadline and not self._stop.is_set():
            line = self._read_line()
            if line is not None:
                self._handle(line)
                if wanted(line):
                    return line
        raise HardwareError(f"{NOT_ANSWERING}: no reply to {command} "
                            f"within {self._reply_timeout_s:g} s")

    def _serve(self) -> None:
        while not self._stop.is_set():
            line = self._read_line()
            if line is not None:
                self._handle(line)
            self._watch_link()
            with self._cond:
                self._feed(session.Tick())

    def _watch_link(self) -> None:
        now = self._clock()
        quiet = now - self._last_heard
        if quiet > self._silence_timeout_s:
            raise HardwareError(f"{NOT_ANSWERING}: no line for {quiet:.1f} s")
        keepalive = self._silence_timeout_s / 3
        if quiet > keepalive and now - self._last_probe > keepalive:
            self._last_probe = now
            self._write(proto.VERSION)  # the bridge answers V even when the VMC is quiet

    def _read_line(self) -> BridgeLine | None:
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
        self._last_heard = self._clock()
        return proto.parse_line(raw, decimals=self._decimals,
                                failure_prefixes=self._failure_prefixes)

    def _write(self, command: str) -> None:
        """Write one command; raises ``serial.SerialException`` if the port is gone."""
        with self._write_lock:
            if self._port is None:
                raise serial.SerialException("port not open")
            self._port.write(proto.encode(command))
        log.debug("MDB > %s", command)

    def _send(self, command: str) -> bool:
        """``_write`` that logs instead of raising: the reader notices a dead port itself."""
        try:
            self._write(command)
        except OSError as exc:
            log.warning("could not send %s to the MDB bridge: %s", command, exc)
            return False
        return True

    def _close_port(self) -> None:
        with self._write_lock:
            port, self._port = self._port, None
        if port is not None:
            port.close()

    def _link_down(self, reason: str) -> None:
        log.warning("%s", reason)
        with self._cond:
            self._connected = False
            self._fault = reason
            self._feed(session.LinkLost(reason))

    # -- bridge lines, on the reader thread -----------------------------------------------

    def _handle(self, line: BridgeLine) -> None:
        with self._cond:
            if line.kind is Kind.VERSION:
                self._version = line.text
                self._versions_seen += 1
                self._cond.notify_all()
                return
            event = _event_for(line)
            notices = self._feed(event) if event is not None else []
        for notice in notices:
            notice()

    def _ask_version(self) -> tuple[str | None, str]:
        """Send ``V`` and wait for a fresh answer: (version, "") or (None, why not)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._connected, self._reply_timeout_s):
                return None, self._fault
            seen = self._versions_seen
            if self._send(proto.VERSION) and self._cond.wait_for(
                    lambda: self._versions_seen > seen, self._reply_timeout_s):
                return self._version, ""
            return None, f"{NOT_ANSWERING}: no reply to V within {self._reply_timeout_s:g} s"


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


_Notice = TypeVar("_Notice", KeypadSelection, VendResult)

def _notify(listener: Callable[[_Notice], None], notice: _Notice) -> None:
    try:
        listener(notice)
    except Exception:  # a listener bug must not stop the reader thread
        log.exception("the kiosk's listener failed on %s", notice)


def _check_settings(address: int, deny_command: str, setconf: Sequence[str],
                    backoff: Sequence[float], failure_prefixes: Sequence[str],
                    decimals: int, durations: dict[str, float]) -> None:
    if address not in ADDRESSES:
        raise ValueError(f"MDB address must be 0x10 or 0x60, not {address:#x}")
    if not deny_command or "\n" in deny_command:
        raise ValueError(f"deny_command must be one bridge command, not {deny_command!r}")
    for line in setconf:
        if not line.startswith("C,SETCONF,") or "\n" in line:
            raise ValueError(f"setconf lines must be single C,SETCONF,... commands: {line!r}")
        if line.startswith("C,SETCONF,mdb-addr="):
            raise ValueError("set the MDB address with address=, not a setconf line")
    if not backoff or min(backoff) < 0:
        raise ValueError("reconnect_backoff_s needs at least one non-negative delay")
    if not failure_prefixes or not all(failure_prefixes):
        raise ValueError("vend_failure_prefixes needs at least one non-empty prefix")
    if decimals < 0:
        raise ValueError("decimal_places cannot be negative")
    for name, seconds in durations.items():
        if seconds <= 0:
            raise ValueError(f"{name} must be positive, not {seconds}")
