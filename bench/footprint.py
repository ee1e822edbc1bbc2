"""Footprint of the real kiosk, measured from the outside: cold start, idle CPU and PSS.

Starts ``python -m kiosk run --headless`` as a subprocess (SDL's dummy video driver) with a config
written to a temporary directory: MixPay pointed at the gateway sandbox (in its own process,
127.0.0.1 only), the simulated vend driver, a 1280x720 screen by default.

- cold start to first frame: from spawning the process to ``READY=1`` arriving on the
  ``NOTIFY_SOCKET`` datagram socket this script binds (the kiosk sends it right after the first
  ``pygame.display.flip()``). That first frame is the "starting up" screen; the attract screen
  follows once the journal has been read (reported for information, from its screenshot
  appearing, which is written asynchronously: an upper bound). The attract runs use
  ``--screenshots`` for that (one PNG, about 1 MB of heap).
- idle on the attract screen: once ``NNNN-attract.png`` appears and a settling pause passed,
  CPU % of one core over a window from ``/proc/<pid>/stat`` (utime+stime in clock ticks; the
  per-thread ``schedstat`` figure, nanosecond resolution, is shown beside it), context switches
  per second of all threads (wake-ups) and PSS from ``/proc/<pid>/smaps_rollup``.
- idle on the QR screen: the same with ``--autopilot 1``, which taps start, an item and a coin
  and then waits on the payment screen (nobody pays, ``timeout_s = 600``). Arrival is seen at
  the gateway: the sandbox reports the payment's first status poll, which the kiosk sends as
  the QR screen's state is posted, one main-loop period before the QR is flipped. That run has
  no ``--screenshots``: encoding five 1280x720 PNGs on the way leaves about 7 MB of heap behind,
  which a production kiosk never has. ``--qr-arrival screenshot`` waits for
  ``NNNN-awaiting_payment.png`` instead. The gateway status polls (every 2 s, the MixPay pace)
  are part of what is measured.

Each measurement is repeated in a fresh process; the table shows the median and the spread.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import (
    PYTHON,
    REPO,
    CpuWindow,
    Metric,
    SandboxProcess,
    base_parser,
    fmt,
    measure_cpu,
    memory_kb,
    report,
    sandbox_process,
    write_config,
)

TITLE = "footprint: cold start, idle CPU and PSS of `kiosk run --headless`"
STATUS_PATH = "/v1/payments_result"
START_TIMEOUT_S = 30.0
ARRIVAL_TIMEOUT_S = 30.0


@dataclass
class Run:
    screen: str                       # "attract" | "qr"
    ready_s: float                    # spawn -> READY=1
    arrived_s: float                  # spawn -> the screen's screenshot file exists
    window: CpuWindow
    pss_mb: float
    memory_kb: dict[str, int]
    threads: int


class KioskProcess:
    """One ``kiosk run --headless`` with its own notify socket and screenshots directory."""

    def __init__(self, config: Path, workdir: Path, autopilot: bool,
                 screenshots: bool = True) -> None:
        self.shots = workdir / "shots"
        self.notify_path = workdir / "notify.sock"
        self.notify_path.unlink(missing_ok=True)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(self.notify_path))
        self.log_path = workdir / "kiosk.log"
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify_path), "SDL_VIDEODRIVER": "dummy",
               "SDL_AUDIODRIVER": "dummy"}
        env.pop("WATCHDOG_USEC", None)  # no watchdog pings: the idle figure is the kiosk's own
        args = [PYTHON, "-m", "kiosk", "run", "--config", str(config), "--headless"]
        if screenshots:
            args += ["--screenshots", str(self.shots)]
        if autopilot:
            args += ["--autopilot", "1"]
        self._log = self.log_path.open("wb")
        self.spawned = time.monotonic()
        self.process = subprocess.Popen(args, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> float:
        """Seconds from spawn to READY=1."""
        deadline = self.spawned + START_TIMEOUT_S
        self._notify.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                message = self._notify.recv(4096)
            except TimeoutError:
                self.check_alive()
                continue
            if b"READY=1" in message.split(b"\n"):
                return time.monotonic() - self.spawned
        raise RuntimeError(f"no READY=1 within {START_TIMEOUT_S:.0f} s; {self.tail()}")

    def wait_screenshot(self, suffix: str) -> float:
        """Seconds from spawn until a screenshot of this screen exists (an upper bound)."""
        deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.shots.is_dir() and any(p.name.endswith(suffix) for p in self.shots.iterdir()):
                return time.monotonic() - self.spawned
            self.check_alive()
            time.sleep(0.01)
        raise RuntimeError(f"no *{suffix} screenshot within {ARRIVAL_TIMEOUT_S:.0f} s; "
                           f"{self.tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)   # the kiosk closes its journal cleanly
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._notify.close()
        self._log.close()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the kiosk exited with {self.process.returncode}; {self.tail()}")

    def tail(self) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return "kiosk log tail:\n" + "\n".join(text.splitlines()[-15:])


def wait_first_poll(kiosk: KioskProcess, sandbox: SandboxProcess) -> float:
    """Seconds from spawn until the gateway sees the first status poll of the payment: the
    watcher starts polling as the QR screen's state is posted, one loop period before the
    QR is flipped."""
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while time.monotonic() < deadline:
        for request in sandbox.drain():
            if request.get("path", "").endswith(STATUS_PATH):
                return float(request["arrived"]) - kiosk.spawned
        kiosk.check_alive()
        time.sleep(0.01)
    raise RuntimeError(f"no status poll within {ARRIVAL_TIMEOUT_S:.0f} s; {kiosk.tail()}")


def measure_once(screen: str, sandbox_delay_ms: float, size: tuple[int, int], settle_s: float,
                 window_s: float, qr_arrival: str) -> Run:
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as tmp, \
            sandbox_process(sandbox_delay_ms) as sandbox:
        workdir = Path(tmp)
        config = write_config(workdir, sandbox, width=size[0], height=size[1], timeout_s=600)
        shots = screen == "attract" or qr_arrival == "screenshot"
        kiosk = KioskProcess(config, workdir, autopilot=screen == "qr", screenshots=shots)
        try:
            ready = kiosk.wait_ready()
            if screen == "attract":
                arrived = kiosk.wait_screenshot("-attract.png")
            elif qr_arrival == "screenshot":
                arrived = kiosk.wait_screenshot("-awaiting_payment.png")
            else:
                arrived = wait_first_poll(kiosk, sandbox)
            time.sleep(settle_s)
            window = measure_cpu(kiosk.pid, window_s)
            memory = memory_kb(kiosk.pid)
            threads = len(os.listdir(f"/proc/{kiosk.pid}/task"))
            kiosk.process.poll()
            if kiosk.process.returncode is not None:
                raise RuntimeError("the kiosk exited while being measured")
        finally:
            kiosk.stop()
            sandbox.drain()
    return Run(screen, ready, arrived, window, memory["Pss"] / 1024, memory, threads)


def describe(index: int, run: Run) -> str:
    w = run.window
    busiest = sorted(w.threads, key=lambda t: -t[1])
    main_cpu_ms = 10 * sum(pct for name, pct, _ in w.threads if name == "main")  # ms per s
    main_wakeups = sum(sw for name, _, sw in w.threads if name == "main")

    def mb(key: str) -> str:
        return fmt(run.memory_kb[key] / 1024)

    per_thread = ", ".join(f"{name} {fmt(pct)}% {fmt(sw)}/s" for name, pct, sw in busiest
                           if pct >= 0.005 or sw >= 0.5)
    return (f"{run.screen} run {index}: READY {fmt(run.ready_s)} s, on screen by "
            f"{fmt(run.arrived_s)} s; over {fmt(w.seconds)} s: CPU {fmt(w.cpu_pct)}% "
            f"(schedstat {fmt(w.cpu_pct_schedstat)}%), {fmt(w.wakeups_per_s)} context "
            f"switches/s, PSS {fmt(run.pss_mb)} MB (anon {mb('Pss_Anon')}, file "
            f"{mb('Pss_File')}), RSS {mb('Rss')} MB, USS {mb('Private')} MB, "
            f"{run.threads} threads; main thread "
            f"{fmt(main_cpu_ms / max(main_wakeups, 1e-9))} ms CPU per wake-up; "
            f"per thread: {per_thread or 'none measurable'}")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--repeats", type=int, help="fresh processes per screen (default 3)")
    parser.add_argument("--window", type=float, help="seconds of CPU measurement (default 8)")
    parser.add_argument("--settle", type=float, help="seconds after arrival before measuring "
                        "(default 2)")
    parser.add_argument("--size", default="1280x720", help="screen size (default 1280x720)")
    parser.add_argument("--gateway-ms", type=float, default=50.0,
                        help="sandbox API answer delay (default 50)")
    parser.add_argument("--screens", default="attract,qr",
                        help="comma-separated: attract, qr (default both)")
    parser.add_argument("--qr-arrival", choices=["gateway", "screenshot"], default="gateway",
                        help="how arrival on the QR screen is seen: the gateway's first status "
                             "poll (default; no screenshots, whose PNG encoding leaves about 7 "
                             "MB behind) or the NNNN-awaiting_payment.png screenshot")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    window_s = args.window or (1.0 if args.quick else 8.0)
    settle_s = args.settle if args.settle is not None else (0.5 if args.quick else 2.0)
    width, height = (int(v) for v in args.size.lower().split("x"))
    screens = [s.strip() for s in args.screens.split(",") if s.strip()]

    runs: list[Run] = []
    for _ in range(repeats):
        for screen in screens:  # alternate, so a drift of the machine affects both alike
            runs.append(measure_once(screen, args.gateway_ms, (width, height), settle_s,
                                     window_s, args.qr_arrival))

    def samples(screen: str, attr: str) -> list[float]:
        return [getattr(r, attr) if attr != "cpu" else r.window.cpu_pct
                for r in runs if r.screen == screen]

    metrics = [Metric("cold_start_first_frame_s", "cold start to first frame (READY=1)", "s",
                      [r.ready_s for r in runs], 1.0,
                      note="spawn of `python -m kiosk run` to READY=1 on NOTIFY_SOCKET; the "
                           "first frame is the 'starting up' screen"),
               Metric("cold_start_attract_s", "cold start to attract screen shot (upper bound)",
                      "s", samples("attract", "arrived_s"))]
    for screen, name in (("attract", "attract screen"), ("qr", "QR screen")):
        if screen not in screens:
            continue
        metrics += [
            Metric(f"idle_cpu_{screen}_pct", f"idle CPU, {name}", "%", samples(screen, "cpu"),
                   0.5, note="% of one core, utime+stime from /proc/<pid>/stat"),
            Metric(f"idle_cpu_{screen}_schedstat_pct", f"idle CPU, {name} (schedstat)", "%",
                   [r.window.cpu_pct_schedstat for r in runs if r.screen == screen],
                   note="the same from every thread's /proc/<pid>/task/<tid>/schedstat (ns)"),
            Metric(f"pss_{screen}_mb", f"PSS, {name}", "MB", samples(screen, "pss_mb"), 60.0),
            Metric(f"rss_{screen}_mb", f"RSS, {name}", "MB",
                   [r.memory_kb["Rss"] / 1024 for r in runs if r.screen == screen],
                   note="what PSS becomes when no other process shares the libraries, as on "
                        "a kiosk where this is the only Python process"),
            Metric(f"wakeups_{screen}_per_s", f"context switches/s, {name}", "/s",
                   [r.window.wakeups_per_s for r in runs if r.screen == screen]),
        ]
    details = [describe(i + 1, r) for i, r in enumerate(runs)]
    details.append(f"QR screen arrival seen by: {args.qr_arrival}; attract arrival by its "
                   "screenshot (--screenshots on for the attract runs)")
    details.append(f"settle {fmt(settle_s)} s, window {fmt(window_s)} s, {width}x{height}, "
                   f"gateway answers in {fmt(args.gateway_ms)} ms; medians: "
                   + ", ".join(f"{s} CPU {fmt(statistics.median(samples(s, 'cpu')))}%"
                               for s in screens))
    report(TITLE, metrics, details, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
