"""Example screenshots of the customer screens, for the README and for reviewing a layout.

    python -m kiosk.ui.gallery docs/screens                     # the README's set
    python -m kiosk.ui.gallery shots --all --size 720x1280      # every screen, every language
    python -m kiosk.ui.gallery shots --all --size 800x480 --rotation 90

Each PNG is what the panel shows (the native surface, rotated like on the machine). Sample
sales are played through the real flow, so the screens show what a customer would see. With
``--all`` the result screens also come once per reason a customer keeps a code
(``...-expired-part_paid.png``), each with the sample operator contact.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from decimal import Decimal
from pathlib import Path

from kiosk.flow import (
    AssetsLoaded,
    CancelPressed,
    ClaimReason,
    CoinChosen,
    Event,
    Flow,
    FlowSettings,
    HardwareChanged,
    ItemChosen,
    KioskState,
    PaymentCreated,
    PaymentUpdate,
    Product,
    Screen,
    StartTapped,
    Tick,
    VendFinished,
    initial_state,
)
from kiosk.payments.base import Asset, PaymentRequest, PaymentState, PaymentStatus
from kiosk.resources import assets_dir

NOW = 1001.0
BTC = Asset("BTC", "Bitcoin", "Bitcoin", "c6d0c728-2624-429b-8e0d-d9d19b6592fa")
USDT = Asset("USDT", "Tether USD", "Ethereum", "4d8c508b-91c5-375b-92b0-ee702ed2dac5")
LINK = "https://mixpay.me/code/8e69e534-d0c4-3e04-8b61-37a73cd9e7d7"
SUPPORT = "+1 555 0142 or help@vending-operator.test"
PRODUCTS = (
    Product("A1", "Sparkling water", Decimal("2.50"), "water.png"),
    Product("A2", "Cola", Decimal("2.00"), "cola.png"),
    Product("A3", "Salted crisps", Decimal("1.75"), "crisps.png"),
    Product("B1", "Dark chocolate with sea salt and caramel pieces", Decimal("3.20"),
            "chocolate.png"),
    Product("B2", "Orange juice", Decimal("2.80"), "juice.png"),
    Product("B3", "Coffee", Decimal("1.50"), "coffee.png"),
)
STOCK = {"A1": 3, "A2": 2, "A3": 0, "B1": 4, "B2": 1, "B3": 5}
Step = Event | tuple[Event, float]     # an event at NOW, or at the time paired with it
TO_QR: tuple[Event, ...] = (
    StartTapped(), ItemChosen("A1"), AssetsLoaded("A1", (BTC, USDT)), CoinChosen(BTC),
    PaymentCreated("tx-1", PaymentRequest("tx-1", LINK, 1120, crypto_amount=Decimal("0.0000412"),
                                          crypto_symbol="BTC")))


def _status(state: PaymentState, **kwargs: object) -> PaymentUpdate:
    return PaymentUpdate("tx-1", PaymentStatus(state, **kwargs))  # type: ignore[arg-type]


SAMPLES: dict[Screen, tuple[Step, ...]] = {
    Screen.ATTRACT: (),
    Screen.CHOOSE_ITEM: (StartTapped(),),
    Screen.CHOOSE_COIN: TO_QR[:3],
    Screen.CREATING_PAYMENT: TO_QR[:4],
    Screen.AWAITING_PAYMENT: TO_QR,
    Screen.CONFIRMING: (*TO_QR, _status(PaymentState.CONFIRMING)),
    Screen.UNDERPAID: (*TO_QR, _status(PaymentState.UNDERPAID, remaining=Decimal("0.0000102"),
                                       paid_symbol="BTC")),
    Screen.VENDING: (*TO_QR, _status(PaymentState.PAID)),
    Screen.THANK_YOU: (*TO_QR, _status(PaymentState.PAID), VendFinished("tx-1", "vended")),
    Screen.VEND_FAILED: (*TO_QR, _status(PaymentState.PAID), VendFinished("tx-1", "jam", True)),
    Screen.PAYMENT_FAILED: (*TO_QR, _status(PaymentState.FAILED, reason="40020")),
    Screen.EXPIRED: (*TO_QR, _status(PaymentState.EXPIRED)),
    Screen.CANCELLED: (*TO_QR, _status(PaymentState.CANCELLED)),
    Screen.OUT_OF_SERVICE: (HardwareChanged("bridge not answering"),),
}
# The result screens' other faces: why the customer keeps a code decides what the screen says.
# (A failed vend is the VEND_FAILED sample itself.)
UNDERPAID = _status(PaymentState.UNDERPAID, remaining=Decimal("0.0000102"), paid_symbol="BTC")
CLAIM_SAMPLES: dict[ClaimReason, tuple[Screen, tuple[Step, ...]]] = {
    ClaimReason.VEND_UNKNOWN: (Screen.VEND_FAILED, (*TO_QR, _status(PaymentState.PAID),
                                                    VendFinished("tx-1", "unknown"))),
    ClaimReason.PART_PAID: (Screen.EXPIRED, (*TO_QR, UNDERPAID, (Tick(), NOW + 200))),
    ClaimReason.MAYBE_PAID: (Screen.CANCELLED, (*TO_QR, CancelPressed())),
    ClaimReason.UNCONFIRMED: (Screen.PAYMENT_FAILED, (*TO_QR, _status(PaymentState.CONFIRMING),
                                                      (Tick(), NOW + 400))),
    ClaimReason.UNVERIFIED: (Screen.PAYMENT_FAILED, (*TO_QR, _status(
        PaymentState.UNVERIFIED, reason="verification failed: payment_amount_asset mismatch"))),
}

# (screen, size, rotation, language) of the README's pictures
README_SET = (
    *((screen, (800, 480), 0, language)
      for language in ("en", "de")
      for screen in (Screen.ATTRACT, Screen.CHOOSE_ITEM, Screen.AWAITING_PAYMENT,
                     Screen.VEND_FAILED)),
    (Screen.AWAITING_PAYMENT, (720, 1280), 0, "en"),
)


def sample_state(screen: Screen, reason: ClaimReason | None = None) -> KioskState:
    """``screen`` after its sample sale; with ``reason``, the sale that ends there with a code
    for that reason."""
    ids = (f"tx-{n}" for n in itertools.count(1))
    flow = Flow(FlowSettings(currency="USD", gateway="mixpay", payment_window_s=120),
                lambda: next(ids))
    state = initial_state(PRODUCTS, STOCK, frozenset(), "", NOW - 1)
    steps = SAMPLES[screen] if reason is None else CLAIM_SAMPLES[reason][1]
    for step in steps:
        event, at = step if isinstance(step, tuple) else (step, NOW)
        state = flow.step(state, event, at).state
    assert state.screen is screen, (screen, state.screen)
    if reason is not None:
        assert state.sale is not None and state.sale.claim_reason is reason, (reason, state.sale)
    return state


def save(directory: Path, screen: Screen, size: tuple[int, int], rotation: int,
         language: str, reason: ClaimReason | None = None) -> Path:
    import pygame

    from kiosk.ui.orientation import Orientation
    from kiosk.ui.screens import View, render

    orientation = Orientation(size, rotation)
    native = pygame.Surface(size)
    logical = orientation.logical_surface(native)
    view = View(currency="USD", images_dir=assets_dir() / "products", machine_id="vm-0042",
                support=SUPPORT)
    render(logical, sample_state(screen, reason), view, NOW, language)
    orientation.present(logical, native)
    suffix = f"-r{rotation}" if rotation else ""
    face = f"-{reason.value}" if reason is not None else ""
    path = directory / f"{size[0]}x{size[1]}{suffix}-{language}-{screen.value}{face}.png"
    directory.mkdir(parents=True, exist_ok=True)
    pygame.image.save(native, str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk.ui.gallery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--all", action="store_true", help="every screen in every language")
    parser.add_argument("--size", default="800x480", help="with --all: WIDTHxHEIGHT")
    parser.add_argument("--rotation", type=int, default=0, choices=(0, 90, 180, 270))
    args = parser.parse_args(argv)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from kiosk.i18n import default_catalogue

    pygame.display.init()
    pygame.font.init()
    if args.all:
        width, height = (int(n) for n in args.size.lower().split("x"))
        faces: list[tuple[Screen, ClaimReason | None]] = [
            *((screen, None) for screen in Screen),
            *((screen, reason) for reason, (screen, _) in CLAIM_SAMPLES.items())]
        wanted = [(screen, (width, height), args.rotation, language, reason)
                  for language in default_catalogue().languages for screen, reason in faces]
    else:
        wanted = [(*sample, None) for sample in README_SET]
    for screen, size, rotation, language, reason in wanted:
        print(save(args.directory, screen, size, rotation, language, reason))
    return 0


if __name__ == "__main__":
    sys.exit(main())
