"""A simulated Qibixx MDB bridge and vending machine on the far end of a pseudo-terminal.

``SimulatedMdbMachine`` plays the bridge's ASCII protocol (``hardware.mdb_protocol``) and
the machine controller (VMC) behind it, so the real ``MdbDriver`` runs unchanged against it:
in tests, and in ``kiosk demo --driver mdb-sim``. ``simulated_bridge(url)`` keeps one machine per
``sim://`` URL for the pyserial handler (``hardware.sim.protocol_sim``): the driver then opens
``sim://...`` through the same code path as a real port.

The machine answers ``V``, accepts ``C,SETCONF`` while disabled, enables on ``C,1``
(``c,STATUS,INACTIVE`` -> ``DISABLED`` -> ``ENABLED``) and emits ``r,ACK`` poll noise. After
``C,START,<amount>`` a simulated customer presses an item: the next one given to
``choose()``, else an item whose price equals the session funds (another one of that price
after a deny). ``press()`` is a keypad-first selection. An approved vend
(``C,VEND,<amount>``) dispenses after ``dispense_s`` and reports ``c,VEND,SUCCESS``, unless
``faults`` says otherwise for the item: ``"fail"`` reports ``c,ERR,VEND 3``,
``"no_answer"`` never reports. A deny (``C,STOP`` or ``C,VEND,-1``) ends a session that is
waiting for a press or an approval; a vend under way cannot be stopped.

**Stable port path.** ``port`` is a symlink in a private temp directory pointing at the
pty's slave (``/dev/pts/N``). ``unplug()`` closes the pty (the driver's reads fail with EIO,
as when a USB bridge is pulled) and removes the link; ``replug()`` opens a new pty, whose
``/dev/pts/N`` differs, and re-points the link, so the driver reconnects to the same path.

Example::

    with SimulatedMdbMachine({11: 250, 12: 300}) as machine:
        driver = MdbDriver(port=machine.port)
        driver.vend(VendRequest("A1", 250, mdb_item=11))   # the customer presses 11
"""

from __future__ import annotations

import atexit
import collections
import heapq
import itertools
import logging
import os
import queue
import select
import shutil
import tempfile
import threading
from functools import partial
import time
import tty
from collections.abc import Callable, Mapping
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

from hardware import mdb_protocol as proto

log = logging.getLogger(__name__)

FAULTS = ("fail", "no_answer")
FAILURE_LINE = "c,ERR,VEND 3"   # the vendor example's "could not dispense"
DENY_COMMANDS = frozenset({"C,STOP", "C,VEND,-1"})
TRANSCRIPT_LINES = 10_000   # poll noise never stops: keep the recent lines only
HOST = "host"
BRIDGE = "bridge"

# VMC states, as the reader sees them.
OFF = "off"                # not enabled by the host (C,0, power-up, unplugged)
ENABLED = "enabled"        # waiting for a session or a keypad press
SESSION = "session"        # funds given (C,START), waiting for the customer
VEND = "vend"              # VEND REQUEST sent, waiting for approval
DISPENSING = "dispensing"  # approved, motor turning


