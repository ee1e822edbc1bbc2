"""A simulated Qibixx MDB bridge and vending machine on the far end of a pseudo-terminal.

``SimulatedMdbMachine`` plays the bridge's ASCII protocol (``hardware.mdb_protocol``) and
the machine controller (VMC) behind it (``hardware.sim.mdb_vmc``), so the real ``MdbDriver``
runs unchanged against it: in tests, and in ``kiosk demo --driver mdb-sim``.
``simulated_bridge(url)`` keeps one machine per ``sim://`` URL (``hardware.sim.sim_url``) for
the pyserial handler (``hardware.sim.protocol_sim``): the driver then opens ``sim://...``
through the same code path as a real port.

The bridge answers ``V``, acknowledges ``C,1`` (the VMC then enables the reader), passes the
other commands to the VMC and emits ``r,ACK`` poll noise. Item faults (``"fail"``,
``"no_answer"``) are ``hardware.sim.mdb_faults``; the bridge's own are ``hang()`` and
``unplug()``.

**Stable port path.** ``port`` is a symlink to the pty's slave that survives ``unplug()`` and
``replug()`` (``hardware.sim.pty_port``), so the driver reconnects to the same path.

Example::

    with SimulatedMdbMachine({11: 250, 12: 300}) as machine:
        driver = MdbDriver(port=machine.port)
        driver.vend(VendRequest("A1", 250, mdb_item=11))   # the customer presses 11
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Mapping
from types import TracebackType

from hardware import mdb_protocol as proto
from hardware.sim.mdb_faults import VendFaults
from hardware.sim.mdb_vmc import SimulatedVmc
from hardware.sim.pty_port import PtyPort
from hardware.sim.scheduler import SimScheduler
from hardware.sim.sim_url import parse_sim_url
from hardware.sim.transcript import BRIDGE, HOST, Transcript

log = logging.getLogger(__name__)

DENY_COMMANDS = frozenset({"C,STOP", "C,VEND,-1"})
RECEIVE_WAIT_S = 0.01   # how long the simulation thread waits for the host per turn


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
        vend_faults = VendFaults(faults or {})
        self._version = version
        self._poll_interval_s = poll_interval_s
        self._scheduler = SimScheduler()
        self._vmc = SimulatedVmc(items, vend_faults, emit=self._emit, scheduler=self._scheduler,
                                 decimal_places=decimal_places,
                                 customer_delay_s=customer_delay_s, dispense_s=dispense_s,
                                 enable_delay_s=enable_delay_s)
        self._pty = PtyPort("mdb-sim-", "ttyMDB")
        self.port = self._pty.path
        self._transcript = Transcript()
        self._hung = False
        self._pty.plug()
        self._next_poll = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="mdb-sim", daemon=True)
        self._thread.start()

    # -- for tests and demos ----------------------------------------------------------------

    @property
    def config(self) -> dict[str, str]:
        """``C,SETCONF`` key -> value, as last set."""
        return self._vmc.config

    @property
    def vended(self) -> list[int]:
        """The items dispensed, in order."""
        return self._vmc.vended

    @property
    def transcript(self) -> list[tuple[str, str]]:
        """The last lines both ways, in order: ``("host", "C,1")``, ``("bridge", "c,1")``."""
        return self._transcript.lines()

    def host_lines(self) -> list[str]:
        """The commands the host sent, in order."""
        return [line for side, line in self.transcript if side == HOST]

    def wait_for_host(self, line: str, timeout_s: float = 2.0, count: int = 1) -> bool:
        """Wait until the host has sent ``line`` at least ``count`` times."""
        return self._transcript.wait_for(HOST, line, timeout_s, count)

    def choose(self, *items: int) -> None:
        """Script the next customer presses in funded sessions, one item per session."""
        self._scheduler.call(lambda: self._vmc.choose(items))

    def press(self, item: int) -> None:
        """A customer presses ``item`` on the keypad (keypad first when no session is open)."""
        if not self._vmc.has_item(item):
            raise ValueError(f"the machine has no item {item}")
        self._scheduler.call(lambda: self._vmc.press(item))

    def inject(self, data: str | bytes) -> None:
        """Write raw bytes or a line (a ``\\n`` is added to a str) as if the bridge sent it."""
        raw = (data + proto.LINE_END).encode() if isinstance(data, str) else data
        self._scheduler.call(lambda: self._write_raw(raw))

    def reset(self) -> None:
        """The VMC resets the reader (e.g. mid-vend), then enables it again."""
        self._scheduler.call(self._vmc.reset)

    def hang(self) -> None:
        """The bridge firmware hangs: the port stays open but nothing comes out."""
        self._scheduler.call(lambda: setattr(self, "_hung", True))

    def recover(self) -> None:
        """The hung bridge comes back (as after a watchdog reboot)."""
        self._scheduler.call(lambda: setattr(self, "_hung", False))

    def unplug(self) -> None:
        """Pull the bridge: close the pty and remove the port link."""
        self._scheduler.call(self._unplug)

    def replug(self) -> None:
        """Plug the bridge back in on a new pty behind the same ``port`` path."""
        self._scheduler.call(self._pty.plug)

    def close(self) -> None:
        """Stop the simulation and remove the pty and the temp directory. Safe twice."""
        if not self._scheduler.stopped:
            self._scheduler.stop()
            self._thread.join(timeout=5)
            self._unplug()
            self._pty.remove()

    def __enter__(self) -> SimulatedMdbMachine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the simulation thread: it alone touches the pty and the VMC ---------------------------

    def _run(self) -> None:
        while not self._scheduler.stopped:
            self._receive()
            self._scheduler.run_due()
            self._poll_noise()

    def _receive(self) -> None:
        if not self._pty.plugged:
            self._scheduler.pause(RECEIVE_WAIT_S)
            return
        for line in self._pty.read_lines(RECEIVE_WAIT_S):
            self._transcript.record(HOST, line)
            if not self._hung:
                self._command(line)

    def _poll_noise(self) -> None:
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + self._poll_interval_s
            self._emit("r,ACK")

    def _emit(self, line: str) -> None:
        self._write_raw((line + proto.LINE_END).encode("ascii"))

    def _write_raw(self, raw: bytes) -> None:
        if not self._pty.plugged or self._hung:
            return
        self._transcript.record(BRIDGE, raw.rstrip(b"\n").decode("ascii", "backslashreplace"))
        self._pty.write(raw)

    def _command(self, line: str) -> None:
        """One host command: the bridge answers ``V`` and ``C,1`` itself, the VMC the rest."""
        if line == proto.VERSION:
            self._emit(self._version)
        elif line == proto.DISABLE:
            self._vmc.disable()
        elif line == proto.ENABLE:
            self._emit("c,1")
            self._vmc.enable()
        elif line.startswith("C,SETCONF,"):
            self._vmc.setconf(line.removeprefix("C,SETCONF,"))
        elif line.startswith("C,START,"):
            self._vmc.start(line.removeprefix("C,START,"))
        elif line in DENY_COMMANDS:
            self._vmc.deny()
        elif line.startswith("C,VEND,"):
            self._vmc.approve(line.removeprefix("C,VEND,"))
        else:
            log.info("simulated bridge ignores %r", line)

    def _unplug(self) -> None:
        self._vmc.power_off()
        self._hung = False
        self._pty.unplug()


# -- one machine per sim:// URL ----------------------------------------------------------------

_bridges: dict[str, SimulatedMdbMachine] = {}
_bridges_lock = threading.Lock()


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
