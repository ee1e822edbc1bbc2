"""Tap on the last choice (the coin) to the payment QR on screen, with a 50 ms gateway.

The real kiosk runs in this process: ``kiosk.session.run_kiosk`` (what ``kiosk run --headless``
calls) with a config loaded by ``kiosk.config.load_config``, so the real ``KioskApp`` main loop
runs on SDL's dummy video driver at 1280x720 (rotation 0). The gateway sandbox runs in a
separate process (``bench/sandbox_server.py``) and answers every MixPay API call after
``--gateway-ms`` (50 ms by default), on 127.0.0.1.

An autopilot (the product's, with one change) plays customers: it taps start and an item as
usual; on the coin screen a timer thread taps the first coin at a random moment (uniform over
one main-loop period, like a finger that does not know when the loop wakes up) by posting
``MOUSEBUTTONDOWN``/``MOUSEBUTTONUP`` to SDL's queue. Each payment is then paid at the sandbox,
so no sale is left for the watcher to poll afterwards.

Timestamps (``time.monotonic()``, shared with the sandbox process) are taken by wrapping, inside
this process only, what ``kiosk.session.build_gateway`` and ``kiosk.session.build_runtime``
return and two functions the main loop looks up at call time: ``Runtime.post`` (the tap turned
into ``CoinChosen``; ``PaymentCreated``), ``Gateway.create``, ``Runtime.pump`` (the state first
shows AWAITING_PAYMENT), ``kiosk.ui.app.render`` and ``pygame.display.flip`` (the first flip
with the QR screen). The figure is tap posted -> that flip returned.

Limitations: the dummy driver's flip does not wait for a display refresh, so on a real panel add
up to one refresh interval (16.7 ms at 60 Hz); the journal's fsyncs happen on this machine's
temporary directory, not on an SD card; a synthetic SDL mouse event skips the kernel's and
SDL's touch input path (evdev read, a few ms at most).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from _common import (  # noqa: E402  (after the SDL environment is set)
    Metric,
    base_parser,
    fmt,
    percentile,
    report,
    sandbox_process,
    write_config,
)

import httpx  # noqa: E402
import pygame  # noqa: E402

from kiosk import session  # noqa: E402
from kiosk.autopilot import Autopilot  # noqa: E402
from kiosk.config import load_config  # noqa: E402
from kiosk.flow import CoinChosen, KioskState, PaymentCreated, Screen  # noqa: E402
from kiosk.payments.base import Order, PaymentRequest  # noqa: E402
from kiosk.ui import app as app_module  # noqa: E402
from kiosk.ui.widgets import Button  # noqa: E402

TITLE = "tap to QR: the coin tap to the payment QR flipped on screen"
CREATE_PATH = "/mixpay/v1/one_time_payment"


@dataclass
class Trial:
    tap: float
    marks: dict[str, float] = field(default_factory=dict)
    render: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.monotonic())  # the first occurrence counts


class Timeline:
    def __init__(self) -> None:
        self.trials: list[Trial] = []
        self.lock = threading.Lock()

    def tapped(self, at: float) -> None:
        with self.lock:
            self.trials.append(Trial(at))

    def mark(self, name: str) -> None:
        with self.lock:
            if self.trials and "flip" not in self.trials[-1].marks:
                self.trials[-1].mark(name)

    def note_render(self, wall_ms: float, cpu_ms: float) -> None:
        """The first QR frame's render: wall time and the main thread's own CPU time."""
        with self.lock:
            if self.trials and "flip" not in self.trials[-1].marks:
                self.trials[-1].render.setdefault("wall", wall_ms)
                self.trials[-1].render.setdefault("cpu", cpu_ms)


class CoinTapper(Autopilot):
    """The product's autopilot, except that the coin is tapped from a timer thread at a random
    phase of the main loop, and the moment of that tap is recorded."""

    def __init__(self, customers: int, timeline: Timeline,
                 on_payment_shown: Callable[[int, Order, PaymentRequest], None]) -> None:
        super().__init__(customers, on_payment_shown=on_payment_shown)
        self._timeline = timeline
        self._tapped_for = -1
        self.timers: list[threading.Timer] = []

    def choose(self, state: KioskState, buttons: list[Button], now: float) -> Button | None:
        if state.screen is not Screen.CHOOSE_COIN:
            return super().choose(state, buttons, now)
        customer = self.started - 1
        coin = next((b for b in buttons if b.name.startswith("coin:")), None)
        if coin is None or self._tapped_for == customer or now - state.screen_since < 0.25:
            return None
        self._tapped_for = customer
        timer = threading.Timer(random.uniform(0, app_module.ACTIVE_FRAME_S), self._tap,
                                args=(coin.rect.center,))
        self.timers.append(timer)
        timer.start()
        return None

    def _tap(self, position: tuple[int, int]) -> None:
        # Button rects are logical coordinates; with rotation 0 (this config) they are the
        # panel's. SDL's event queue takes pushes from any thread.
        self._timeline.tapped(time.monotonic())
        for kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
            pygame.event.post(pygame.event.Event(kind, pos=position, button=1, touch=False))


def instrument(runtime: Any, gateway: Any, timeline: Timeline) -> Callable[[], None]:
    """Wrap the product's seams in this process; returns a function that undoes it."""
    post, pump, create = runtime.post, runtime.pump, gateway.create
    render, flip = app_module.render, pygame.display.flip

    def timed_post(event: Any) -> None:
        if isinstance(event, CoinChosen):
            timeline.mark("handled")
        elif isinstance(event, PaymentCreated):
            timeline.mark("created_posted")
        post(event)

    def timed_pump(now: float | None = None) -> bool:
        changed = pump(now)
        if runtime.state.screen is Screen.AWAITING_PAYMENT:
            timeline.mark("state")
        return changed

    def timed_create(order: Order) -> PaymentRequest:
        timeline.mark("create_start")
        try:
            return create(order)
        finally:
            timeline.mark("create_end")

    def timed_render(surface: Any, state: KioskState, *args: Any, **kwargs: Any) -> Any:
        if state.screen is not Screen.AWAITING_PAYMENT:
            return render(surface, state, *args, **kwargs)
        timeline.mark("render_start")
        wall, cpu = time.monotonic(), time.thread_time()
        try:
            return render(surface, state, *args, **kwargs)
        finally:
            timeline.note_render(1000 * (time.monotonic() - wall),
                                 1000 * (time.thread_time() - cpu))

    def timed_flip() -> None:
        flip()
        if runtime.state.screen is Screen.AWAITING_PAYMENT:
            timeline.mark("flip")

    runtime.post, runtime.pump, gateway.create = timed_post, timed_pump, timed_create
    app_module.render, pygame.display.flip = timed_render, timed_flip  # type: ignore[assignment]

    def undo() -> None:
        app_module.render, pygame.display.flip = render, flip  # type: ignore[assignment]
        for obj, name in ((runtime, "post"), (runtime, "pump"), (gateway, "create")):
            vars(obj).pop(name, None)
    return undo


