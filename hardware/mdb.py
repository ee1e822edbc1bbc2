"""Sell through the vending machine's own controller as an MDB cashless device.

The Pi joins the machine's MDB bus as a cashless reader (a card reader's place) through a
Qibixx bridge, and the machine's controller (VMC) dispenses and reports the result:

* **MDB Pi HAT** on the Pi's UART (GPIO14/15, enable the UART and disable the serial
  console): ``port="/dev/ttyAMA0"`` (``/dev/serial0`` on older Pis);
* **MDB-USB interface**: ``port="/dev/ttyACM0"`` or, stabler, the
  ``/dev/serial/by-id/usb-Qibixx_...`` link.

Either way the machine's MDB cable goes to the bridge's *Peripheral* port, never to the Pi:
MDB carries 24-42 V. ``port`` is any pyserial URL, so tests and demos pass a pty path
(``hardware.mdb_sim``) or ``loop://``.

Two ways to sell, both ending in the VMC's VEND SUCCESS or FAILURE:

* **touchscreen first**: the kiosk takes the payment, then ``vend`` opens a session with
  exactly the paid amount (``C,START``), the customer presses the item on the machine's
  keypad (``vend_prompt`` says which), and the driver approves it only if item and price
  match what was paid;
* **keypad first** (MDB "Always Idle"): the customer presses an item while no sale is
  running; the driver tells the kiosk (``set_selection_listener``), which takes the payment
  and calls ``vend`` for that item (approve) or ``release_selection`` (deny). The VMC waits
  at most ``patience_s``; after that the driver denies it itself.

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
from dataclasses import dataclass

import serial

from hardware import mdb_protocol as proto
from hardware.base import (
    DriverHealth,
    KeypadSelection,
    Probe,
    SelectionListener,
    VendDriver,
    VendOutcome,
    VendRequest,
    VendResult,
)
from hardware.errors import HardwareError
from hardware.mdb_protocol import BridgeLine, Kind

log = logging.getLogger(__name__)

ADDRESSES = (0x10, 0x60)   # MDB cashless device #1 and #2
READ_TICK_S = 0.05         # how often the reader looks at its timers between lines
WAIT_SLICE_S = 0.05        # vend() re-checks the injected clock at least this often
NOT_ANSWERING = "MDB bridge not answering"


@dataclass
class _Pending:
    """A keypad-first VEND REQUEST the VMC is waiting on."""

    selection: KeypadSelection
    price_text: str
    since: float


@dataclass
class _Sale:
    """The one ``vend`` call in progress."""

    request: VendRequest
    approved: bool = False
    session_seen: bool = False    # the VMC showed the session this sale opened
    result: VendResult | None = None


class MdbDriver(VendDriver):
    """An MDB cashless device on a Qibixx bridge: approves the VMC's vends that were paid for.

    A reader thread owns the port: it runs the start-up sequence (``V``, ``C,0``, the
    address and ``setconf`` lines, ``C,1``), follows the bridge's status lines, answers
    VEND REQUESTs and reconnects with back-off after a serial error or ``silence_timeout_s``
    without a line (it sends ``V`` when the line has been quiet for a third of that).

    :param port: pyserial URL of the bridge (``/dev/ttyACM0``, ``/dev/ttyAMA0``, a pty path).
    :param address: MDB address the bridge answers as: 0x10 (cashless #1) or 0x60 (#2).
    :param patience_s: how long a keypad-first selection may wait for payment.
    :param deny_command: the bridge command that denies a VEND REQUEST (firmware-specific).
    :param setconf: extra ``C,SETCONF,...`` lines, sent after every (re)connect.
    :param vend_timeout_s: how long ``vend`` waits for the keypad press and the VMC's result.
    :param silence_timeout_s: a bridge quiet this long is unplugged or hung.
    :param reconnect_backoff_s: waits between reconnect attempts; the last one repeats.
    :param vend_failure_prefixes: lines that report a failed vend (firmware-specific).
    :param decimal_places: the machine currency's decimals, for the bridge's amounts.
    :param reply_timeout_s: how long the bridge may take to answer one command.
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
        vend_timeout_s: float = 60.0,
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
                        {"patience_s": patience_s, "vend_timeout_s": vend_timeout_s,
                         "silence_timeout_s": silence_timeout_s,
                         "reply_timeout_s": reply_timeout_s,
                         "enable_timeout_s": enable_timeout_s})
        serial.serial_for_url(port, do_not_open=True)  # an unknown URL scheme fails here
        self._url = port
        self._baudrate = baudrate
        self._address = address
        self._patience_s = patience_s
        self._deny_command = deny_command
        self._startup = [proto.set_address(address), *setconf]
        self._vend_timeout_s = vend_timeout_s
        self._silence_timeout_s = silence_timeout_s
        self._backoff = tuple(reconnect_backoff_s)
        self._failure_prefixes = tuple(vend_failure_prefixes)
        self._decimals = decimal_places
        self._reply_timeout_s = reply_timeout_s
        self._enable_timeout_s = enable_timeout_s
        self._clock = clock

        self._cond = threading.Condition()       # guards everything below
        self._write_lock = threading.Lock()      # one command on the wire at a time
        self._vend_lock = threading.Lock()       # one vend at a time
        self._stop = threading.Event()
        self._port: serial.SerialBase | None = None
        self._lines = proto.LineSplitter()
        self._connected = False
        self._fault = f"{NOT_ANSWERING}: connecting to {port}"
        self._status = ""
        self._enabled = False
        self._version = ""
        self._versions_seen = 0
        self._last_heard = 0.0
        self._last_probe = 0.0
        self._session_open = False
        self._session_approved = False           # one approval per MDB session, ever
        self._sale: _Sale | None = None
        self._pending: _Pending | None = None
        self._gone: tuple[KeypadSelection, str] | None = None
        self._listener: SelectionListener | None = None
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
            if request.mdb_item is None or self._matches_pending(request):
                return ""  # keypad first: the customer already pressed it
        return f"Select {request.mdb_item} on the machine's keypad"

    def set_selection_listener(self, listener: SelectionListener | None) -> None:
        """``listener`` runs on the reader thread: it must only post an event and return."""
        with self._cond:
            self._listener = listener

    def release_selection(self) -> None:
        with self._cond:
            if self._pending is not None:
                log.info("keypad selection of item %s released: denying",
                         self._pending.selection.item)
                self._deny()
            self._pending = None
            self._gone = None

    def vend(self, request: VendRequest) -> VendResult:
        """Approve the VMC's vend of ``request.mdb_item`` at the paid price, then wait for it.

        Keypad first, the pending selection is approved at once; touchscreen first, a
        session is opened with the paid amount and the customer has ``vend_timeout_s`` to
        press the item. A VEND REQUEST for anything else is denied.
        """
        with self._vend_lock:
            start = self._clock()
            with self._cond:
                early = self._begin(request)
                if early is not None:
                    return early
                return self._wait_result(start + self._vend_timeout_s)

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

    # -- vend, under self._cond -----------------------------------------------------------

    def _begin(self, request: VendRequest) -> VendResult | None:
        """Start the sale: approve a pending keypad selection or open a session."""
        gone, self._gone = self._gone, None
        if gone is not None and _same(gone[0], request):
            return VendResult(VendOutcome.DENIED, f"not approved: {gone[1]}")
        if self._matches_pending(request):
            assert self._pending is not None
            return self._approve_pending(request, self._pending)
        if request.mdb_item is None:  # matched by price: only a keypad pick can be approved
            return VendResult(VendOutcome.DENIED, f"slot {request.slot_id} has no mdb_item")
        if self._pending is not None:
            log.info("denying keypad item %s: the kiosk is selling item %s",
                     self._pending.selection.item, request.mdb_item)
            self._deny()
            self._pending = None
        return self._open_session(request)

    def _approve_pending(self, request: VendRequest, pending: _Pending) -> VendResult | None:
        self._pending = None
        self._sale = _Sale(request)
        if not self._approve(self._sale, pending.price_text):
            self._sale = None
            return VendResult(VendOutcome.UNKNOWN, "the approval could not be written")
        return None

    def _open_session(self, request: VendRequest) -> VendResult | None:
        """Touchscreen first: wait out the previous session, then C,START the paid amount."""
        deadline = self._clock() + self._reply_timeout_s
        while self._session_open and self._connected and self._clock() < deadline:
            self._cond.wait(WAIT_SLICE_S)
        health = self._health()
        if not health.ready:
            return VendResult(VendOutcome.DENIED, health.reason)
        if self._session_open:
            return VendResult(VendOutcome.DENIED, "the machine is still in another session")
        self._sale = _Sale(request)
        if not self._start_session():
            self._sale = None
            return VendResult(VendOutcome.DENIED, "C,START could not be written")
        return None

    def _start_session(self) -> bool:
        assert self._sale is not None
        self._session_open = True
        return self._send(proto.start_session(self._sale.request.price_minor, self._decimals))

    def _wait_result(self, deadline: float) -> VendResult:
        sale = self._sale
        assert sale is not None
        while sale.result is None:
            remaining = deadline - self._clock()
            if self._stop.is_set():
                self._finish(VendOutcome.UNKNOWN if sale.approved else VendOutcome.DENIED,
                             "the driver was closed mid-vend")
            elif remaining <= 0:
                self._time_out(sale)
            else:
                self._cond.wait(min(remaining, WAIT_SLICE_S))
        self._sale = None
        log.info("vend of item %s: %s %s", sale.request.mdb_item, sale.result.outcome.value,
                 sale.result.detail)
        return sale.result

    def _time_out(self, sale: _Sale) -> None:
        item = sale.request.mdb_item
        if sale.approved:
            detail = f"no VEND SUCCESS or FAILURE for item {item} within {self._vend_timeout_s:g} s"
        else:
            detail = f"nobody selected item {item} on the keypad within {self._vend_timeout_s:g} s"
        self._finish(VendOutcome.TIMEOUT, detail)
        if self._session_open:
            self._deny()  # end the session: the machine must not keep the credit

    def _finish(self, outcome: VendOutcome, detail: str = "") -> None:
        if self._sale is not None and self._sale.result is None:
            self._sale.result = VendResult(outcome, detail)
            self._cond.notify_all()

    def _approve(self, sale: _Sale, price_text: str) -> bool:
        sale.approved = True
        self._session_approved = True
        self._session_open = True
        return self._send(proto.approve(price_text))

    def _deny(self) -> None:
        self._send(self._deny_command)

    def _matches_pending(self, request: VendRequest) -> bool:
        return self._pending is not None and _same(self._pending.selection, request)

    def _health(self) -> DriverHealth:
        if not self._connected:
            return DriverHealth(False, self._fault)
        if not self._enabled:
            status = self._status or "no status yet"
            return DriverHealth(False, f"the machine has not enabled the MDB reader ({status})")
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
            finally:
                self._close_port()
            if not self._stop.is_set():
                self._stop.wait(self._backoff[min(failures, len(self._backoff) - 1)])
                failures += 1
        with self._cond:
            self._connected = False
            self._fault = "the MDB driver is closed"
            self._cond.notify_all()

    def _open(self) -> None:
        port = serial.serial_for_url(self._url, baudrate=self._baudrate, timeout=READ_TICK_S,
                                     write_timeout=self._reply_timeout_s)
        port.reset_input_buffer()  # lines queued while we were away are stale
        with self._write_lock:
            self._port = port
        self._lines.clear()
        self._last_heard = self._last_probe = self._clock()
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
            self._tick()

    def _tick(self) -> None:
        now = self._clock()
        quiet = now - self._last_heard
        if quiet > self._silence_timeout_s:
            raise HardwareError(f"{NOT_ANSWERING}: no line for {quiet:.1f} s")
        keepalive = self._silence_timeout_s / 3
        if quiet > keepalive and now - self._last_probe > keepalive:
            self._last_probe = now
            self._write(proto.VERSION)  # the bridge answers V even when the VMC is quiet
        with self._cond:
            pending = self._pending
            if pending is not None and now - pending.since >= self._patience_s:
                log.info("keypad selection of item %s expired: denying", pending.selection.item)
                self._deny()
                self._pending = None
                self._gone = (pending.selection,
                              f"the machine's patience ({self._patience_s:g} s) ran out")

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
        """The bridge is gone: no session survives; an approved vend counts as done (MDB)."""
        log.warning("%s", reason)
        with self._cond:
            self._connected = self._enabled = False
            self._status = ""
            self._fault = reason
            self._forget_session("the MDB bridge was lost")
            self._end_sale(VendResult(VendOutcome.VENDED, "the MDB bridge was lost between "
                                      f"approval and VEND SUCCESS ({reason}); MDB counts a "
                                      "reset there as a vend"),
                           reason)

    # -- bridge lines, on the reader thread -----------------------------------------------

    def _handle(self, line: BridgeLine) -> None:
        notify: Callable[[], None] | None = None
        with self._cond:
            if line.kind is Kind.VERSION:
                self._version = line.text
                self._versions_seen += 1
            elif line.kind is Kind.STATUS:
                self._on_status(line)
            elif line.kind is Kind.VEND_REQUEST:
                notify = self._on_vend_request(line)
            elif line.kind is Kind.VEND_SUCCESS:
                self._on_vend_success()
            elif line.kind in (Kind.FAILURE, Kind.ERROR):
                self._on_error(line)
            elif line.kind in (Kind.GARBAGE, Kind.UNKNOWN):
                log.warning("skipped %s line from the MDB bridge: %s", line.kind.value, line.text)
            else:
                log.debug("MDB < %s", line.text)
            self._cond.notify_all()
        if notify is not None:
            notify()

    def _on_status(self, line: BridgeLine) -> None:
        log.info("MDB reader status %s", line.text)
        self._status = line.status
        if line.status == proto.IDLE:
            self._enabled = self._session_open = True
            if self._sale is not None:
                self._sale.session_seen = True
        elif line.status == proto.ENABLED:
            self._on_enabled()
        elif line.status == proto.RESET_STATUS:
            self._enabled = False
            self._forget_session("the machine reset the reader")
            self._end_sale(VendResult(VendOutcome.VENDED, "the machine reset the reader "
                                      "between approval and VEND SUCCESS; MDB counts that "
                                      "as a vend"),
                           "the machine reset the reader")
        else:
            self._enabled = False
            self._forget_session(f"the reader went {line.status}")
            self._end_sale(VendResult(VendOutcome.UNKNOWN, f"the reader went {line.status} "
                                      "after approval, without VEND SUCCESS or FAILURE"),
                           f"the reader went {line.status}")

    def _on_enabled(self) -> None:
        """Back to Enabled: the session is over."""
        self._enabled = True
        self._forget_session("the machine cancelled the selection")
        sale = self._sale
        if sale is None or sale.result is not None:
            return
        if sale.approved:
            self._finish(VendOutcome.UNKNOWN, "the session ended without VEND SUCCESS or FAILURE")
        elif sale.session_seen:
            # A deny (or the VMC's own time-out) ended the session before the paid item was
            # chosen: open it again so the customer can still press the right one.
            log.info("the session ended before item %s was chosen: opening it again",
                     sale.request.mdb_item)
            sale.session_seen = False
            self._start_session()

    def _forget_session(self, why: str) -> None:
        """Session over: forget its approval and any keypad selection still waiting."""
        self._session_open = self._session_approved = False
        if self._pending is not None:
            self._gone = (self._pending.selection, why)
            self._pending = None

    def _end_sale(self, if_approved: VendResult, why_not: str) -> None:
        """The session died under the sale: ``if_approved`` if the vend was approved."""
        sale = self._sale
        if sale is not None and sale.result is None:
            sale.result = if_approved if sale.approved else VendResult(VendOutcome.DENIED,
                                                                       why_not)
            self._cond.notify_all()

    def _on_vend_request(self, line: BridgeLine) -> Callable[[], None] | None:
        assert line.item is not None and line.price_minor is not None
        self._session_open = True
        selection = KeypadSelection(line.item, line.price_minor)
        sale = self._sale
        if sale is not None and sale.result is None:
            sale.session_seen = True
            self._on_sale_request(sale, selection, line.price_text)
            return None
        if self._session_approved:
            # A multi-vend VMC asks for a second item in the session paid for one.
            log.warning("denied item %s: this session already had its one approval", line.item)
            self._deny()
            return None
        if self._pending is not None and self._pending.selection == selection:
            return None  # the same request again: already with the kiosk
        listener = self._listener
        if listener is None:
            log.info("denied keypad item %s: nobody is listening for selections", line.item)
            self._deny()
            return None
        self._pending = _Pending(selection, line.price_text, self._clock())
        self._gone = None
        return lambda: _notify(listener, selection)

    def _on_sale_request(self, sale: _Sale, selection: KeypadSelection, price_text: str) -> None:
        if sale.approved:
            # MDB's Vend state is uninterruptible: no real VEND REQUEST can come now, and a
            # deny could come back as an error that reads like a failed vend. Ignore it.
            log.warning("ignored %s during the vend of item %s", selection, sale.request.mdb_item)
            return
        if self._session_approved or not _same(selection, sale.request):
            log.info("denied item %s at %s: the customer paid %s for item %s", selection.item,
                     selection.price_minor, sale.request.price_minor, sale.request.mdb_item)
            self._deny()
            return
        if not self._approve(sale, price_text):
            self._finish(VendOutcome.UNKNOWN, "the approval could not be written")

    def _on_vend_success(self) -> None:
        sale = self._sale
        if sale is not None and sale.approved:
            self._finish(VendOutcome.VENDED)
        else:
            log.info("VEND SUCCESS for a vend this driver did not approve")

    def _on_error(self, line: BridgeLine) -> None:
        log.warning("MDB bridge error: %s", line.text)
        sale = self._sale
        if sale is None or sale.result is not None:
            return
        if sale.approved and line.kind is Kind.FAILURE:
            self._finish(VendOutcome.NO_DROP, f"the machine reported a failed vend: {line.text}")
        elif not sale.approved:
            self._finish(VendOutcome.DENIED, f"the bridge refused the sale: {line.text}")
            self._deny()

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


def _same(selection: KeypadSelection, request: VendRequest) -> bool:
    # A slot without an item number was matched to the keypad by its price alone.
    return (request.mdb_item in (None, selection.item)
            and selection.price_minor == request.price_minor)


def _notify(listener: SelectionListener, selection: KeypadSelection) -> None:
    try:
        listener(selection)
    except Exception:  # a listener bug must not stop the reader thread
        log.exception("the keypad selection listener failed")


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
