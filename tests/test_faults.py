"""Fault injection (issue #10's proof): the real kiosk, a ``kiosk run --headless`` subprocess on
the simulated machine (or the real GPIO driver on mock pins, or the real MDB driver on the
simulated bridge's pseudo-terminal) against the gateway sandbox on loopback, with faults
injected from outside production code.

How: ``tests/faults/sitecustomize.py`` is put first on the subprocess's ``PYTHONPATH``. It
patches only that process, and only while a trigger file the test creates exists (a worker's
turn or a sale/misc worker's task raising ``KeyError``, the MDB reader thread raising, the
machine unplugged, no GPIO header, the wall clock stepped; and the next customer held back). It
also appends each screen the kiosk draws, with its out-of-service reason and the sale on it, to
``screens.jsonl``, and every text on it to ``texts.jsonl``: what the customer (or the
technician) reads. ``--autopilot N`` plays the customers through the real UI; the test pays
their QR codes at the sandbox like a phone. A full disk is real: a 2 MB tmpfs (as root) filled
to the last byte under the data directory.

Every scenario is a script (start, inject, observe, clear, observe) run on a thread; all the
scenarios the selected tests need start at once, so the module takes about as long as its
slowest scenario. Tests then assert on what each one saw: the screens, the screenshots' names,
the journal (``kiosk journal --json``), stdout, stderr and the exit status.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from hardware.sim.mdb_bridge import SimulatedMdbMachine
from kiosk.sim import Sandbox

KIOSK = [sys.executable, "-m", "kiosk"]
FAULT_HOOKS = Path(__file__).resolve().parent / "faults"   # sitecustomize.py
AS_ROOT = os.geteuid() == 0
DAY_S = 86_400
# Pings every 2 s: a step of a day that stalled them would show; a loaded CI machine's
# second of scheduling delay would not.
WATCHDOG_USEC = 4_000_000
HOLD_S = 1.0              # how long a fault is kept on after the screen shows it
STARTUP_S = 60.0          # to the first frame, with every scenario starting at once
SQLITE_MAGIC = b"SQLite format 3\x00"
T = TypeVar("T")
Screens = list[dict[str, Any]]


def _respecting_permissions() -> list[str] | None:
    """A command prefix under which this user's processes obey file modes: none needed for
    an ordinary user; as root, ``setpriv`` dropping CAP_DAC_OVERRIDE (None if it cannot)."""
    if not AS_ROOT:
        return []
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
    except OSError:
        return None
    return prefix if probe.returncode == 0 else None


PERMISSIONS_HOLD = _respecting_permissions()


# ---------------------------------------------------------------- the one config


def fault_config(tmp_path: Path, sandbox: Sandbox, **overrides: Any) -> Path:
    """Write the kiosk config of a fault test to ``tmp_path / "kiosk.toml"``: every scenario's
    config is built here, so a key every kiosk needs goes in one place.

    A keyword names a TOML table with "_" for "." (``vend_gpio={...}`` is ``[vend.gpio]``): its
    keys are merged over the defaults below (a key set to None is left out), None drops the
    table, and ``slot=[...]`` replaces the ``[[slot]]`` list.
    """
    tables: dict[str, Any] = {
        # A test machine's clock is nobody's NTP business: sell without waiting for it.
        "machine": {"id": "fault-test", "data_dir": str(tmp_path / "data"),
                    "wait_for_time_sync": False},
        "display": {"width": 800, "height": 480},
        "payment": {"gateway": "mixpay", "timeout_s": 60, "poll_interval_s": 0.2},
        "payment.mixpay": {"payee_id": "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e",
                           "settlement_asset_id": "4d8c508b-91c5-375b-92b0-ee702ed2dac5",
                           "api_base": sandbox.mixpay_api_base,
                           "checkout_base": sandbox.checkout_base},
        "vend": {"driver": "simulated"},
        "vend.simulated": {"turn_time_s": 0},
        "slot": [{"id": "A1", "name": "Water", "price": "2.50", "stock": 20, "motor": 1}],
    }
    for key, value in overrides.items():
        name = key.replace("_", ".")
        if value is None:
            tables.pop(name, None)
        elif isinstance(value, list):
            tables[name] = value
        else:
            tables[name] = {**tables.get(name, {}), **value}
    lines: list[str] = []
    for name, table in tables.items():
        rows = table if isinstance(table, list) else [table]
        for row in rows:
            lines.append(f"[[{name}]]" if isinstance(table, list) else f"[{name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in row.items() if v is not None]
            lines.append("")
    path = tmp_path / "kiosk.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


# ---------------------------------------------------------------- one kiosk under fault


@dataclass
class Observed:
    """What one scenario saw, for the tests to assert on."""

    workdir: Path
    screens: Screens
    returncode: int | None
    stdout: str
    stderr: str
    shots: list[str]                       # screenshot names, "0003-attract.png", in order
    journal: list[dict[str, Any]]
    notes: dict[str, Any] = field(default_factory=dict)
    texts: list[dict[str, Any]] = field(default_factory=list)   # each text on each screen

    @property
    def sales(self) -> list[dict[str, Any]]:
        """The autopilot's customer lines on stdout."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def tx(self, tx_id: str) -> dict[str, Any]:
        [found] = [tx for tx in self.journal if tx["id"] == tx_id]
        return found

    def shot_screens(self) -> list[str]:
        return [name.split("-", 1)[1].removesuffix(".png") for name in self.shots]

    def first(self, screen: str, fault: str = "", after: float = 0.0) -> dict[str, Any]:
        """The first line showing ``screen`` (with ``fault`` in its reason) after ``after``."""
        found = _first(self.screens, screen, fault, after)
        assert found is not None, (f"no {screen!r} screen with {fault!r} after {after}: "
                                   f"{_brief(self.screens)}")
        return found

    def between(self, start: float, end: float) -> Screens:
        return [line for line in self.screens if start <= line["t"] < end]


def _first(screens: Screens, screen: str, fault: str = "", after: float = 0.0,
           tx: str | None = None) -> dict[str, Any] | None:
    return next((line for line in screens if line["screen"] == screen
                 and fault in line["fault"] and line["t"] >= after
                 and (tx is None or line["tx"] == tx)), None)


def _brief(screens: Screens) -> str:
    return " > ".join(f"{line['screen']}[{line['fault'][:60]}]" if line["fault"]
                      else line["screen"] for line in screens[-25:])


def kinds(tx: dict[str, Any]) -> list[str]:
    return [event["kind"] for event in tx["events"]]


def vend_result(tx: dict[str, Any]) -> dict[str, Any]:
    [detail] = [event["detail"] for event in tx["events"] if event["kind"] == "vend_result"]
    return detail


class Aborted(Exception):
    """The module is being torn down (a test failed with -x): stop the script."""


