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

The session rules are the pure state machine in ``hardware.mdb_session``; its I/O shell is in
three parts: the reader thread turns bridge lines into session events (``hardware.mdb_link``:
the port, the handshake, the keep-alive and the reconnect), one lock serialises them with the
kiosk's calls and the machine's actions become bridge commands, the vend's result and keypad
notices (``hardware.mdb_session_runner``), and this module is the ``VendDriver`` over both,
with the self-test's probes.

Example::

    driver = MdbDriver(port="/dev/ttyACM0", setconf=["C,SETCONF,mdb-currency-code=0x1978"])
    driver.set_selection_listener(lambda selection: events.put(selection))
    result = driver.vend(VendRequest("A1", price_minor=250, mdb_item=11))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import serial

from hardware import mdb_protocol as proto
from hardware import mdb_session as session
from hardware.base import (
    DriverHealth,
    Probe,
    ResultListener,
    SelectionListener,
    VendDriver,
    VendRequest,
    VendResult,
)
from hardware.mdb_config import ADDRESSES
from hardware.mdb_link import BridgeLink, BridgePort, initial_fault
from hardware.mdb_session_runner import WAIT_SLICE_S, SessionRunner

log = logging.getLogger(__name__)

# ``sim://`` URLs open a simulated bridge (``hardware/sim/protocol_sim.py``), the way OctoPrint
# selects its virtual printer: pyserial imports that handler only when such a URL is opened.
if "hardware.sim" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("hardware.sim")


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
        bridge = BridgePort(port, baudrate=baudrate, write_timeout_s=reply_timeout_s,
                            decimals=decimal_places, failure_prefixes=vend_failure_prefixes,
                            clock=clock)
        self._address = address
        self._enable_timeout_s = enable_timeout_s
        self._clock = clock
        machine = session.SessionMachine(session.Settings(
            patience_s=patience_s, selection_timeout_s=selection_timeout_s,
            dispense_timeout_s=dispense_timeout_s, session_end_wait_s=reply_timeout_s))
        self._session = SessionRunner(machine, session.Disabled(initial_fault(port)),
                                      send=bridge.send, deny_command=deny_command,
                                      decimals=decimal_places, clock=clock)
        self._cond = self._session.cond
        self._link = BridgeLink(bridge, self._session,
                                startup=[proto.set_address(address), *setconf],
                                silence_timeout_s=silence_timeout_s,
                                backoff=reconnect_backoff_s, reply_timeout_s=reply_timeout_s,
                                clock=clock)
        self._link.start()

    # -- VendDriver -----------------------------------------------------------------------

    def health(self) -> DriverHealth:
        """Ready only while the bridge answers and the VMC has enabled the reader."""
        with self._cond:
            return self._health()

    def wait_ready(self, timeout_s: float) -> DriverHealth:
        """Wait up to ``timeout_s`` for the reader to become ready; return the health then."""
        deadline = self._clock() + timeout_s
        with self._cond:
            while not self._health().ready and not self._link.stopping.is_set():
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, WAIT_SLICE_S))
            return self._health()

    @property
    def version(self) -> str:
        """The bridge's last answer to ``V`` (``v,<firmware>,<cpu id>``), "" before one."""
        with self._cond:
            return self._link.version

    def vend_prompt(self, request: VendRequest) -> str:
        with self._cond:
            if request.mdb_item is None or session.selection_waiting(self._session.state,
                                                                     request):
                return ""  # keypad first: the customer already pressed it
        return f"Select {request.mdb_item} on the machine's keypad"

    def set_unclaimed_result_listener(self, listener: ResultListener | None) -> None:
        """``listener`` runs on the reader thread: it must only post an event and return."""
        with self._cond:
            self._session.unclaimed_listener = listener

    def set_selection_listener(self, listener: SelectionListener | None) -> None:
        """``listener`` runs on the reader thread: it must only post an event and return."""
        with self._cond:
            self._session.listener = listener

    def release_selection(self) -> None:
        with self._cond:
            self._session.feed(session.SelectionReleased())

    def vend(self, request: VendRequest) -> VendResult:
        """Approve the VMC's vend of ``request.mdb_item`` at the paid price, then wait for it.

        Keypad first, the pending selection is approved at once; touchscreen first, a
        session is opened with the paid amount and the customer has ``selection_timeout_s``
        to press the item. A VEND REQUEST for anything else is denied. Once approved, the VMC
        has ``dispense_timeout_s`` to report; without a report the result is ``UNKNOWN``.
        """
        result = self._session.vend(request, self._link.stopping)
        log.info("vend of item %s: %s %s", request.mdb_item, result.outcome.value, result.detail)
        return result

    def probes(self, requests: Sequence[VendRequest], move_motors: bool) -> list[Probe]:
        """The bridge answers ``V`` now and the VMC enables the reader.

        ``move_motors`` changes nothing: only a customer's keypad press starts an MDB vend.
        """
        version, failure = self._link.ask_version()
        if version is None:
            return [Probe("mdb_bridge", False, failure)]
        health = self.wait_ready(self._enable_timeout_s)
        if not health.ready:
            return [Probe("mdb_bridge", False, f"{version}; {health.reason}")]
        return [Probe("mdb_bridge", True,
                      f"{version}; reader enabled as cashless {self._address:#04x}")]

    def close(self) -> None:
        """Stop the reader, disable the reader on the bus (``C,0``) and close the port."""
        self._link.stop()

    def _health(self) -> DriverHealth:
        if not self._link.alive() and not self._link.stopping.is_set():
            return DriverHealth(False, "MDB reader stopped")
        if not self._link.connected:
            return DriverHealth(False, self._link.fault)
        state = self._session.state
        if isinstance(state, session.Disabled):
            return DriverHealth(False, state.reason)
        return DriverHealth(True)


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
