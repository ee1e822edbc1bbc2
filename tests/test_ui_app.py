"""The app loop on the dummy SDL driver, with the real flow behind a minimal runtime: taps through
SDL events on a rotated panel, the language button, and the language going back to the machine's
locale for the next customer."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pygame
import pytest

from kiosk.autopilot import Autopilot
from kiosk.flow import (
    AssetsLoaded,
    Dropped,
    Event,
    Flow,
    FlowSettings,
    KioskState,
    PaymentCreated,
    PaymentUpdate,
    Product,
    Screen,
    Tick,
    VendFinished,
    initial_state,
)
from kiosk.i18n import default_catalogue
from kiosk.payments.base import Asset, PaymentRequest, PaymentState, PaymentStatus
from kiosk.resources import assets_dir
from kiosk.sdnotify import Notifier
from kiosk.ui.app import STOP_MARGIN_S, DisplayOptions, KioskApp
from kiosk.ui.screens import View
from kiosk.ui.widgets import Button, record_text

os.environ["SDL_VIDEODRIVER"] = "dummy"
BTC = Asset("BTC", "Bitcoin", "Bitcoin", "c6d0c728-2624-429b-8e0d-d9d19b6592fa")
LINK = "https://mixpay.me/code/8e69e534-d0c4-3e04-8b61-37a73cd9e7d7"
PRODUCTS = (Product("A1", "Sparkling water", Decimal("2.50"), "water.png"),
            Product("A2", "Cola", Decimal("2.00"), "cola.png"),
            Product("A3", "Crisps", Decimal("1.75"), "crisps.png"))
TEXTS = {code: default_catalogue().with_language(code) for code in ("en", "es", "de")}
IDLE_S = 45.0


class FlowRuntime:
    """What the app needs of ``Runtime``: the real flow, no workers (effects are dropped)."""

    def __init__(self, now: float) -> None:
        ids = (f"tx-{n}" for n in itertools.count(1))
        self.flow = Flow(FlowSettings(currency="USD", gateway="mixpay", payment_window_s=120,
                                      idle_timeout_s=IDLE_S), lambda: next(ids))
        self.state: KioskState = initial_state(PRODUCTS, {"A1": 3, "A2": 2, "A3": 1},
                                               frozenset(), "", now)
        self.posted: list[Event] = []
        self._queue: list[Event] = []

    def post(self, event: Event) -> None:
        self.posted.append(event)
        self._queue.append(event)

    def alive(self) -> bool:
        return True

    def pump(self, now: float) -> bool:
        before = self.state
        queue, self._queue = self._queue, []
        for event in [*queue, Tick()]:
            self.state = self.flow.step(self.state, event, now).state
        return self.state is not before


class Kiosk:
    """An app opened on the dummy driver, stepped frame by frame with a clock we move."""

    def __init__(self, rotation: int = 0, locale: str = "en", size: tuple[int, int] = (800, 480),
                 autopilot: Autopilot | None = None, screenshots: Path | None = None) -> None:
        self.now = 1000.0
        self.runtime = FlowRuntime(self.now)
        view = View(currency="USD", images_dir=assets_dir() / "products", locale=locale)
        options = DisplayOptions(width=size[0], height=size[1], fullscreen=False, headless=True,
                                 rotation=rotation)
        self.app = KioskApp(self.runtime, view, options,  # type: ignore[arg-type]
                            autopilot=autopilot, clock=lambda: self.now,
                            screenshots_dir=screenshots)
        self.app.open()
        self.size = size
        self.texts: list[str] = []
        self.frame()

    def frame(self, after_s: float = 0.1) -> bool:
        self.now += after_s
        with record_text() as drawn:
            going = self.app.frame(self.now)
        if drawn:
            self.texts = [t.text for t in drawn]
        return going

    def button(self, name: str) -> Button:
        return next(b for b in self.app.buttons if b.name == name)

    def touch(self, name: str) -> None:
        """A finger on the panel where the button shows, through SDL and the app's adapter."""
        x, y = self.app.orientation.to_native(self.button(name).rect.center)
        pygame.event.post(pygame.event.Event(
            pygame.FINGERDOWN, x=(x + 0.5) / self.size[0], y=(y + 0.5) / self.size[1],
            touch_id=1, finger_id=0, dx=0.0, dy=0.0, pressure=1.0))
        self.frame(0.5)  # past the debounce

    def feed(self, *events: Event) -> None:
        for event in events:
            self.runtime.post(event)
        self.frame()

    @property
    def screen(self) -> Screen:
        return self.runtime.state.screen


