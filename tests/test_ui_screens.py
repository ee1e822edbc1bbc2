"""Every screen drawn headless at several sizes: targets on screen and large enough, and the QR
code on the payment screen read back by a real decoder."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pygame
import pytest
import zxingcpp
from PIL import Image

from kiosk.flow import (
    AssetsLoaded,
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
    VendFinished,
    initial_state,
)
from kiosk.payments.base import Asset, PaymentRequest, PaymentState, PaymentStatus
from kiosk.resources import assets_dir
from kiosk.ui.screens import View, render

os.environ["SDL_VIDEODRIVER"] = "dummy"
SIZES = [(800, 480), (1024, 600), (1280, 720)]
MIN_TARGET_PX = 48  # about 9 mm on a 7-inch 800x480 panel
BTC = Asset("BTC", "Bitcoin", "Bitcoin", "c6d0c728-2624-429b-8e0d-d9d19b6592fa")
LINK = "https://mixpay.me/code/8e69e534-d0c4-3e04-8b61-37a73cd9e7d7"
PRODUCTS = (Product("A1", "Sparkling water", Decimal("2.50"), "water.png"),
            Product("A2", "An improbably long product name that must wrap", Decimal("12.00"),
                    "cola.png"),
            Product("A3", "Crisps", Decimal("1.75"), "crisps.png"))
VIEW = View(currency="USD", images_dir=assets_dir() / "products")


@pytest.fixture(autouse=True)
def sdl() -> Iterator[None]:
    pygame.display.init()
    pygame.font.init()
    yield
    pygame.display.quit()


def play(*events: Event) -> KioskState:
    ids = (f"tx-{n}" for n in itertools.count(1))
    flow = Flow(FlowSettings(currency="USD", gateway="mixpay", payment_window_s=120),
                lambda: next(ids))
    state = initial_state(PRODUCTS, {"A1": 3, "A2": 1, "A3": 0}, frozenset(), "", 1000.0)
    for event in events:
        state = flow.step(state, event, 1001.0).state
    return state


TO_QR = (StartTapped(), ItemChosen("A1"), AssetsLoaded("A1", (BTC,)), CoinChosen(BTC),
         PaymentCreated("tx-1", PaymentRequest("tx-1", LINK, 1120)))


def status(state: PaymentState, **kwargs: object) -> PaymentUpdate:
    return PaymentUpdate("tx-1", PaymentStatus(state, **kwargs))  # type: ignore[arg-type]


STATES = {
    Screen.ATTRACT: (),
    Screen.CHOOSE_ITEM: (StartTapped(),),
    Screen.CHOOSE_COIN: TO_QR[:3],
    Screen.CREATING_PAYMENT: TO_QR[:4],
    Screen.AWAITING_PAYMENT: TO_QR,
    Screen.CONFIRMING: (*TO_QR, status(PaymentState.CONFIRMING)),
    Screen.UNDERPAID: (*TO_QR, status(PaymentState.UNDERPAID, remaining=Decimal("0.0001"),
                                      paid_symbol="BTC")),
    Screen.VENDING: (*TO_QR, status(PaymentState.PAID)),
    Screen.THANK_YOU: (*TO_QR, status(PaymentState.PAID), VendFinished("tx-1", "vended")),
    Screen.VEND_FAILED: (*TO_QR, status(PaymentState.PAID), VendFinished("tx-1", "jam", True)),
    Screen.PAYMENT_FAILED: (*TO_QR, status(PaymentState.FAILED, reason="40020")),
    Screen.EXPIRED: (*TO_QR, status(PaymentState.EXPIRED)),
    Screen.CANCELLED: (*TO_QR, status(PaymentState.CANCELLED)),
    Screen.OUT_OF_SERVICE: (HardwareChanged("bridge not answering"),),
}


def test_every_screen_is_covered() -> None:
    assert set(STATES) == set(Screen)
    for screen, events in STATES.items():
        assert play(*events).screen is screen


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(Screen), ids=lambda s: s.value)
def test_targets_are_on_screen_and_big_enough(screen: Screen, size: tuple[int, int]) -> None:
    surface = pygame.Surface(size)
    buttons = render(surface, play(*STATES[screen]), VIEW, 1001.0)
    bounds = surface.get_rect()
    for button in buttons:
        assert bounds.contains(button.rect), (button.name, button.rect)
        assert min(button.rect.size) >= MIN_TARGET_PX, (button.name, button.rect.size)
    names = {b.name for b in buttons}
    if screen in (Screen.AWAITING_PAYMENT, Screen.UNDERPAID, Screen.CREATING_PAYMENT):
        assert "cancel" in names
    if screen is Screen.CHOOSE_ITEM:
        assert {"item:A1", "item:A2"} <= names and "item:A3" not in names  # A3 is sold out


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_qr_on_screen_decodes_to_the_payment_link(size: tuple[int, int],
                                                      tmp_path: Path) -> None:
    surface = pygame.Surface(size)
    render(surface, play(*TO_QR), VIEW, 1001.0)
    image = Image.frombytes("RGB", size, pygame.image.tobytes(surface, "RGB"))
    found = zxingcpp.read_barcodes(image)
    assert [code.text for code in found] == [LINK]
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    qr = found[0].position
    side = max(qr.top_right.x - qr.top_left.x, qr.bottom_left.y - qr.top_left.y)
    assert side >= 0.45 * min(size) * 0.8  # the code itself, quiet zone excluded


def test_the_confirming_screen_offers_no_cancel() -> None:
    surface = pygame.Surface((800, 480))
    buttons = render(surface, play(*STATES[Screen.CONFIRMING]), VIEW, 1001.0)
    assert "cancel" not in {b.name for b in buttons}


def test_a_failed_vend_shows_the_claim_code_as_a_readable_qr() -> None:
    state = play(*STATES[Screen.VEND_FAILED])
    assert state.sale is not None
    surface = pygame.Surface((800, 480))
    render(surface, state, replace(VIEW, machine_id="vm-0042"), 1001.0)
    image = Image.frombytes("RGB", (800, 480), pygame.image.tobytes(surface, "RGB"))
    assert [c.text for c in zxingcpp.read_barcodes(image)] == \
        [f"CLAIM {state.sale.claim_code} vm-0042"]