class SimulatedMdbMachine:
    """A bridge + vending machine speaking the Qibixx protocol on a pty.

    :param items: the machine's item numbers and their prices in minor units.
    :param faults: per item, ``"fail"`` (VEND FAILURE) or ``"no_answer"`` (never reports).
    :param decimal_places: the currency's decimals, for amounts on the wire.
    :param version: the bridge's answer to ``V``.
    :param poll_interval_s: how often ``r,ACK`` poll noise is written.
    :param customer_delay_s: how long the simulated customer takes to press after C,START.
    :param dispense_s: how long a vend takes before VEND SUCCESS.
    :param enable_delay_s: the VMC's pause between each step of enabling the reader.
    """

    def __init__(
        self,
        items: Mapping[int, int],
        *,
        faults: Mapping[int, str] | None = None,
        decimal_places: int = 2,
        version: str = "v,3.1.0.0,SIMMDB0001",
        poll_interval_s: float = 0.2,
        customer_delay_s: float = 0.05,
        dispense_s: float = 0.1,
        enable_delay_s: float = 0.02,
    ) -> None:
        self._faults = dict(faults or {})
        unknown = set(self._faults.values()) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown MDB simulator fault(s): {', '.join(sorted(unknown))}")
        self._items = dict(items)
        self._decimals = decimal_places
        self._version = version
        self._poll_interval_s = poll_interval_s
        self._customer_delay_s = customer_delay_s
        self._dispense_s = dispense_s
        self._enable_delay_s = enable_delay_s

        self._dir = tempfile.mkdtemp(prefix="mdb-sim-")
        self.port = os.path.join(self._dir, "ttyMDB")
        self.config: dict[str, str] = {}        # C,SETCONF key -> value, as last set
        self.vended: list[int] = []             # items dispensed
        self._transcript: collections.deque[tuple[str, str]] = collections.deque(
            maxlen=TRANSCRIPT_LINES)
        self._seen = threading.Condition()      # guards the transcript; notified per line
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._script: collections.deque[int] = collections.deque()
        self._refused: set[int] = set()          # items denied to the current customer
        self._master: int | None = None
        self._slave: int | None = None
        self._inbox = bytearray()
        self._hung = False
        self._state = OFF
        self._request: tuple[int, int] | None = None  # (item, price) asked of the reader
        self._epoch = 0                          # bumped on reset/unplug: stale timers skip
        self._stop = threading.Event()
        self._plug()
        self._next_poll = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="mdb-sim", daemon=True)
        self._thread.start()

    # -- for tests and demos ----------------------------------------------------------------

    @property
    def transcript(self) -> list[tuple[str, str]]:
        """The last lines both ways, in order: ``("host", "C,1")``, ``("bridge", "c,1")``."""
        with self._seen:
            return list(self._transcript)

    def host_lines(self) -> list[str]:
        """The commands the host sent, in order."""
        return [line for side, line in self.transcript if side == HOST]

    def wait_for_host(self, line: str, timeout_s: float = 2.0, count: int = 1) -> bool:
        """Wait until the host has sent ``line`` at least ``count`` times."""
        with self._seen:
            return self._seen.wait_for(
                lambda: sum(1 for side, text in self._transcript
                            if side == HOST and text == line) >= count, timeout_s)

    def choose(self, *items: int) -> None:
        """Script the next customer presses in funded sessions, one item per session."""
        self._call(lambda: self._script.extend(items))

    def press(self, item: int) -> None:
        """A customer presses ``item`` on the keypad (keypad first when no session is open)."""
        if item not in self._items:
            raise ValueError(f"the machine has no item {item}")
        self._call(lambda: self._customer_presses(item))

    def inject(self, data: str | bytes) -> None:
        """Write raw bytes or a line (a ``\\n`` is added to a str) as if the bridge sent it."""
        raw = (data + proto.LINE_END).encode() if isinstance(data, str) else data
        self._call(lambda: self._write_raw(raw))

    def reset(self) -> None:
        """The VMC resets the reader (e.g. mid-vend), then enables it again."""
        self._call(self._reset)

    def hang(self) -> None:
        """The bridge firmware hangs: the port stays open but nothing comes out."""
        self._call(lambda: setattr(self, "_hung", True))

    def recover(self) -> None:
        """The hung bridge comes back (as after a watchdog reboot)."""
        self._call(lambda: setattr(self, "_hung", False))

    def unplug(self) -> None:
        """Pull the bridge: close the pty and remove the port link."""
        self._call(self._unplug)

    def replug(self) -> None:
        """Plug the bridge back in on a new pty behind the same ``port`` path."""
        self._call(self._plug)

    def close(self) -> None:
        """Stop the simulation and remove the pty and the temp directory. Safe twice."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=5)
            self._unplug()
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> SimulatedMdbMachine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the simulation thread ----------------------------------------------------------------

    def _call(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the simulation thread, which owns all machine state; wait for it."""
        if self._stop.is_set():
            raise RuntimeError("the simulated MDB machine is closed")
        done = threading.Event()

        def run() -> None:
            try:
                action()
            finally:
                done.set()
        self._calls.put(run)
        done.wait(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._receive()
            while not self._calls.empty():
                self._calls.get()()
            self._run_timers()
            self._poll_noise()

    def _receive(self) -> None:
        master = self._master
        if master is None:
            self._stop.wait(0.01)
            return
        ready, _, _ = select.select([master], [], [], 0.01)
        if not ready:
            return
        self._inbox += os.read(master, 1024)  # never EIO: we hold a slave fd open
        while (end := self._inbox.find(b"\n")) >= 0:
            line = self._inbox[:end].decode("ascii", "replace").rstrip("\r")
            del self._inbox[:end + 1]
            self._record(HOST, line)
            if not self._hung:
                self._command(line)

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            heapq.heappop(self._timers)[2]()

    def _later(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` after ``delay_s``, unless a reset or unplug comes first."""
        epoch = self._epoch

        def guarded() -> None:
            if epoch == self._epoch:
                action()
        heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._order), guarded))

    def _poll_noise(self) -> None:
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + self._poll_interval_s
            self._emit("r,ACK")

    def _record(self, side: str, line: str) -> None:
        with self._seen:
            self._transcript.append((side, line))
            self._seen.notify_all()

    def _emit(self, line: str) -> None:
        self._write_raw((line + proto.LINE_END).encode("ascii"))

    def _write_raw(self, raw: bytes) -> None:
        if self._master is None or self._hung:
            return
        self._record(BRIDGE, raw.rstrip(b"\n").decode("ascii", "backslashreplace"))
        try:
            os.write(self._master, raw)
        except BlockingIOError:
            log.debug("pty full (nobody reading): dropped %r", raw)

    # -- the bridge and the VMC ----------------------------------------------------------------

    def _command(self, line: str) -> None:
        if line == proto.VERSION:
            self._emit(self._version)
        elif line == proto.DISABLE:
            self._disable()
        elif line == proto.ENABLE:
            self._enable()
        elif line.startswith("C,SETCONF,"):
            self._setconf(line.removeprefix("C,SETCONF,"))
        elif line.startswith("C,START,"):
            self._start(line.removeprefix("C,START,"))
        elif line in DENY_COMMANDS:
            self._deny()
        elif line.startswith("C,VEND,"):
            self._approve(line.removeprefix("C,VEND,"))
        else:
            log.info("simulated bridge ignores %r", line)

    def _disable(self) -> None:
        self._epoch += 1
        self._state, self._request = OFF, None
        self._emit("c,STATUS,OFFLINE")

    def _enable(self) -> None:
        self._emit("c,1")
        self._vmc_enables()

    def _vmc_enables(self) -> None:
        """The VMC resets, configures and enables the reader, one step at a time."""
        for n, status in enumerate(("INACTIVE", "DISABLED", "ENABLED"), start=1):
            self._later(n * self._enable_delay_s, partial(self._vmc_status, status))

    def _vmc_status(self, status: str) -> None:
        self._state = ENABLED if status == "ENABLED" else OFF
        self._emit(f"c,STATUS,{status}")

    def _setconf(self, setting: str) -> None:
        key, sep, value = setting.partition("=")
        if self._state != OFF or not sep:
            self._emit('c,ERR,"SETCONF -1"')
            return
        self.config[key] = value
        self._emit(proto.SET_OK)

    def _start(self, amount: str) -> None:
        try:
            funds = proto.parse_amount(amount, self._decimals)
        except ValueError:
            funds = -1
        if self._state != ENABLED or funds < 0:
            self._emit('c,ERR,"START -1"')
            return
        self._state = SESSION
        self._emit(f"c,STATUS,IDLE,{amount}")
        item = self._script.popleft() if self._script else self._item_costing(funds)
        if item is not None:
            self._later(self._customer_delay_s, lambda: self._customer_presses(item))

    def _item_costing(self, funds: int) -> int | None:
        """The customer's pick: an item costing the funds, trying another after a deny."""
        candidates = [item for item, price in self._items.items() if price == funds]
        untried = [item for item in candidates if item not in self._refused]
        if not untried:
            self._refused.clear()
        choices = untried or candidates
        return choices[0] if choices else None

    def _customer_presses(self, item: int) -> None:
        if self._state not in (ENABLED, SESSION):
            log.info("simulated machine busy (%s): press of %s ignored", self._state, item)
            return
        price = self._items[item]
        self._state, self._request = VEND, (item, price)
        self._emit(f"c,STATUS,VEND,{proto.format_amount(price, self._decimals)},{item}")

    def _approve(self, amount: str) -> None:
        if self._state != VEND or self._request is None:
            self._emit('c,ERR,"VEND -1"')
            return
        self._state = DISPENSING
        self._refused.clear()
        self._emit("r,ACK")
        item = self._request[0]
        self._later(self._dispense_s, lambda: self._dispensed(item))

    def _dispensed(self, item: int) -> None:
        fault = self._faults.get(item)
        if fault == "no_answer":
            return
        if fault == "fail":
            self._emit(FAILURE_LINE)
        else:
            self.vended.append(item)
            self._emit(proto.VEND_SUCCESS)
        self._end_session()

    def _deny(self) -> None:
        if self._state in (SESSION, VEND):  # a vend under way cannot be stopped
            if self._request is not None:
                self._refused.add(self._request[0])
            self._epoch += 1  # a denied session's customer and motor do nothing more
            self._state, self._request = ENABLED, None
            self._emit("c,STATUS,ENABLED")

    def _end_session(self) -> None:
        self._state, self._request = ENABLED, None
        self._emit("c,STATUS,IDLE")
        self._emit("c,STATUS,ENABLED")

    def _reset(self) -> None:
        self._epoch += 1
        was_enabled = self._state != OFF
        self._state, self._request = OFF, None
        self._emit(f"c,STATUS,{proto.RESET_STATUS}")
        if was_enabled:
            self._vmc_enables()

    # -- the pty ------------------------------------------------------------------------------

    def _plug(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)         # no echo or line editing before the driver opens it
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        link = self.port + ".new"
        os.symlink(os.ttyname(slave), link)
        os.replace(link, self.port)  # atomic: the driver never sees a half-made link
        self._inbox.clear()

    def _unplug(self) -> None:
        self._epoch += 1
        self._state, self._request, self._hung = OFF, None, False
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if os.path.lexists(self.port):
            os.unlink(self.port)


# -- sim:// URLs -----------------------------------------------------------------------------

SCHEME = "sim"
_NUMBERS = {"decimal_places": int, "poll_interval_s": float, "customer_delay_s": float,
            "dispense_s": float, "enable_delay_s": float}
_bridges: dict[str, SimulatedMdbMachine] = {}
_bridges_lock = threading.Lock()


def parse_sim_url(url: str) -> dict[str, object]:
    """The ``SimulatedMdbMachine`` arguments a ``sim://[name][?options]`` URL asks for.

    Options: ``items=11:250,12:300`` (item number : price in minor units; without it the
    machine sells nothing), ``faults=12:fail,13:no_answer``, ``decimal_places``,
    ``poll_interval_s``, ``customer_delay_s``, ``dispense_s``, ``enable_delay_s``. The optional
    ``name`` only tells machines apart: the same URL always opens the same machine.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != SCHEME:
        raise ValueError(f"not a {SCHEME}:// URL: {url!r}")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"{SCHEME}:// takes a name and ?options only: {url!r}")
    args: dict[str, object] = {"items": {}}
    try:
        for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
            if key in ("items", "faults"):
                table = dict(_pair(entry) for entry in value.split(",") if entry.strip())
                args[key] = ({item: int(price) for item, price in table.items()}
                             if key == "items" else table)
            elif key in _NUMBERS:
                args[key] = _NUMBERS[key](value)
            else:
                raise ValueError(f"unknown {SCHEME}:// option {key!r}")
    except ValueError as exc:
        raise ValueError(f"bad {SCHEME}:// URL {url!r}: {exc}") from None
    faults = args.get("faults", {})
    assert isinstance(faults, dict)
    unknown = set(faults.values()) - set(FAULTS)
    if unknown:
        raise ValueError(f"bad {SCHEME}:// URL {url!r}: unknown fault(s) "
                         f"{', '.join(sorted(unknown))} (known: {', '.join(FAULTS)})")
    return args


def _pair(entry: str) -> tuple[int, str]:
    item, sep, value = entry.partition(":")
    if not sep:
        raise ValueError(f"expected item:value, found {entry!r}")
    return int(item), value.strip()


def simulated_bridge(url: str) -> SimulatedMdbMachine:
    """The simulated machine behind ``url``, started on first use and kept until closed."""
    with _bridges_lock:
        machine = _bridges.get(url)
        if machine is None:
            machine = SimulatedMdbMachine(**parse_sim_url(url))  # type: ignore[arg-type]
            _bridges[url] = machine
        return machine


def close_simulated_bridge(url: str) -> None:
    """Stop the machine behind ``url`` (if any); the next open of ``url`` starts a new one."""
    with _bridges_lock:
        machine = _bridges.pop(url, None)
    if machine is not None:
        machine.close()


@atexit.register
def _close_all_bridges() -> None:
    with _bridges_lock:
        machines = list(_bridges.values())
        _bridges.clear()
    for machine in machines:
        machine.close()