@pytest.fixture(autouse=True)
def sdl() -> Iterator[None]:
    yield
    pygame.display.quit()


def sell(kiosk: Kiosk) -> None:
    """From the item list to the thank-you screen and back to attract with Done."""
    kiosk.touch("item:A1")
    kiosk.feed(AssetsLoaded("A1", (BTC,)))
    kiosk.touch("coin:BTC")
    kiosk.feed(PaymentCreated("tx-1", PaymentRequest("tx-1", LINK, int(kiosk.now) + 120)))
    assert kiosk.screen is Screen.AWAITING_PAYMENT
    kiosk.feed(PaymentUpdate("tx-1", PaymentStatus(PaymentState.PAID)))
    kiosk.feed(VendFinished("tx-1", Dropped.YES))
    assert kiosk.screen is Screen.THANK_YOU
    kiosk.touch("done")
    assert kiosk.screen is Screen.ATTRACT


@pytest.mark.parametrize("rotation", [0, 90, 270])
def test_the_language_button_switches_to_spanish_then_german_and_a_sale_resets_it(
        rotation: int) -> None:
    kiosk = Kiosk(rotation=rotation)
    assert kiosk.app.language == "en" and TEXTS["en"].text("attract.title") in kiosk.texts
    kiosk.touch("language")
    assert kiosk.app.language == "es"
    assert TEXTS["es"].text("attract.title") in kiosk.texts
    assert TEXTS["es"].text("attract.start") in kiosk.texts
    assert kiosk.screen is Screen.ATTRACT and kiosk.runtime.posted == []  # not the flow's
    kiosk.touch("language")
    assert kiosk.app.language == "de" and TEXTS["de"].text("attract.title") in kiosk.texts
    kiosk.touch("start")
    assert kiosk.screen is Screen.CHOOSE_ITEM
    assert TEXTS["de"].text("choose_item.title") in kiosk.texts  # the customer keeps German
    sell(kiosk)
    assert kiosk.app.language == "en"  # the next customer starts in machine.locale
    assert TEXTS["en"].text("attract.title") in kiosk.texts


def test_the_default_is_machine_locale_and_the_cycle_starts_from_it() -> None:
    kiosk = Kiosk(locale="de-AT")
    assert kiosk.app.language == "de" and TEXTS["de"].text("attract.title") in kiosk.texts
    kiosk.touch("language")
    assert kiosk.app.language == "en"
    kiosk.touch("language")
    assert kiosk.app.language == "es"
    kiosk.touch("start")
    sell(kiosk)
    assert kiosk.app.language == "de"


def test_back_from_the_item_list_keeps_the_language_but_inactivity_resets_it() -> None:
    kiosk = Kiosk()
    kiosk.touch("language")
    kiosk.touch("start")
    kiosk.touch("cancel")  # "Back"
    assert kiosk.screen is Screen.ATTRACT and kiosk.app.language == "es"
    kiosk.touch("start")
    kiosk.frame(IDLE_S + 1)  # the customer walked away from the item list
    assert kiosk.screen is Screen.ATTRACT and kiosk.app.language == "en"
    assert TEXTS["en"].text("attract.title") in kiosk.texts


def test_a_language_picked_on_attract_by_someone_who_never_started_times_out() -> None:
    kiosk = Kiosk()
    kiosk.touch("language")
    kiosk.frame(IDLE_S - 5)
    assert kiosk.app.language == "es"
    kiosk.frame(10)
    assert kiosk.app.language == "en" and TEXTS["en"].text("attract.title") in kiosk.texts


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_the_autopilots_taps_go_through_the_same_rotation_mapping(rotation: int) -> None:
    autopilot = Autopilot(1, pause_s=0.0)
    kiosk = Kiosk(rotation=rotation, autopilot=autopilot)
    for _ in range(4):  # each frame the autopilot taps; the next frame delivers the tap
        kiosk.frame(0.5)
        if kiosk.screen is Screen.CHOOSE_COIN:
            break
    assert kiosk.screen is Screen.CHOOSE_COIN
    assert kiosk.runtime.state.sale is not None and kiosk.runtime.state.sale.slot_id == "A1"
    kiosk.feed(AssetsLoaded("A1", (BTC,)))
    kiosk.frame(0.5)
    kiosk.frame(0.5)
    assert kiosk.screen is Screen.CREATING_PAYMENT
    sale = kiosk.runtime.state.sale
    assert sale is not None and sale.order is not None and sale.order.asset == BTC


