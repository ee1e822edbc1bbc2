"""Frame time: the product's screens drawn by ``kiosk.ui.screens.render`` plus
``pygame.display.flip()`` at 1280x720 on SDL's dummy video driver, in this process.

- the animated attract screen (the pulsing "Touch to start" button): a few hundred consecutive
  frames, the clock advancing 1/30 s per frame so the pulse really changes; after a few warm-up
  frames (fonts are cached on first use). The target is held against the 95th percentile;
  median and worst are shown too.
- the payment (QR) screen, which the main loop redraws once a second for its countdown: the
  cost of one such redraw, and of building the QR surface alone (``kiosk.ui.qr.qr_surface``,
  which the screen calls on every redraw; uncached, and the first QR frame with any cache
  cleared).

The states come from the real flow (``kiosk.flow.Flow``) fed the events a customer causes.
On the dummy driver a flip copies nothing to a panel and never waits for vsync; on a Pi the
KMSDRM flip adds a copy of the frame, and a Pi core is several times slower than this one.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time
from decimal import Decimal

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from _common import Metric, base_parser, fmt, percentile, report  # noqa: E402

import pygame  # noqa: E402

from kiosk.flow import (  # noqa: E402
    AssetsLoaded,
    CoinChosen,
    Flow,
    FlowSettings,
    ItemChosen,
    KioskState,
    PaymentCreated,
    Product,
    Screen,
    StartTapped,
    initial_state,
)
from kiosk.payments.base import Asset, PaymentRequest  # noqa: E402
from kiosk.resources import assets_dir  # noqa: E402
from kiosk.ui.qr import qr_surface  # noqa: E402
from kiosk.ui.screens import View, render  # noqa: E402

TITLE = "frame time: render + flip at 1280x720 on SDL's dummy driver"
T0 = 1_700_000_000.0
BTC = Asset("BTC", "Bitcoin", "Bitcoin", "c6d0c728-2624-429b-8e0d-d9d19b6592fa")
LINK = "https://mixpay.me/code/8e69e534-d0c4-3e04-8b61-37a73cd9e7d7"  # a production-length link
PRODUCTS = (Product("A1", "Sparkling water", Decimal("2.50"), "water.png"),
            Product("A2", "Cola", Decimal("2.00"), "cola.png"),
            Product("A3", "Crisps", Decimal("1.75"), "crisps.png"),
            Product("A4", "Chocolate", Decimal("1.50"), "chocolate.png"))
VIEW = View(currency="USD", images_dir=assets_dir() / "products", machine_id="bench-0001")
WARMUP = 5


def attract_state() -> KioskState:
    return initial_state(PRODUCTS, {p.slot_id: 5 for p in PRODUCTS}, frozenset(), "", T0)


def qr_state() -> KioskState:
    ids = (f"tx-{n}" for n in itertools.count(1))
    flow = Flow(FlowSettings(currency="USD", gateway="mixpay", payment_window_s=180),
                lambda: next(ids))
    state = attract_state()
    for event in (StartTapped(), ItemChosen("A1"), AssetsLoaded("A1", (BTC,)), CoinChosen(BTC),
                  PaymentCreated("tx-1", PaymentRequest("tx-1", LINK, int(T0) + 180))):
        state = flow.step(state, event, T0).state
    assert state.screen is Screen.AWAITING_PAYMENT, state.screen
    return state


def time_frames(surface: pygame.Surface, state: KioskState, count: int,
                step_s: float) -> tuple[list[float], list[float], list[float]]:
    """Per frame: total, render and flip milliseconds (the first WARMUP frames excluded)."""
    total, rendering, flipping = [], [], []
    for index in range(WARMUP + count):
        now = T0 + index * step_s
        start = time.perf_counter()
        render(surface, state, VIEW, now)
        drawn = time.perf_counter()
        pygame.display.flip()
        done = time.perf_counter()
        if index >= WARMUP:
            total.append(1000 * (done - start))
            rendering.append(1000 * (drawn - start))
            flipping.append(1000 * (done - drawn))
    return total, rendering, flipping


def clear_qr_cache() -> None:
    clear = getattr(qr_surface, "cache_clear", None)
    if clear is not None:
        clear()


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    return (f"{name}: median {fmt(statistics.median(ordered))} ms, p95 "
            f"{fmt(percentile(ordered, 95))} ms, max {fmt(ordered[-1])} ms over {len(ordered)}")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--frames", type=int, help="attract frames to time (default 300)")
    parser.add_argument("--qr-redraws", type=int, help="QR screen redraws to time (default 30)")
    parser.add_argument("--size", default="1280x720", help="screen size (default 1280x720)")
    args = parser.parse_args(argv)
    frames = args.frames or (30 if args.quick else 300)
    redraws = args.qr_redraws or (5 if args.quick else 30)
    width, height = (int(v) for v in args.size.lower().split("x"))

    pygame.display.init()
    pygame.font.init()
    try:
        surface = pygame.display.set_mode((width, height))
        cold = time.perf_counter()
        render(surface, attract_state(), VIEW, T0)
        pygame.display.flip()
        first_ms = 1000 * (time.perf_counter() - cold)
        attract, attract_render, attract_flip = time_frames(surface, attract_state(), frames,
                                                            1 / 30)
        qr, qr_render, _ = time_frames(surface, qr_state(), redraws, 1.0)
        first_qr = []   # the frame a customer waits for: the QR built from scratch
        for index in range(redraws):
            clear_qr_cache()
            start = time.perf_counter()
            render(surface, qr_state(), VIEW, T0 + index)
            pygame.display.flip()
            first_qr.append(1000 * (time.perf_counter() - start))
        build = getattr(qr_surface, "__wrapped__", qr_surface)   # past any cache
        codes = []
        side = min(width, height) * 8 // 10
        for _ in range(redraws):
            start = time.perf_counter()
            build(LINK, side)
            codes.append(1000 * (time.perf_counter() - start))
        driver = pygame.display.get_driver()
    finally:
        pygame.display.quit()

    cached = hasattr(qr_surface, "cache_clear")
    metrics = [
        Metric("frame_attract_p95_ms", "frame time, animated attract (p95)", "ms", attract, 8.0,
               stat="p95", note="render + flip per frame; the 8 ms target held against p95"),
        Metric("frame_attract_median_ms", "frame time, animated attract (median)", "ms",
               attract),
        Metric("frame_attract_max_ms", "frame time, animated attract (worst)", "ms", attract,
               stat="max"),
        Metric("qr_first_frame_ms", "QR screen, first frame (QR built)", "ms", first_qr,
               note="render + flip of the payment screen with the QR made from scratch, as "
                    "after a tap on a coin"),
        Metric("qr_redraw_ms", "QR screen redraw (once a second)", "ms", qr,
               note="render + flip of the payment screen for its countdown; "
                    + ("kiosk.ui.qr.qr_surface caches the QR between redraws"
                       if cached else "the QR is rebuilt on every redraw")),
        Metric("qr_surface_ms", "building the QR surface alone (uncached)", "ms", codes),
    ]
    attract_ms = statistics.median(attract)
    details = [summary("attract render", attract_render),
               summary("attract flip", attract_flip),
               summary("QR screen render", qr_render),
               f"first attract frame with cold caches: {fmt(first_ms)} ms",
               f"at the main loop's pace that is about {fmt(attract_ms * 10 / 10)}% of a core "
               f"for the attract screen's 10 redraws a second and "
               f"{fmt(statistics.median(qr) / 10)}% for the QR screen's one a second",
               f"video driver {driver}, {width}x{height}, pygame-ce {pygame.version.ver}, "
               f"SDL {'.'.join(map(str, pygame.get_sdl_version()))}"]
    report(TITLE, metrics, details, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