def fs_type(path: Path) -> str:
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fstype = line.split()[:3]
            if path.is_relative_to(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return f"{kind} at {best or '?'}"


def run(trials: int, gateway_ms: float, size: tuple[int, int]) -> tuple[list[Trial],
                                                                        list[dict[str, Any]],
                                                                        str]:
    """Serve ``trials`` customers through ``kiosk.session.run_kiosk``, the function behind
    ``kiosk run``; only its two factories are wrapped, to instrument what they build."""
    timeline = Timeline()
    built: dict[str, Any] = {}
    real_build_gateway, real_build_runtime = session.build_gateway, session.build_runtime

    def build_gateway(config: Any) -> Any:
        built["gateway"] = real_build_gateway(config)
        return built["gateway"]

    def build_runtime(*args: Any, **kwargs: Any) -> Any:
        runtime = real_build_runtime(*args, **kwargs)   # given the gateway built above
        built["undo"] = instrument(runtime, built["gateway"], timeline)
        return runtime

    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as tmp, \
            sandbox_process(gateway_ms) as sandbox, httpx.Client(timeout=10) as phone:
        config = load_config(write_config(Path(tmp), sandbox, width=size[0], height=size[1],
                                          timeout_s=120))

        def pay(customer: int, order: Order, request: PaymentRequest) -> None:
            def go() -> None:
                phone.post(f"{request.link}/pay").raise_for_status()
            threading.Thread(target=go, daemon=True).start()

        autopilot = CoinTapper(trials, timeline, pay)
        session.build_gateway, session.build_runtime = build_gateway, build_runtime
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # its one JSON line per sale
                finished = session.run_kiosk(config, headless=True, autopilot=autopilot,
                                             max_run_s=20 + 15 * trials)
        finally:
            session.build_gateway, session.build_runtime = real_build_gateway, \
                real_build_runtime
            if "undo" in built:
                built["undo"]()
            for timer in autopilot.timers:
                timer.cancel()
        if not finished:
            raise RuntimeError(f"the kiosk gave up before {trials} customers were served")
        time.sleep(0.2)  # the sandbox's last timeline lines
        requests = sandbox.drain()
        where = fs_type(Path(tmp))
    return timeline.trials, requests, where


SEGMENTS = (
    ("input wait (tap -> main loop reads it)", "tap", "handled"),
    ("journal begin + machine health (-> create call)", "handled", "create_start"),
    ("gateway create call (client side)", "create_start", "create_end"),
    ("journal payment_created + post", "create_end", "created_posted"),
    ("wait for the main loop (-> pump sees it)", "created_posted", "state"),
    ("render QR screen + flip", "state", "flip"),
)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--trials", type=int, help="customers to time (default 10)")
    parser.add_argument("--gateway-ms", type=float, default=50.0,
                        help="how long the sandbox takes to answer each API call (default 50)")
    parser.add_argument("--size", default="1280x720", help="screen size (default 1280x720)")
    parser.add_argument("--seed", type=int, default=1, help="tap phase randomness (default 1)")
    args = parser.parse_args(argv)
    random.seed(args.seed)
    trials_wanted = args.trials or (2 if args.quick else 10)
    width, height = (int(v) for v in args.size.lower().split("x"))

    trials, requests, where = run(trials_wanted, args.gateway_ms, (width, height))
    complete = [t for t in trials if {"handled", "flip"} <= t.marks.keys()]
    totals = [1000 * (t.marks["flip"] - t.tap) for t in complete]
    creates = [r for r in requests if r.get("path") == CREATE_PATH]
    server_ms = [1000 * (r["answered"] - r["arrived"]) for r in creates]

    metrics = [Metric("tap_to_qr_ms", "tap on coin to QR on screen", "ms", totals, 300.0,
                      note=f"gateway answers in {fmt(args.gateway_ms)} ms; tap at a random "
                           "phase of the main loop; flip on SDL's dummy driver (no vsync)"),
               Metric("tap_to_qr_max_ms", "tap on coin to QR on screen, worst", "ms", totals,
                      stat="max"),
               Metric("gateway_create_server_ms", "gateway create, server side", "ms",
                      server_ms)]
    details = []
    for label, start, end in SEGMENTS:
        spans = [1000 * (t.marks[end] - (t.tap if start == "tap" else t.marks[start]))
                 for t in complete if end in t.marks and (start == "tap" or start in t.marks)]
        if spans:
            ordered = sorted(spans)
            details.append(f"  {label}: median {fmt(statistics.median(ordered))} ms, "
                           f"p95 {fmt(percentile(ordered, 95))} ms, max {fmt(ordered[-1])} ms")
    renders = [t.render for t in complete if {"wall", "cpu"} <= t.render.keys()]
    if renders:
        details.append("  of which render() of the QR screen: median "
                       f"{fmt(statistics.median(r['wall'] for r in renders))} ms wall, "
                       f"{fmt(statistics.median(r['cpu'] for r in renders))} ms of the main "
                       "thread's own CPU time (the rest: waiting for the GIL or a core)")
    if details:
        details.insert(0, f"where the time goes ({len(complete)} trials):")
    details.append(f"journal on {where}; main loop period while in use ACTIVE_FRAME_S = "
                   f"{fmt(1000 * app_module.ACTIVE_FRAME_S)} ms; {width}x{height}")
    if len(complete) < len(trials) or len(trials) < trials_wanted:
        details.append(f"WARNING: only {len(complete)} of {trials_wanted} trials complete")
    details.append("trials (ms): " + ", ".join(fmt(v) for v in totals))
    report(TITLE, metrics, details, args.json)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