def test_the_panel_shows_the_logical_frame_turned_clockwise() -> None:
    kiosk = Kiosk(rotation=90)
    assert pygame.display.get_surface().get_size() == (800, 480)
    language = kiosk.button("language").rect  # bottom right of the upright 480x800 picture
    assert language.right <= 480 and language.bottom <= 800
    x, y = kiosk.app.orientation.to_native(language.center)
    assert x < 400 and y > 240  # turned clockwise: bottom right goes to bottom left


def test_a_screenshot_is_saved_whenever_what_the_customer_is_asked_to_pay_changes(
        tmp_path: Path) -> None:
    kiosk = Kiosk(screenshots=tmp_path)
    kiosk.touch("start")
    kiosk.touch("item:A1")
    kiosk.feed(AssetsLoaded("A1", (BTC,)))
    kiosk.touch("coin:BTC")
    first = PaymentRequest("tx-1", LINK, int(kiosk.now) + 120, Decimal("0.00004"), "BTC")
    kiosk.feed(PaymentCreated("tx-1", first))
    kiosk.frame()
    # The quote expired: the same screen now shows a new QR and a new amount.
    requote = PaymentRequest("tx-1", LINK + "-2", int(kiosk.now) + 120, Decimal("0.00005"),
                             "BTC")
    kiosk.feed(PaymentUpdate("tx-1", PaymentStatus(PaymentState.AWAITING, request=requote)))
    kiosk.frame()
    kiosk.app.close()
    names = sorted(path.name for path in tmp_path.glob("*.png"))
    paying = [name for name in names if name.endswith("-awaiting_payment.png")]
    assert len(paying) == 2, names   # one per QR, none for frames that changed nothing else


def test_a_second_app_in_one_process_numbers_its_screenshots_after_the_first(
        tmp_path: Path) -> None:
    """An out-of-service screen that heals hands over to a selling app in the same process:
    its pictures come after the first app's, never a second 0001 beside them."""
    first = Kiosk(screenshots=tmp_path)
    first.touch("start")
    first.app.close()
    before = sorted(path.name for path in tmp_path.glob("*.png"))
    second = Kiosk(screenshots=tmp_path)
    second.touch("start")
    second.app.close()
    names = sorted(path.name for path in tmp_path.glob("*.png"))
    assert names[:len(before)] == before
    numbers = [int(name.split("-", 1)[0]) for name in names]
    assert numbers == list(range(1, len(names) + 1)), names
    assert len(names) > len(before) >= 2


def test_a_stop_mid_vend_lets_the_vend_finish_on_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    extended: list[float] = []
    monkeypatch.setattr(Notifier, "extend_timeout", lambda self, s: extended.append(s))
    kiosk = Kiosk()
    runtime = kiosk.runtime
    runtime.wakeup = threading.Event()  # type: ignore[attr-defined]
    stopped: list[bool] = []
    runtime.stop_selling = lambda: stopped.append(True)  # type: ignore[attr-defined]
    kiosk.touch("start")
    kiosk.touch("item:A1")
    kiosk.feed(AssetsLoaded("A1", (BTC,)))
    kiosk.touch("coin:BTC")
    kiosk.feed(PaymentCreated("tx-1", PaymentRequest("tx-1", LINK, int(kiosk.now) + 120)))
    kiosk.feed(PaymentUpdate("tx-1", PaymentStatus(PaymentState.PAID)))
    assert kiosk.screen is Screen.VENDING
    kiosk.app.request_stop()                      # SIGTERM from systemd, mid-vend
    seen: list[Screen] = []

    def vend_ends() -> None:
        seen.append(kiosk.screen)                 # still drawing the vend meanwhile
        runtime.post(VendFinished("tx-1", Dropped.YES))
        runtime.wakeup.set()  # type: ignore[attr-defined]

    timer = threading.Timer(0.5, vend_ends)
    timer.start()
    try:
        assert kiosk.app.run() is True
    finally:
        timer.cancel()
    assert seen == [Screen.VENDING]
    assert kiosk.screen is Screen.THANK_YOU      # the vend ended, then the loop
    assert stopped == [True]                      # no new sale meanwhile
    assert extended == [FlowSettings.vend_backstop_s + STOP_MARGIN_S]