class KioskRun:
    """One real ``kiosk run --headless`` with the fault hooks loaded; output goes to files."""

    def __init__(self, workdir: Path, config: Path, abort: threading.Event, *,
                 faults: Sequence[str] = (), autopilot: int | None = None,
                 env: dict[str, str] | None = None, prefix: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.prefix = list(prefix)
        self.config = config
        self.abort = abort
        self.faults = tuple(faults)
        self.autopilot = autopilot
        self.fault_dir = workdir / "faults"
        self.fault_dir.mkdir(parents=True, exist_ok=True)
        self.shots = workdir / "shots"
        self._env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.paid: set[str] = set()

    # -- driving it

    def start(self) -> dict[str, Any]:
        """Start it and wait for its first frame (returned): every deadline after counts from
        there, however long a loaded machine takes to start a dozen kiosks at once."""
        env = {name: value for name, value in os.environ.items()
               if name not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "KIOSK_FAULTS")}
        env.update(self._env)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(FAULT_HOOKS), *filter(None, [os.environ.get("PYTHONPATH")])])
        env["KIOSK_FAULT_DIR"] = str(self.fault_dir)
        env["KIOSK_FAULTS"] = ",".join(self.faults)
        args = [*KIOSK, "run", "--headless", "--config", str(self.config),
                "--screenshots", str(self.shots)]
        if self.autopilot is not None:
            args += ["--autopilot", str(self.autopilot)]
        with open(self.workdir / "stdout", "wb") as out, \
                open(self.workdir / "stderr", "wb") as err:
            self.process = subprocess.Popen([*self.prefix, *args], env=env,
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        return self.wait_for(lambda s: s[0] if s else None, STARTUP_S, "a first frame")

    def trigger(self, fault: str, content: str = "") -> float:
        """Turn ``fault`` on (atomically: the kiosk never reads half a file); returns when."""
        partial = self.fault_dir / f".{fault}.part"
        partial.write_text(content)
        os.replace(partial, self.fault_dir / fault)
        return time.monotonic()

    def clear(self, fault: str) -> float:
        (self.fault_dir / fault).unlink()
        return time.monotonic()

    def acknowledged(self, fault: str, state: str, timeout_s: float = 5.0) -> None:
        """Wait until the kiosk says it runs with ``state`` of ``fault`` (its ``.ack`` file)."""
        ack = self.fault_dir / f"{fault}.ack"

        def said() -> bool:
            return ack.exists() and ack.read_text() == state

        self.wait_for(lambda s: said(), timeout_s, f"{fault} acknowledged as {state!r}")

    def alive(self) -> bool:
        assert self.process is not None
        return self.process.poll() is None

    def hold(self, seconds: float) -> bool:
        """Keep the fault on for ``seconds`` (watching the process); True if still running."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.alive():
            self._check_abort()
            time.sleep(0.05)
        return self.alive()

    def pay(self, link: str) -> None:
        """The customer's phone presses Pay on the sandbox's checkout page."""
        httpx.post(f"{link}/pay", timeout=5).raise_for_status()
        self.paid.add(link)

    def pay_new_codes(self, screens: Screens, after: float = 0.0) -> None:
        """Pay every QR code shown (after ``after``) that was not paid yet."""
        for line in screens:
            if line["screen"] == "awaiting_payment" and line["link"] and line["t"] >= after \
                    and line["link"] not in self.paid:
                self.pay(line["link"])

    # -- watching it

    def screens(self) -> Screens:
        return _jsonl(self.fault_dir / "screens.jsonl")

    def poll_for(self, condition: Callable[[Screens], T | None], timeout_s: float,
                 *, pay_after: float | None = None) -> T | None:
        """The first truthy ``condition(screens)`` within ``timeout_s``, else None. With
        ``pay_after``, every new QR code shown after that moment is paid meanwhile."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_abort()
            screens = self.screens()
            found = condition(screens)
            if found:
                return found
            if pay_after is not None:
                self.pay_new_codes(screens, pay_after)
            if not self.alive() or time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def wait_for(self, condition: Callable[[Screens], T | None], timeout_s: float, what: str,
                 *, pay_after: float | None = None) -> T:
        found = self.poll_for(condition, timeout_s, pay_after=pay_after)
        if not found:
            state = "running" if self.alive() else f"exited {self.process.returncode}" \
                if self.process else "not started"
            raise AssertionError(f"kiosk ({state}) never showed {what} within {timeout_s} s; "
                                 f"screens: {_brief(self.screens())}; "
                                 f"stderr: {self._stderr()[-1500:]}")
        return found

    def screen(self, screen: str, timeout_s: float, *, fault: str = "", after: float = 0.0,
               tx: str | None = None, pay_after: float | None = None) -> dict[str, Any]:
        what = f"{screen} ({fault})" if fault else screen
        return self.wait_for(lambda s: _first(s, screen, fault, after, tx), timeout_s, what,
                             pay_after=pay_after)

    def exit(self, timeout_s: float, *, pay_after: float | None = None) -> int:
        """Wait for the process to end by itself (paying new QR codes meanwhile if asked)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while self.alive():
            self._check_abort()
            if time.monotonic() > deadline:
                raise AssertionError(f"kiosk still running after {timeout_s} s; screens: "
                                     f"{_brief(self.screens())}")
            if pay_after is not None:
                self.pay_new_codes(self.screens(), pay_after)
            time.sleep(0.05)
        return self.process.returncode

    def terminate(self, timeout_s: float = 20.0) -> tuple[int, float]:
        """SIGTERM, as systemd stops the service; the exit status and how long it took."""
        assert self.process is not None
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"kiosk still running {timeout_s} s after SIGTERM") from None
        return status, time.monotonic() - sent

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def observed(self, *, journal: bool = True, **notes: Any) -> Observed:
        assert self.process is not None
        return Observed(
            workdir=self.workdir, screens=self.screens(), returncode=self.process.poll(),
            stdout=(self.workdir / "stdout").read_text(errors="replace"),
            stderr=self._stderr(),
            shots=sorted(p.name for p in self.shots.glob("*.png")) if self.shots.exists()
            else [],
            journal=read_journal(self.config) if journal else [], notes=notes,
            texts=_jsonl(self.fault_dir / "texts.jsonl"))

    def _stderr(self) -> str:
        return (self.workdir / "stderr").read_text(errors="replace")

    def _check_abort(self) -> None:
        if self.abort.is_set():
            self.kill()
            raise Aborted


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a file the kiosk appends JSON lines to (maybe as we read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    complete = text[:text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines()]


def read_journal(config: Path) -> list[dict[str, Any]]:
    """``kiosk journal --json --config``: what the operator sees; [] when there is none."""
    result = subprocess.run([*KIOSK, "journal", "--json", "--config", str(config)],
                            capture_output=True, text=True, timeout=30, check=False)
    if result.returncode == 1 and "no journal" in result.stderr:
        return []
    assert result.returncode == 0, result.stdout + result.stderr
    transactions: list[dict[str, Any]] = json.loads(result.stdout)
    return transactions


# ---------------------------------------------------------------- scenarios


@dataclass
class Ctx:
    """What a scenario script gets: its own directory, the shared sandbox, the abort flag."""

    workdir: Path
    gateway: Sandbox
    abort: threading.Event
    runs: list[KioskRun]

    def kiosk(self, config: Path, **options: Any) -> KioskRun:
        run = KioskRun(self.workdir, config, self.abort, **options)
        self.runs.append(run)
        return run


SCENARIOS: dict[str, Callable[[Ctx], Any]] = {}


def scenario(fn: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
    SCENARIOS[fn.__name__] = fn
    return fn


def uses(*names: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a test with the scenarios it reads (so only those selected are started)."""
    def mark(test: Callable[..., None]) -> Callable[..., None]:
        test.scenarios = names  # type: ignore[attr-defined]
        return test
    return mark


def _worker_fault(ctx: Ctx, fault: str, worker: str) -> Observed:
    """A worker's turn raises from boot until cleared; then one customer buys."""
    run = ctx.kiosk(fault_config(ctx.workdir, ctx.gateway), faults=[fault, "customer-waits"],
                    autopilot=1)
    run.trigger(fault)
    run.trigger("customer-waits")   # nobody walks up before the worker's first turn has failed
    run.start()
    # A health check after the worker's first failing turn sees it (they run every 2 s while
    # starting up; a loaded machine may take a few).
    out = run.poll_for(lambda s: _first(s, "out_of_service", f"{worker} failing"), 15.0)
    alive = run.hold(HOLD_S)
    cleared = run.clear(fault)
    back = run.screen("attract", 25, after=cleared)
    run.clear("customer-waits")     # now a customer comes, and buys
    status = run.exit(30, pay_after=back["t"])
    return run.observed(out=out, alive_while_faulted=alive, cleared=cleared, status=status)


@scenario
def watcher_exception(ctx: Ctx) -> Observed:
    return _worker_fault(ctx, "watcher-exception", "payment watcher")


@scenario
def refund_exception(ctx: Ctx) -> Observed:
    return _worker_fault(ctx, "refund-exception", "refund worker")


@scenario
def sale_worker_exception(ctx: Ctx) -> Observed:
    """The sale worker's task that creates the payment raises from boot until cleared: the
    first customer's order fails; once cleared, the second customer buys."""
    run = ctx.kiosk(fault_config(ctx.workdir, ctx.gateway), faults=["sale-exception"],
                    autopilot=2)
    run.trigger("sale-exception")
    run.start()
    # (The order can fail before a frame shows "creating payment": the coin screen is the
    # last one drawn before it.)
    failed = run.screen("payment_failed", 20)
    out = run.poll_for(lambda s: _first(s, "out_of_service", "sale worker failing",
                                        failed["t"]), 10)
    alive = run.hold(HOLD_S)
    cleared = run.clear("sale-exception")
    # The worker's fault lasts its back-off (5 s from the failure); a re-check (2 s) sees it go.
    back = run.poll_for(lambda s: _first(s, "attract", after=cleared), 15)
    status = run.exit(30, pay_after=cleared) if back else run.terminate()[0]
    return run.observed(failed=failed, out=out, alive_while_faulted=alive, cleared=cleared,
                        back=back, status=status)


@scenario
def misc_worker_exception(ctx: Ctx) -> Observed:
    """The misc worker's task that loads the coin list raises from boot until cleared: the
    customer on the coin screen is sent back (out of service); once cleared, they buy."""
    run = ctx.kiosk(fault_config(ctx.workdir, ctx.gateway), faults=["misc-exception"],
                    autopilot=1)
    run.trigger("misc-exception")
    run.start()
    # The customer's coin list is the task that raises.
    out = run.poll_for(lambda s: _first(s, "out_of_service", "misc worker failing"), 20)
    alive = run.hold(HOLD_S)
    cleared = run.clear("misc-exception")
    back = run.poll_for(lambda s: _first(s, "attract", after=cleared), 15)
    status = run.exit(30, pay_after=cleared) if back else run.terminate()[0]
    return run.observed(out=out, alive_while_faulted=alive, cleared=cleared, back=back,
                        status=status)


@scenario
def gpio_absent_at_boot(ctx: Ctx) -> Observed:
    """The real GPIO driver behind ``RestartableDriver``: gpiozero finds no pin factory until
    the trigger goes; then it gets mock pins with a simulated spiral machine on them."""
    config = fault_config(ctx.workdir, ctx.gateway, vend={"driver": "gpio"},
                          vend_gpio={"motor_pins": [5, 6, 13, 19], "home_pin": 20,
                                     "drop_pin": 21},
                          vend_simulated=None)
    run = ctx.kiosk(config, faults=["gpio-unplugged"], autopilot=1)
    run.trigger("gpio-unplugged")
    run.start()
    out = run.screen("out_of_service", 15, fault="GPIO: cannot open the vend GPIO pins")
    alive = run.hold(HOLD_S)
    plugged = run.clear("gpio-unplugged")
    back = run.screen("attract", 30, after=plugged)    # reopened with back-off: 2 s, 4 s...
    status = run.exit(30, pay_after=back["t"])
    return run.observed(out=out, alive_while_faulted=alive, plugged=plugged, status=status)


@scenario
def machine_unplugged_mid_sale(ctx: Ctx) -> Observed:
    """The first customer's QR is on screen when the machine is unplugged; they pay. Once it
    is plugged back in, the next customer who gets a QR code pays too; then SIGTERM."""
    run = ctx.kiosk(fault_config(ctx.workdir, ctx.gateway), faults=["machine-unplugged"],
                    autopilot=5)
    first = run.start()
    qr = run.screen("awaiting_payment", 20)
    # Past the start-up health checks (the first, and one 2 s after start), so the kiosk
    # learns of the unplugged machine from the sale itself, not from a routine check.
    run.wait_for(lambda s: time.monotonic() > first["t"] + 3.0, 10, "the start-up checks")
    unplugged = run.trigger("machine-unplugged")
    run.acknowledged("machine-unplugged", "unplugged")
    run.pay(qr["link"])
    failed = run.screen("vend_failed", 20, tx=qr["tx"])
    out = run.screen("out_of_service", 20, fault="unplugged", after=failed["t"])
    alive = run.hold(HOLD_S)
    plugged = run.clear("machine-unplugged")
    run.acknowledged("machine-unplugged", "plugged")
    # Out of service re-checks the machine every 2 s: back well within 10 s.
    back = run.poll_for(lambda s: _first(s, "attract", after=plugged), 10)
    sold = back and run.poll_for(lambda s: _first(s, "thank_you", after=back["t"]), 20,
                                 pay_after=back["t"])
    status, stop_s = run.terminate()
    return run.observed(tx=qr["tx"], unplugged=unplugged, failed_at=failed["t"], out=out,
                        alive_while_faulted=alive, plugged=plugged, back=back, sold=sold,
                        status=status, stop_s=stop_s)


MDB_ITEM = 11


@scenario
def mdb_reader_exception(ctx: Ctx) -> Observed:
    """The real MDB driver against the simulated Qibixx bridge and vending machine (the one
    ``kiosk demo --driver mdb-sim`` runs), here in the test process on a pseudo-terminal the
    kiosk opens by its path. In service, the reader thread's line parser starts raising;
    then a customer walks up. Once cleared, the reader reconnects and the next customer buys
    (pressing the paid item on the machine's keypad, as the simulated customer does)."""
    with SimulatedMdbMachine({MDB_ITEM: 250}) as machine:
        config = fault_config(ctx.workdir, ctx.gateway, vend={"driver": "mdb"},
                              vend_mdb={"port": machine.port}, vend_simulated=None,
                              slot=[{"id": "A1", "name": "Water", "price": "2.50",
                                     "stock": 20, "mdb_item": MDB_ITEM}])
        run = ctx.kiosk(config, faults=["mdb-reader-exception", "customer-waits"],
                        autopilot=2)
        run.trigger("customer-waits")
        try:
            run.start()
            ready = run.screen("attract", 30)   # the bridge answered, the VMC enabled us
            injected = run.trigger("mdb-reader-exception")
            run.acknowledged("mdb-reader-exception", "raised")
            run.clear("customer-waits")         # somebody walks up and orders
            out = run.screen("out_of_service", 20, fault="MDB reader failing", after=injected)
            alive = run.hold(HOLD_S)
            cleared = run.clear("mdb-reader-exception")
            # Reconnects with back-off (1, 2, 5 s...); out of service re-checks every 2 s.
            back = run.poll_for(lambda s: _first(s, "attract", after=cleared), 20)
            sold = back and run.poll_for(lambda s: _first(s, "thank_you", after=back["t"]),
                                         30, pay_after=back["t"])
            status = run.exit(30, pay_after=cleared) if sold else run.terminate()[0]
            return run.observed(ready=ready, injected=injected, out=out,
                                alive_while_faulted=alive, cleared=cleared, back=back,
                                sold=sold, status=status, vended=list(machine.vended))
        finally:
            run.kill()                          # before its bridge goes away


def _journal_fault(ctx: Ctx, make: Callable[[Path], None], fix: Callable[[Path], None],
                   prefix: Sequence[str] = ()) -> Observed:
    """No autopilot: a scripted run exits 2 on a journal error, the service stays up."""
    config = fault_config(ctx.workdir, ctx.gateway)
    data = ctx.workdir / "data"
    data.mkdir()
    make(data)
    db = data / "journal.db"
    before = db.read_bytes() if db.is_file() else None
    stamp = db.stat().st_mtime_ns if db.exists() else None
    files = sorted(p.name for p in data.iterdir())
    run = ctx.kiosk(config, prefix=prefix)
    run.start()
    out = run.screen("out_of_service", 20, fault="journal")
    alive = run.hold(HOLD_S)
    during = {"bytes": db.read_bytes() if db.is_file() else None,
              "mtime": db.stat().st_mtime_ns if db.exists() else None,
              "files": sorted(p.name for p in data.iterdir())}
    fixed = time.monotonic()
    fix(data)
    back = run.poll_for(lambda s: _first(s, "attract", after=fixed), 20)
    status, stop_s = run.terminate()
    return run.observed(journal=False, out=out, alive_while_faulted=alive, before=before,
                        mtime=stamp, files=files, during=during, fixed=fixed, back=back,
                        status=status, stop_s=stop_s,
                        db_after=db.read_bytes()[:16] if db.is_file() else None)


def _move_aside(data: Path) -> None:
    """What the operators' guide has the technician do: keep the file, out of the way."""
    (data / "journal.db").rename(data.parent / "journal.db.corrupt")


@scenario
def journal_is_a_directory(ctx: Ctx) -> Observed:
    return _journal_fault(ctx, lambda data: (data / "journal.db").mkdir(),
                          lambda data: (data / "journal.db").rmdir())


@scenario
def journal_dir_read_only(ctx: Ctx) -> Observed:
    def fix(data: Path) -> None:
        data.chmod(0o755)
    assert PERMISSIONS_HOLD is not None
    try:
        return _journal_fault(ctx, lambda data: data.chmod(0o555), fix, prefix=PERMISSIONS_HOLD)
    finally:
        if (ctx.workdir / "data").exists():   # writable again, for pytest to clean up
            fix(ctx.workdir / "data")


@scenario
def journal_garbage(ctx: Ctx) -> Observed:
    garbage = b"\x00\xffnot a database: what a dying SD card leaves behind\n" * 80
    return _journal_fault(ctx, lambda data: (data / "journal.db").write_bytes(garbage),
                          _move_aside)


@scenario
def journal_malformed(ctx: Ctx) -> Observed:
    """A real journal whose header survived but whose pages did not."""
    def make(data: Path) -> None:
        from decimal import Decimal

        from kiosk.journal import Journal
        from kiosk.payments.base import Order

        with Journal.open_in(data) as journal:
            for n in range(30):
                journal.begin(Order(f"tx-{n}", "A1", "Water", Decimal("2.50"), "USD", None,
                                    2_000_000_000), "mixpay")
        db = data / "journal.db"
        pages = bytearray(db.read_bytes())
        for offset in range(4096, len(pages), 4096):  # every page after the first
            pages[offset:offset + 64] = b"\xde\xad" * 32
        db.write_bytes(bytes(pages))
    return _journal_fault(ctx, make, _move_aside)


DISK_FULL = "database or disk is full"   # SQLite's SQLITE_FULL


def _fill(path: Path) -> int:
    """Write ``path`` until its filesystem takes not one byte more; the bytes written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written, chunk = 0, 1 << 16
    try:
        while chunk:
            try:
                written += os.write(fd, b"\xff" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    finally:
        os.close(fd)
    return written


@scenario
def disk_full(ctx: Ctx) -> Observed | str:
    """The data directory on a real 2 MB filesystem (tmpfs), filled to the last byte while
    the kiosk is in service; then a customer orders. Freed, it sells again. A str: skipped."""
    data = ctx.workdir / "data"
    data.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs",
                            str(data)], capture_output=True, text=True, timeout=30,
                           check=False)
    if mount.returncode != 0:
        return f"cannot mount a tmpfs for the data directory: {mount.stderr.strip()}"
    run = ctx.kiosk(fault_config(ctx.workdir, ctx.gateway), faults=["customer-waits"],
                    autopilot=2)
    run.trigger("customer-waits")
    try:
        run.start()
        ready = run.screen("attract", 30)
        filler = data / "filler"
        filled = _fill(filler)
        full = time.monotonic()
        free_after_fill = os.statvfs(data).f_bavail
        run.clear("customer-waits")             # somebody walks up and orders
        out = run.screen("out_of_service", 20, fault="journal cannot be written", after=full)
        alive = run.hold(HOLD_S)
        freed = time.monotonic()
        filler.unlink()
        back = run.poll_for(lambda s: _first(s, "attract", after=freed), 20)
        sold = back and run.poll_for(lambda s: _first(s, "thank_you", after=back["t"]), 30,
                                     pay_after=back["t"])
        status = run.exit(30, pay_after=freed) if sold else run.terminate()[0]
        return run.observed(ready=ready, filled=filled, full=full,
                            free_after_fill=free_after_fill, out=out, alive_while_faulted=alive,
                            freed=freed, back=back, sold=sold, status=status)
    finally:
        run.kill()
        subprocess.run(["umount", str(data)], capture_output=True, timeout=30, check=False)


@scenario
def sigterm_mid_vend(ctx: Ctx) -> Observed:
    config = fault_config(ctx.workdir, ctx.gateway, vend_simulated={"turn_time_s": 3})
    run = ctx.kiosk(config, autopilot=1)
    run.start()
    qr = run.screen("awaiting_payment", 20)
    run.pay(qr["link"])
    vending = run.screen("vending", 20, tx=qr["tx"])
    status, stop_s = run.terminate(20)
    return run.observed(tx=qr["tx"], vending=vending, status=status, stop_s=stop_s)


def _clock_step(ctx: Ctx, step_s: int) -> Observed:
    notify = ctx.workdir / "notify.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(notify))
    receiver.settimeout(0.1)
    messages: list[tuple[float, str]] = []
    done = threading.Event()

    def receive() -> None:
        while not done.is_set():
            try:
                messages.append((time.monotonic(), receiver.recv(256).decode()))
            except TimeoutError:
                continue

    listener = threading.Thread(target=receive, daemon=True)
    listener.start()
    config = fault_config(ctx.workdir, ctx.gateway, vend_simulated={"turn_time_s": 0.5})
    run = ctx.kiosk(config, faults=["clock-offset"], autopilot=1,
                    env={"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    try:
        run.start()
        qr = run.screen("awaiting_payment", 20)
        stepped = run.trigger("clock-offset", str(step_s))
        run.acknowledged("clock-offset", repr(float(step_s)))
        run.pay(qr["link"])
        thanked = run.poll_for(lambda s: _first(s, "thank_you", tx=qr["tx"]), 20)
        status = run.exit(20)
    finally:
        done.set()
        listener.join()
        receiver.close()
    return run.observed(tx=qr["tx"], stepped=stepped, thanked=thanked, status=status,
                        messages=messages)


@scenario
def clock_forward(ctx: Ctx) -> Observed:
    return _clock_step(ctx, DAY_S)


@scenario
def clock_back(ctx: Ctx) -> Observed:
    return _clock_step(ctx, -DAY_S)


# ---------------------------------------------------------------- running them


class Results:
    """The scenarios the selected tests use, all started at once on a thread pool."""

    def __init__(self, futures: dict[str, Future[Any]]) -> None:
        self._futures = futures

    def __getitem__(self, name: str) -> Any:
        return self._futures[name].result(timeout=240)


@pytest.fixture(scope="module")
def gateway() -> Iterator[Sandbox]:
    """One sandbox for every kiosk of the module (each pays only its own codes)."""
    with Sandbox(confirm_s=0.2, requests_per_minute=100_000) as running:
        yield running


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest, gateway: Sandbox,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Results]:
    wanted: list[str] = []
    for item in request.session.items:
        skipped = any(mark.args and mark.args[0] for mark in item.iter_markers("skipif"))
        if isinstance(item, pytest.Function) and item.module is request.module \
                and not skipped:
            callspec = getattr(item, "callspec", None)
            names = (callspec.params["name"],) if callspec and "name" in callspec.params \
                else getattr(item.function, "scenarios", ())
            wanted += [name for name in names if name not in wanted]
    abort = threading.Event()
    runs: list[KioskRun] = []
    pool = ThreadPoolExecutor(max_workers=max(1, len(wanted)), thread_name_prefix="scenario")
    futures = {name: pool.submit(SCENARIOS[name],
                                 Ctx(tmp_path_factory.mktemp(name), gateway, abort, runs))
               for name in wanted}
    try:
        yield Results(futures)
    finally:
        abort.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for run in runs:
            run.kill()


# ---------------------------------------------------------------- 1. worker exceptions


@uses("watcher_exception")
def test_a_failing_payment_watcher_is_out_of_service_until_it_recovers(
        results: Results) -> None:
    seen = _worker_recovered(results["watcher_exception"], "payment watcher",
                             "watcher-exception")
    shots = seen.shot_screens()
    assert shots[0] == "out_of_service" and "thank_you" in shots[shots.index("attract"):]


@uses("refund_exception")
def test_a_failing_refund_worker_is_out_of_service_until_it_recovers(results: Results) -> None:
    _worker_recovered(results["refund_exception"], "refund worker", "refund-exception")


def _worker_recovered(seen: Observed, worker: str, fault: str) -> Observed:
    """Out of service naming ``worker`` for as long as it failed, then back by itself, and
    the customer who came afterwards bought."""
    assert f"{worker} failed; retrying" in seen.stderr     # the injection did fire
    out = seen.notes["out"]
    assert out, f"never out of service naming the {worker}: {_brief(seen.screens)}"
    assert out["fault"] == f"{worker} failing: KeyError: 'injected {fault}'"
    assert seen.notes["alive_while_faulted"]
    assert {line["screen"] for line in seen.between(out["t"], seen.notes["cleared"])} \
        == {"out_of_service"}
    back = seen.first("attract", after=seen.notes["cleared"])
    [sale] = seen.sales
    assert sale["outcome"] == "vended" and seen.tx(sale["tx"])["status"] == "vended"
    assert seen.first("thank_you", after=back["t"])["tx"] == sale["tx"]
    assert seen.returncode == 0 and f"{worker} recovered" in seen.stderr
    return seen


def _shown(seen: Observed, *screens: str) -> list[str]:
    """Every text drawn on ``screens`` (all screens if none is named)."""
    return [line["text"] for line in seen.texts if not screens or line["screen"] in screens]


CUSTOMER_SCREENS = ("attract", "choose_item", "choose_coin", "creating_payment",
                    "awaiting_payment", "confirming", "underpaid", "vending", "thank_you",
                    "vend_failed", "payment_failed", "expired", "cancelled")


@uses("sale_worker_exception")
def test_a_failing_sale_worker_fails_the_order_at_once_without_a_qr_code(
        results: Results) -> None:
    seen: Observed = results["sale_worker_exception"]
    notes = seen.notes
    failed = notes["failed"]
    # Told at once, not by the 45 s backstop (the coin screen is where the order was placed);
    # never shown a code to pay.
    [chose] = [line for line in seen.screens if line["screen"] == "choose_coin"
               and line["t"] <= failed["t"]][-1:]
    assert failed["t"] - chose["t"] < 10.0, _brief(seen.screens)
    assert not [line for line in seen.screens if line["screen"] == "awaiting_payment"
                and line["tx"] == failed["tx"]]
    first = seen.sales[0]
    assert (first["tx"], first["outcome"]) == (failed["tx"], "payment_failed")
    # Nothing was asked of the gateway for it: the only payment created is the next sale's.
    assert [t["id"] for t in seen.journal if "payment_created" in kinds(t)] \
        == [sale["tx"] for sale in seen.sales[1:]]
    # The technician has the traceback in the log; no customer screen shows any of it.
    assert "sale worker: create_payment failed" in seen.stderr
    assert "Traceback" in seen.stderr and "KeyError: 'injected sale-exception'" in seen.stderr
    assert not [text for text in _shown(seen) if "Traceback" in text]
    assert not [text for text in _shown(seen, *CUSTOMER_SCREENS)
                if "KeyError" in text or "injected" in text]
    # (Only the technician's status line on the out-of-service screen names it.)
    assert f"Status: {notes['out']['fault']}" in _shown(seen, "out_of_service")


@uses("sale_worker_exception")
def test_a_failing_sale_worker_is_out_of_service_until_it_recovers(results: Results) -> None:
    seen: Observed = results["sale_worker_exception"]
    notes = seen.notes
    out = notes["out"]
    assert out, f"never out of service naming the sale worker: {_brief(seen.screens)}"
    assert out["fault"] == "sale worker failing: KeyError: 'injected sale-exception'"
    assert notes["alive_while_faulted"]
    assert {line["screen"] for line in seen.between(out["t"], notes["cleared"])} \
        == {"out_of_service"}
    back = notes["back"]
    assert back, f"not back within 15 s of the fault clearing: {_brief(seen.screens)}"
    assert [sale["outcome"] for sale in seen.sales] == ["payment_failed", "vended"]
    sold = seen.sales[1]["tx"]
    assert seen.tx(sold)["status"] == "vended"
    assert seen.first("thank_you", after=back["t"])["tx"] == sold
    assert notes["status"] == 0


@uses("misc_worker_exception")
def test_a_failing_misc_worker_is_out_of_service_until_it_recovers(results: Results) -> None:
    seen: Observed = results["misc_worker_exception"]
    notes = seen.notes
    assert "misc worker: load_assets failed" in seen.stderr     # the injection did fire
    out = notes["out"]
    assert out, f"never out of service naming the misc worker: {_brief(seen.screens)}"
    assert out["fault"] == "misc worker failing: KeyError: 'injected misc-exception'"
    assert out["tx"] is None                     # the customer on the coin screen was let go
    assert notes["alive_while_faulted"]
    assert {line["screen"] for line in seen.between(out["t"], notes["cleared"])} \
        == {"out_of_service"}
    # Nobody was asked to pay before it recovered.
    assert not [line for line in seen.between(0, notes["cleared"])
                if line["screen"] in ("creating_payment", "awaiting_payment")]
    back = notes["back"]
    assert back, f"not back within 15 s of the fault clearing: {_brief(seen.screens)}"
    [sale] = seen.sales
    assert sale["outcome"] == "vended" and seen.tx(sale["tx"])["status"] == "vended"
    assert seen.first("thank_you", after=back["t"])["tx"] == sale["tx"]
    assert notes["status"] == 0
    assert not [text for text in _shown(seen) if "Traceback" in text]


# ---------------------------------------------------------------- 2. vend hardware


@uses("gpio_absent_at_boot")
def test_vend_hardware_absent_at_boot_is_out_of_service_until_plugged_in(
        results: Results) -> None:
    seen: Observed = results["gpio_absent_at_boot"]
    out = seen.notes["out"]
    assert out["fault"] == ("GPIO: cannot open the vend GPIO pins: "
                            "no GPIO header (fault injection)")
    assert seen.notes["alive_while_faulted"]
    assert {line["screen"] for line in seen.between(0, seen.notes["plugged"])} \
        <= {"out_of_service"}                  # never offered a sale without the machine
    back = seen.first("attract", after=seen.notes["plugged"])
    [sale] = seen.sales                         # sold through the real GPIO driver
    assert sale["outcome"] == "vended" and seen.tx(sale["tx"])["status"] == "vended"
    assert seen.first("thank_you", after=back["t"])["tx"] == sale["tx"]
    assert seen.returncode == 0
    assert "Traceback" not in seen.stderr
    assert "vend hardware not available: cannot open the vend GPIO pins" in seen.stderr
    assert "vend hardware GPIO is open" in seen.stderr
    assert seen.shot_screens()[0] == "out_of_service"


@uses("machine_unplugged_mid_sale")
def test_a_machine_unplugged_mid_sale_refuses_the_vend_and_goes_out_of_service(
        results: Results) -> None:
    seen: Observed = results["machine_unplugged_mid_sale"]
    notes = seen.notes
    tx = seen.tx(notes["tx"])
    result = vend_result(tx)
    assert result["outcome"] == "denied"
    assert "machine offline: simulated machine unplugged (fault injection)" in result["detail"]
    assert "vend_dispensing" not in kinds(tx)            # nothing was told to move
    assert tx["status"] == "refund_due" and tx["claim_code"]  # MixPay: the claim is owed
    assert seen.first("vend_failed", after=notes["unplugged"])["tx"] == notes["tx"]
    assert notes["out"]["fault"] == "simulated machine unplugged (fault injection)"
    assert notes["alive_while_faulted"]
    # While unplugged nobody was asked to pay.
    asked = {line["tx"] for line in seen.between(notes["unplugged"], notes["plugged"])
             if line["screen"] == "awaiting_payment"}
    assert asked <= {notes["tx"]}
    assert not [t for t in seen.journal if t["status"] == "vended"
                and notes["unplugged"] <= _sold_at(seen, t["id"]) < notes["plugged"]]
    assert notes["status"] == 0 and notes["stop_s"] < 20
    assert "Traceback" not in seen.stderr


@uses("machine_unplugged_mid_sale")
def test_a_machine_plugged_back_in_is_in_service_within_seconds(results: Results) -> None:
    seen: Observed = results["machine_unplugged_mid_sale"]
    notes = seen.notes
    assert notes["back"], f"not back within 10 s of plug-in: {_brief(seen.screens)}"
    assert notes["sold"], f"no sale after it came back: {_brief(seen.screens)}"
    sale = next(s for s in seen.sales if s["tx"] == notes["sold"]["tx"])
    assert sale["outcome"] == "vended" and seen.tx(sale["tx"])["status"] == "vended"


@uses("mdb_reader_exception")
def test_an_mdb_reader_exception_is_out_of_service_until_it_recovers(
        results: Results) -> None:
    seen: Observed = results["mdb_reader_exception"]
    notes = seen.notes
    out = notes["out"]
    assert out["fault"] == "MDB reader failing: KeyError: 'injected mdb-reader-exception'"
    assert notes["alive_while_faulted"]
    window = seen.between(notes["injected"], notes["cleared"])
    # Nobody asked to pay while the reader failed (a customer who ordered was refused).
    assert not [line for line in window if line["screen"] == "awaiting_payment"]
    assert all(line["screen"] == "out_of_service" and "MDB reader failing" in line["fault"]
               for line in seen.between(out["t"], notes["cleared"]))
    assert all(sale["outcome"] == "payment_failed" for sale in seen.sales
               if _sold_at(seen, sale["tx"]) < notes["cleared"])
    assert notes["back"], f"not back within 20 s of the fault clearing: {_brief(seen.screens)}"
    assert notes["sold"], f"no sale after it came back: {_brief(seen.screens)}"
    sold = [sale for sale in seen.sales if sale["outcome"] == "vended"]
    assert sold and notes["sold"]["tx"] in {sale["tx"] for sale in sold}
    assert all(seen.tx(sale["tx"])["status"] == "vended" for sale in sold)
    assert notes["vended"] == [MDB_ITEM] * len(sold)     # the machine dispensed each of them
    assert notes["status"] == 0
    assert "the MDB reader failed" in seen.stderr      # logged with its traceback
    assert "MDB bridge port" in seen.stderr.split("the MDB reader failed")[-1]  # reconnected
    assert not [text for text in _shown(seen) if "Traceback" in text]


def _sold_at(seen: Observed, tx_id: str) -> float:
    line = _first(seen.screens, "thank_you", tx=tx_id)
    return line["t"] if line else float("inf")


@uses("machine_unplugged_mid_sale")
def test_after_a_vend_refused_offline_no_new_customer_is_let_in(results: Results) -> None:
    seen: Observed = results["machine_unplugged_mid_sale"]
    notes = seen.notes
    window = seen.between(notes["failed_at"], notes["out"]["t"])
    started = [line for line in window if line["screen"] in
               ("choose_item", "choose_coin", "creating_payment", "payment_failed")]
    assert not started, f"a customer was let in while the machine was offline: {started}"
    assert not [t for t in seen.journal if t["status"] == "payment_failed"]


# ---------------------------------------------------------------- 3. the journal


JOURNAL_FAULTS = [
    pytest.param("journal_is_a_directory", "unable to open database file",
                 id="journal.db is a directory"),
    pytest.param("journal_dir_read_only", "unable to open database file",
                 marks=pytest.mark.skipif(PERMISSIONS_HOLD is None, reason="root writes into a "
                                          "read-only directory anyway and setpriv cannot drop "
                                          "CAP_DAC_OVERRIDE here; 'journal.db is a directory' "
                                          "covers an unopenable journal"),
                 id="data directory read-only"),
    pytest.param("journal_garbage", "file is not a database", id="journal.db garbage"),
]


@pytest.mark.parametrize(("name", "reason"), JOURNAL_FAULTS)
def test_a_journal_that_cannot_be_opened_is_out_of_service_and_kept(
        results: Results, name: str, reason: str) -> None:
    seen: Observed = results[name]
    notes = seen.notes
    out = notes["out"]
    db = seen.workdir / "data" / "journal.db"
    assert out["fault"] == f"journal unavailable: cannot open journal {db}: {reason}"
    assert notes["alive_while_faulted"]
    assert seen.shot_screens()[0] == "out_of_service"
    # Left as it was for the technician: nothing created, replaced or written beside it.
    assert notes["during"]["files"] == notes["files"]
    assert notes["during"]["mtime"] == notes["mtime"]
    if notes["before"] is not None:
        assert notes["during"]["bytes"] == notes["before"]
        assert (seen.workdir / "journal.db.corrupt").read_bytes() == notes["before"]
    # Fixed: selling again, on a new journal.
    assert notes["back"], f"never back in service: {_brief(seen.screens)}"
    assert notes["db_after"] == SQLITE_MAGIC
    assert notes["status"] == 0 and notes["stop_s"] < 20
    assert f"kiosk out of service: {out['fault']}" in seen.stderr
    assert "Traceback" not in seen.stderr


@uses("journal_malformed")
def test_a_malformed_journal_is_out_of_service_and_kept_byte_for_byte(
        results: Results) -> None:
    seen: Observed = results["journal_malformed"]
    notes = seen.notes
    assert "journal.db is damaged (" in notes["out"]["fault"]
    assert "move it aside to sell again" in notes["out"]["fault"]
    assert notes["alive_while_faulted"]
    assert notes["during"]["bytes"] == notes["before"]
    assert (seen.workdir / "journal.db.corrupt").read_bytes() == notes["before"]
    assert notes["status"] == 0 and notes["stop_s"] < 20


@uses("journal_malformed")
def test_a_malformed_journal_moved_aside_heals_by_itself(results: Results) -> None:
    seen: Observed = results["journal_malformed"]
    assert seen.notes["back"], f"never back in service: {_brief(seen.screens)}"
    assert seen.notes["db_after"] == SQLITE_MAGIC


@pytest.mark.skipif(not AS_ROOT, reason="mounting a small tmpfs for the data directory needs "
                                        "root")
@uses("disk_full")
def test_a_full_disk_takes_no_order_and_is_out_of_service_until_freed(
        results: Results) -> None:
    seen: Observed | str = results["disk_full"]
    if isinstance(seen, str):
        pytest.skip(seen)
    notes = seen.notes
    assert notes["free_after_fill"] == 0         # not a byte left for the journal
    out = notes["out"]
    assert out["fault"] == f"journal cannot be written: {DISK_FULL}"
    assert notes["alive_while_faulted"]
    # The customer who ordered on the full disk was told at once, never asked to pay ...
    first = seen.sales[0]
    assert first["outcome"] == "payment_failed"
    failed = seen.first("payment_failed", after=notes["full"])
    assert failed["tx"] == first["tx"] and failed["t"] <= out["t"]
    assert not [line for line in seen.between(notes["full"], notes["freed"])
                if line["screen"] == "awaiting_payment"]
    # ... and no QR code was ever shown without its record in the journal.
    for tx_id in {line["tx"] for line in seen.screens if line["screen"] == "awaiting_payment"}:
        assert "payment_created" in kinds(seen.tx(tx_id)), tx_id
    assert {line["screen"] for line in seen.between(out["t"], notes["freed"])} \
        == {"out_of_service"}
    assert "journal refused a new sale" in seen.stderr and DISK_FULL in seen.stderr
    assert "Traceback" not in seen.stderr


@pytest.mark.skipif(not AS_ROOT, reason="mounting a small tmpfs for the data directory needs "
                                        "root")
@uses("disk_full")
def test_a_full_disk_freed_sells_again(results: Results) -> None:
    seen: Observed | str = results["disk_full"]
    if isinstance(seen, str):
        pytest.skip(seen)
    notes = seen.notes
    assert notes["back"], f"not back within 20 s of freeing the disk: {_brief(seen.screens)}"
    assert notes["sold"], f"no sale after it came back: {_brief(seen.screens)}"
    sale = seen.sales[-1]
    assert sale["tx"] == notes["sold"]["tx"] and sale["outcome"] == "vended"
    assert seen.tx(sale["tx"])["status"] == "vended"
    assert notes["status"] == 0


# ---------------------------------------------------------------- 4. SIGTERM mid-vend


@uses("sigterm_mid_vend")
def test_sigterm_mid_vend_finishes_the_vend_and_exits_0(results: Results) -> None:
    seen: Observed = results["sigterm_mid_vend"]
    notes = seen.notes
    assert notes["vending"]["tx"] == notes["tx"]
    assert notes["status"] == 0 and notes["stop_s"] < 20
    tx = seen.tx(notes["tx"])
    events = kinds(tx)
    assert events.index("paid_verified") < events.index("vend_started") \
        < events.index("vend_dispensing") < events.index("vend_result")
    assert vend_result(tx)["outcome"] == "vended" and tx["status"] == "vended"
    for other in seen.journal:                    # never a vend left without its result
        assert kinds(other).count("vend_started") == kinds(other).count("vend_result")
    assert [(s["tx"], s["outcome"]) for s in seen.sales] == [(notes["tx"], "vended")]
    assert "Traceback" not in seen.stderr


# ---------------------------------------------------------------- 5. the wall clock stepped


@pytest.mark.parametrize(("name", "step_s"), [("clock_forward", DAY_S),
                                              ("clock_back", -DAY_S)],
                         ids=["+1 day", "-1 day"])
def test_a_wall_clock_step_mid_sale_neither_breaks_the_sale_nor_the_watchdog(
        results: Results, name: str, step_s: int) -> None:
    seen: Observed = results[name]
    notes = seen.notes
    tx = seen.tx(notes["tx"])
    # The step reached the kiosk: its journal dates jump by it.
    at = {event["kind"]: _epoch(event["at"]) for event in tx["events"]}
    assert abs(at["vend_result"] - at["payment_created"] - step_s) < 120
    assert notes["thanked"], f"the sale did not complete: {_brief(seen.screens)}"
    assert vend_result(tx)["outcome"] == "vended" and tx["status"] == "vended"
    assert [(s["tx"], s["outcome"]) for s in seen.sales] == [(notes["tx"], "vended")]
    assert notes["status"] == 0
    messages = notes["messages"]
    assert [m for _, m in messages].count("READY=1") == 1
    pings = [t for t, m in messages if m == "WATCHDOG=1"]
    stepped, interval_s = notes["stepped"], WATCHDOG_USEC / 1e6
    before = [t for t in pings if t < stepped]
    after = [t for t in pings if t >= stepped]
    assert before and after and after[0] - stepped < interval_s
    span = before[-1:] + after
    gaps = [b - a for a, b in zip(span, span[1:], strict=False)]
    assert max(gaps, default=0.0) < interval_s, gaps


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


# ---------------------------------------------------------------- 6. bad command lines


@dataclass(frozen=True)
class Line:
    args: tuple[str, ...]      # "{tmp}": the row's directory
    words: tuple[str, ...]     # what the one line on stderr must say
    status: int = 2
    stdin: str = ""


# Only what tests/test_cli_errors.py does not already cover.
CLI_CASES = [
    pytest.param(Line(("frobnicate",), ("invalid choice", "'frobnicate'")),
                 id="unknown command"),
    pytest.param(Line(("run", "--bogus"), ("unrecognized arguments", "--bogus")),
                 id="run --bogus"),
    pytest.param(Line(("run", "--config"), ("--config", "expected one argument")),
                 id="run --config without a path"),
    pytest.param(Line(("run", "--autopilot", "two"), ("--autopilot", "'two'", "whole number")),
                 id="run --autopilot two"),
    pytest.param(Line(("journal", "--config", "{tmp}/kiosk.toml", "--data-dir", "{tmp}"),
                      ("--data-dir", "not allowed with", "--config")),
                 id="journal --config and --data-dir"),
    pytest.param(Line(("journal", "--data-dir", "{tmp}/kiosk.toml"),
                      ("no journal", "kiosk.toml"), 1),
                 id="journal --data-dir a file"),
    pytest.param(Line(("journal", "--json", "--data-dir", "{tmp}/corrupt"),
                      ("cannot open journal", "file is not a database"), 1),
                 id="journal of a corrupt journal.db"),
    pytest.param(Line(("journal", "--json", "--config", "{tmp}/missing.toml"),
                      ("missing.toml", "file not found")),
                 id="journal --config missing"),
    pytest.param(Line(("sandbox", "--port", "-1"), ("--port", "0 to 65535", "-1")),
                 id="sandbox --port -1"),
    pytest.param(Line(("sandbox", "--port", "http"), ("--port", "'http'", "whole number")),
                 id="sandbox --port http"),
    pytest.param(Line(("demo", "--gateway", "paypal"), ("--gateway", "invalid choice")),
                 id="demo --gateway paypal"),
    pytest.param(Line(("demo", "--driver", "usb"), ("--driver", "invalid choice")),
                 id="demo --driver usb"),
    pytest.param(Line(("demo", "--headless", "--customers", "1", "--lan-address",
                       "not-an-address", "--data-dir", "{tmp}/lan"),
                      ("--lan-address", "not-an-address")),
                 id="demo --lan-address not an address"),
    pytest.param(Line(("selftest", "--slot"), ("--slot", "expected one argument")),
                 id="selftest --slot without an id"),
    pytest.param(Line(("check-config",), ("required", "path")), id="check-config, no path"),
    pytest.param(Line(("set-pin", "--config", "{tmp}/kiosk.toml", "--pin-from-stdin"),
                      ("4 to 8 digits", "nothing changed"), 1, stdin="12ab\n"),
                 id="set-pin, not a PIN"),
]
CORRUPT = b"not a database\n" * 100


@dataclass(frozen=True)
class CommandLines:
    workdir: Path
    results: list[subprocess.CompletedProcess[str]]   # in CLI_CASES order


@scenario
def command_lines(ctx: Ctx) -> CommandLines:
    """Every row at once, each in its own directory (with a corrupt journal to read)."""
    def run(index: int, line: Line) -> subprocess.CompletedProcess[str]:
        tmp = ctx.workdir / str(index)
        (tmp / "corrupt").mkdir(parents=True)
        (tmp / "corrupt" / "journal.db").write_bytes(CORRUPT)
        (tmp / "kiosk.toml").touch()
        env = {k: v for k, v in os.environ.items()
               if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR")}
        return subprocess.run([*KIOSK, *(arg.format(tmp=tmp) for arg in line.args)],
                              input=line.stdin, capture_output=True, text=True, timeout=30,
                              env=env, check=False)

    rows = [param.values[0] for param in CLI_CASES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return CommandLines(ctx.workdir, list(pool.map(run, range(len(rows)), rows)))


@uses("command_lines")
@pytest.mark.parametrize("line", CLI_CASES)
def test_a_bad_command_line_is_one_line_on_stderr(results: Results, line: Line) -> None:
    index = [param.values[0] for param in CLI_CASES].index(line)
    ran: CommandLines = results["command_lines"]
    result, tmp = ran.results[index], ran.workdir / str(index)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == line.status, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stdout + result.stderr
    for words in line.words:
        assert words.format(tmp=tmp) in lines[0]
    assert (tmp / "corrupt" / "journal.db").read_bytes() == CORRUPT   # read, never written
    assert sorted(p.name for p in (tmp / "corrupt").iterdir()) == ["journal.db"]
    assert not (tmp / "secrets.toml").exists() and not (tmp / "lan").exists()


@scenario
def demo_lan_address(ctx: Ctx) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, "demo", "--headless", "--customers", "1", "--lan-address",
                           "127.0.0.1", "--data-dir", str(ctx.workdir / "demo")],
                          capture_output=True, text=True, timeout=90, check=False)


@uses("demo_lan_address")
def test_demo_with_a_lan_address_sells(results: Results) -> None:
    result: subprocess.CompletedProcess[str] = results["demo_lan_address"]
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    [line] = [json.loads(text) for text in result.stdout.splitlines() if text.startswith("{")]
    assert line["outcome"] == "vended" and line["payment_link"].startswith("http://127.0.0.1:")
