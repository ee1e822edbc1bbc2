"""Every screen drawn headless at every panel size, rotation and language: targets on screen and
large enough, every text's ink inside its box, the payment QR read back off the panel (the native,
rotated picture) by a real decoder, and a tap where a button shows on the panel lands on it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pygame
import pytest
import zxingcpp
from PIL import Image

from kiosk.flow import (
    AssetsFailed,
    AssetsLoaded,
    ClaimReason,
    CoinChosen,
    ItemChosen,
    KioskState,
    PaymentCreated,
    Product,
    Screen,
    StartTapped,
)
from kiosk.i18n import default_catalogue
from kiosk.payments.base import PaymentRequest, PaymentState
from kiosk.payments.wctpay import WctPayGateway
from kiosk.resources import assets_dir
from kiosk.ui import widgets as w
from kiosk.ui.input import TapAdapter
from kiosk.ui.orientation import Orientation
from kiosk.ui.samples import (
    BTC,
    CLAIM_VARIANTS,
    LINK,
    MEMO_QR,
    NOW,
    SCREENS,
    TO_QR,
    UNDERPAID,
    VARIANTS as SAMPLE_VARIANTS,
    Step,
    claim_screen,
    play,
    sample_state,
    status,
)
from kiosk.ui.screens import View, render
from kiosk.ui.widgets import Button, TextInk, record_text

os.environ["SDL_VIDEODRIVER"] = "dummy"
SIZES = [(800, 480), (1024, 600), (1280, 720), (720, 1280)]
ROTATIONS = (0, 90, 180, 270)
# every size upright, and every rotation of the original 7-inch panel and of Touch Display 2
LAYOUTS = [(size, 0) for size in SIZES] + [
    (size, rotation) for size in ((800, 480), (720, 1280)) for rotation in ROTATIONS[1:]]
LANGUAGES = default_catalogue().languages
MIN_TARGET_PX = 48  # about 9 mm on a 7-inch 800x480 panel; scaled with the short side
LONG_NAMES = (
    Product("L1", "Extra-large organic dark chocolate with sea salt and caramel", Decimal("3.20"),
            "chocolate.png"),
    Product("L2", "Schokoladenüberzogenerdnussbutterkaramellriegel", Decimal("2.10"),
            "chocolate.png"),
    Product("L3", "Agua mineral natural con gas, botella reciclada de 500 ml", Decimal("1.90"),
            "water.png"),
    Product("L4", "Cold brew coffee with oat milk, vanilla and a pinch of cinnamon",
            Decimal("4.50"), "coffee.png"),
    Product("L5", "Orange, carrot and ginger juice, freshly squeezed this morning",
            Decimal("3.80"), "juice.png"),
    Product("L6", "Kartoffelchips mit Meersalz und Rosmarin aus der Region", Decimal("2.40"),
            "crisps.png"),
)
VIEW = View(currency="USD", images_dir=assets_dir() / "products", machine_id="vm-0042")
SUPPORT = "Call +1 555 0142 (8 am to 8 pm) or write to help-desk@vending-operator.test"  # 78
SUPPORT_URL = "https://help.vending-operator.test/machines/vm-0042?from=screen"
WITH_SUPPORT = replace(VIEW, support=SUPPORT)
WITH_SUPPORT_URL = replace(VIEW, support=SUPPORT_URL)
# WCT Pay's coins as its client names them (no network call): Lightning and on-chain apart.
WCT_COINS = tuple(WctPayGateway(api_base="https://wct.test/api", key="k", api_secret="s",
                                assets=["BTC-LN", "BTC", "USDT-TRC20"])
                  .list_assets(Decimal("2.50"), "USD"))
WCT_VIEW = replace(VIEW, wallet_picks_coin=False)


def layout_id(layout: tuple[tuple[int, int], int]) -> str:
    (width, height), rotation = layout
    return f"{width}x{height}" + (f"-r{rotation}" if rotation else "")


@pytest.fixture(autouse=True)
def sdl() -> Iterator[None]:
    pygame.display.init()
    pygame.font.init()
    yield
    pygame.display.quit()


def variant(name: str, view: View = VIEW) -> tuple[Screen, tuple[Step, ...], View]:
    """A sample variant (``kiosk.ui.samples``) drawn with ``view``."""
    return (*SAMPLE_VARIANTS[name], view)


# the other faces of some screens: a claim code, a memo, a keypad prompt, an auto refund, a
# contact line or link, WCT Pay's coins
VARIANTS: dict[str, tuple[Screen, tuple[Step, ...], View]] = {
    **{name: variant(name) for name in SAMPLE_VARIANTS},
    "maybe_paid_claim": variant("maybe_paid_claim", WITH_SUPPORT),
    "unverified_claim": variant("unverified_claim", WITH_SUPPORT_URL),
    "vend_unknown": variant("vend_unknown", replace(WITH_SUPPORT, auto_refund=True)),
    "auto_refund": (Screen.VEND_FAILED, SCREENS[Screen.VEND_FAILED],
                    replace(VIEW, auto_refund=True)),
    "vend_failed_support": (Screen.VEND_FAILED, SCREENS[Screen.VEND_FAILED], WITH_SUPPORT),
    "auto_refund_support": (Screen.VEND_FAILED, SCREENS[Screen.VEND_FAILED],
                            replace(WITH_SUPPORT_URL, auto_refund=True)),
    "out_of_service_contact": (Screen.OUT_OF_SERVICE, SCREENS[Screen.OUT_OF_SERVICE],
                               WITH_SUPPORT),
    "out_of_service_url": (Screen.OUT_OF_SERVICE, SCREENS[Screen.OUT_OF_SERVICE],
                           WITH_SUPPORT_URL),
    "wct_coins": (Screen.CHOOSE_COIN, (*TO_QR[:2], AssetsLoaded("A1", WCT_COINS)), WCT_VIEW),
    "wct_pay_now": (Screen.CHOOSE_COIN, (*TO_QR[:2], AssetsFailed("A1", "offline")), WCT_VIEW),
}


@dataclass
class Frame:
    """One frame as the app draws it: screens on the logical surface, turned onto the panel."""

    orientation: Orientation
    native: pygame.Surface
    logical: pygame.Surface
    buttons: list[Button]
    texts: list[TextInk]

    @property
    def threshold(self) -> float:
        return MIN_TARGET_PX * min(self.logical.get_size()) / 480

    def native_image(self) -> Image.Image:
        return Image.frombytes("RGB", self.native.get_size(),
                               pygame.image.tobytes(self.native, "RGB"))

    def drawn(self, text: str) -> list[TextInk]:
        return [t for t in self.texts if t.text == text]


def draw(state: KioskState, size: tuple[int, int], rotation: int = 0,
         language: str | None = "en",
         view: View = VIEW) -> Frame:
    orientation = Orientation(size, rotation)
    native = pygame.Surface(size)
    logical = orientation.logical_surface(native)
    with record_text() as texts:
        buttons = render(logical, state, view, NOW, language)
    orientation.present(logical, native)
    return Frame(orientation, native, logical, buttons, texts)


def check_layout(frame: Frame) -> None:
    """Targets inside the screen, big enough, not on top of each other; every text inside its
    box."""
    bounds = frame.logical.get_rect()
    for button in frame.buttons:
        assert bounds.contains(button.rect), (button.name, button.rect)
        assert min(button.rect.size) >= frame.threshold, (button.name, button.rect.size)
    targets = [b for b in frame.buttons if b.name != "start"]  # start: "touch anywhere"
    for first, second in itertools.combinations(targets, 2):
        assert not first.rect.colliderect(second.rect), (first.name, second.name)
    for drawn in frame.texts:
        assert drawn.box.contains(drawn.ink), (drawn.text, drawn.box, drawn.ink)
        assert bounds.contains(drawn.box), (drawn.text, drawn.box)
        assert drawn.size >= w.MIN_TEXT_PX, (drawn.text, drawn.size)  # a box too small
    for first, second in itertools.combinations(frame.texts, 2):  # no text over another
        assert not first.ink.colliderect(second.ink), (first.text, second.text)


def test_every_screen_is_covered() -> None:
    assert set(SCREENS) == set(Screen)
    for screen, events in SCREENS.items():
        assert play(*events).screen is screen
    for name, (screen, events, _) in VARIANTS.items():
        assert play(*events).screen is screen, name


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("layout", LAYOUTS, ids=layout_id)
def test_targets_are_on_screen_and_big_enough_and_text_stays_in_its_box(
        layout: tuple[tuple[int, int], int], language: str) -> None:
    size, rotation = layout
    for screen in Screen:
        frame = draw(play(*SCREENS[screen]), size, rotation, language)
        check_layout(frame)
        names = {b.name for b in frame.buttons}
        if screen in (Screen.AWAITING_PAYMENT, Screen.UNDERPAID, Screen.CREATING_PAYMENT):
            assert "cancel" in names
        if screen is Screen.CHOOSE_ITEM:
            assert {"item:A1", "item:A2"} <= names and "item:A3" not in names  # A3 sold out
        if screen is Screen.ATTRACT:
            assert names == {"language", "start"}
            assert frame.buttons[0].name == "language"  # wins over "touch anywhere"
    for _screen, events, view in VARIANTS.values():
        check_layout(draw(play(*events), size, rotation, language, view))


@pytest.mark.parametrize("layout", LAYOUTS, ids=layout_id)
def test_the_qr_on_the_panel_decodes_to_the_payment_link(
        layout: tuple[tuple[int, int], int]) -> None:
    size, rotation = layout
    for events in (TO_QR, MEMO_QR, (*TO_QR, UNDERPAID)):
        frame = draw(play(*events), size, rotation)
        found = zxingcpp.read_barcodes(frame.native_image())  # what a phone sees
        assert [code.text for code in found] == [LINK]
        assert found[0].format == zxingcpp.BarcodeFormat.QRCode
        qr = found[0].position
        xs = [p.x for p in (qr.top_left, qr.top_right, qr.bottom_left, qr.bottom_right)]
        ys = [p.y for p in (qr.top_left, qr.top_right, qr.bottom_left, qr.bottom_right)]
        side = min(max(xs) - min(xs), max(ys) - min(ys))
        assert side >= 0.45 * min(size) * 0.8  # the code itself, quiet zone excluded


@pytest.mark.parametrize("size", [(720, 1280), (480, 800), (600, 1024)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_in_portrait_the_qr_is_on_top_and_the_words_below(size: tuple[int, int]) -> None:
    frame = draw(play(*TO_QR), size)
    found = zxingcpp.read_barcodes(frame.native_image())
    assert [code.text for code in found] == [LINK]
    qr = found[0].position
    qr_bottom = max(qr.bottom_left.y, qr.bottom_right.y)
    assert min(qr.top_left.y, qr.top_right.y) < size[1] * 0.1
    assert min(qr.top_right.x - qr.top_left.x, qr.bottom_left.y - qr.top_left.y) \
        >= 0.45 * size[0] * 0.8
    assert frame.texts and all(t.ink.top > qr_bottom for t in frame.texts)


def test_the_confirming_screen_offers_no_cancel() -> None:
    frame = draw(play(*SCREENS[Screen.CONFIRMING]), (800, 480))
    assert "cancel" not in {b.name for b in frame.buttons}


@pytest.mark.parametrize("layout", [((800, 480), 0), ((720, 1280), 0), ((800, 480), 90)],
                         ids=layout_id)
def test_a_failed_vend_shows_the_claim_code_as_a_readable_qr(
        layout: tuple[tuple[int, int], int]) -> None:
    state = play(*SCREENS[Screen.VEND_FAILED])
    assert state.sale is not None
    frame = draw(state, *layout)
    code = state.sale.claim_code
    assert [c.text for c in zxingcpp.read_barcodes(frame.native_image())] == \
        [f"Claim {code}\nMachine vm-0042"]
    assert frame.drawn(code)
    assert not [t for t in frame.texts if t.text.startswith("Contact:")]  # none configured
    with_contact = draw(state, *layout, view=WITH_SUPPORT)
    assert [c.text for c in zxingcpp.read_barcodes(with_contact.native_image())] == \
        [f"Claim {code}\nMachine vm-0042\nContact: {SUPPORT}"]
    assert with_contact.drawn(f"Contact: {SUPPORT}")


def test_the_claim_qr_speaks_the_customers_language() -> None:
    state = play(*SCREENS[Screen.VEND_FAILED])
    assert state.sale is not None
    frame = draw(state, (800, 480), language="es", view=WITH_SUPPORT)
    assert [c.text for c in zxingcpp.read_barcodes(frame.native_image())] == \
        [f"Reclamación {state.sale.claim_code}\nMáquina vm-0042\nContacto: {SUPPORT}"]


# What each reason's code means to the customer, in English; the other languages by key.
WHAT_THE_CODE_MEANS = {
    ClaimReason.PART_PAID: ("claim.part_paid", (
        "Part of the price arrived. The operator refunds what you sent with this code.")),
    ClaimReason.MAYBE_PAID: ("claim.maybe_paid", (
        "Nothing was dispensed. If your wallet already sent the payment, keep this code: "
        "the operator refunds it.")),
    ClaimReason.UNCONFIRMED: ("claim.unconfirmed", (
        "Your payment is still unconfirmed. If it arrives, the operator refunds it with this "
        "code.")),
    ClaimReason.UNVERIFIED: ("claim.unverified", (
        "A payment was reported but did not match this order, so nothing was dispensed. "
        "The operator checks it with this code.")),
}
UNPAID_RESULTS = (Screen.CANCELLED, Screen.EXPIRED, Screen.PAYMENT_FAILED)


def with_claim(screen: Screen, reason: ClaimReason) -> KioskState:
    """``screen`` as the flow shows it, holding a code for ``reason``."""
    state = play(*SCREENS[screen])
    assert state.screen is screen and state.sale is not None
    return replace(state, sale=replace(state.sale, claim_code="7KQ2-M4XD", claim_reason=reason))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("reason", list(WHAT_THE_CODE_MEANS), ids=lambda r: r.value)
@pytest.mark.parametrize("screen", UNPAID_RESULTS, ids=lambda s: s.value)
def test_a_code_on_an_unpaid_result_says_why_it_was_given(screen: Screen, reason: ClaimReason,
                                                          language: str) -> None:
    texts = default_catalogue().with_language(language)
    frame = draw(with_claim(screen, reason), (800, 480), language=language, view=WITH_SUPPORT)
    key, english = WHAT_THE_CODE_MEANS[reason]
    assert frame.drawn(texts.text(f"{screen.value}.title"))
    assert frame.drawn(texts.text(key))
    assert not frame.drawn(texts.text(f"{screen.value}.body"))  # never "you were not charged"
    assert frame.drawn("7KQ2-M4XD") and frame.drawn(texts.text("claim.code_label"))
    assert frame.drawn(texts.text("support.contact", support=SUPPORT))
    if language == "en":
        assert texts.text(key) == english and "not charged" not in english


@pytest.mark.parametrize("screen", [Screen.CANCELLED, Screen.EXPIRED], ids=lambda s: s.value)
def test_without_a_code_the_screen_says_you_were_not_charged(screen: Screen) -> None:
    """The gateway confirmed nothing arrived: no code, no QR, no contact line."""
    state = play(*SCREENS[screen])
    assert state.sale is not None and state.sale.claim_code == ""
    frame = draw(state, (800, 480), view=WITH_SUPPORT)
    assert frame.drawn(default_catalogue().text(f"{screen.value}.body"))
    assert "not charged" in default_catalogue().text(f"{screen.value}.body")
    assert zxingcpp.read_barcodes(frame.native_image()) == []
    assert not frame.drawn(f"Contact: {SUPPORT}")


def test_a_failed_vend_promises_the_money_back_and_an_auto_refund_says_so() -> None:
    state = play(*SCREENS[Screen.VEND_FAILED])
    catalogue = default_catalogue()
    assert draw(state, (800, 480)).drawn(catalogue.text("vend_failed.refund"))
    auto = draw(state, (800, 480), view=replace(WITH_SUPPORT, auto_refund=True))
    assert auto.drawn(catalogue.text("vend_failed.auto_refund"))
    assert auto.drawn(catalogue.text("claim.reference_label"))
    assert auto.drawn(f"Contact: {SUPPORT}")


def test_the_gallery_shows_every_reason_a_code_is_given() -> None:
    """Its samples are played through the real flow: each must still end with its reason."""
    assert set(CLAIM_VARIANTS) | {ClaimReason.VEND_FAILED} == set(ClaimReason)
    failed = sample_state(Screen.VEND_FAILED).sale
    assert failed is not None and failed.claim_reason is ClaimReason.VEND_FAILED
    for reason in CLAIM_VARIANTS:
        state = sample_state(claim_screen(reason), reason)  # checks the screen and the reason
        assert state.sale is not None and state.sale.claim_code


def test_a_vend_of_unknown_result_promises_a_check_not_a_refund() -> None:
    """The item may have dropped: not "did not drop", and no automatic refund even where the
    gateway could refund (the operator checks first)."""
    screen, events, view = VARIANTS["vend_unknown"]
    state = play(*events)
    assert state.screen is screen and state.sale is not None
    assert state.sale.claim_reason is ClaimReason.VEND_UNKNOWN
    catalogue = default_catalogue()
    frame = draw(state, (800, 480), view=view)
    assert frame.drawn("Sorry, we could not confirm your item")
    assert frame.drawn("The machine gave no result. If your item did not drop, keep this code: "
                       "the operator checks and refunds you.")
    assert frame.drawn(catalogue.text("claim.code_label")) and frame.drawn(state.sale.claim_code)
    for promise in ("vend_failed.title", "vend_failed.auto_refund", "vend_failed.refund"):
        assert not frame.drawn(catalogue.text(promise))
    assert frame.drawn(f"Contact: {SUPPORT}")


@pytest.mark.parametrize("layout", [((800, 480), 0), ((720, 1280), 0), ((800, 480), 270)],
                         ids=layout_id)
def test_out_of_service_tells_how_to_reach_the_operator(
        layout: tuple[tuple[int, int], int]) -> None:
    state = play(*SCREENS[Screen.OUT_OF_SERVICE])
    bare = draw(state, *layout)
    assert not [t for t in bare.texts if t.text.startswith("Contact:")]
    assert zxingcpp.read_barcodes(bare.native_image()) == []
    text = draw(state, *layout, view=WITH_SUPPORT)
    assert text.drawn(f"Contact: {SUPPORT}")
    assert zxingcpp.read_barcodes(text.native_image()) == []  # a phone number is no link
    url = draw(state, *layout, view=WITH_SUPPORT_URL)
    assert url.drawn(f"Contact: {SUPPORT_URL}")
    assert [c.text for c in zxingcpp.read_barcodes(url.native_image())] == [SUPPORT_URL]
    assert url.drawn("Status: bridge not answering")


def test_wct_coins_say_lightning_or_on_chain_and_offer_no_wallet_choice() -> None:
    state = play(*VARIANTS["wct_coins"][1])
    frame = draw(state, (800, 480), view=WCT_VIEW)
    labels = {t.text for t in frame.texts}
    assert {"BTC\nLightning", "BTC\nBitcoin (on-chain)", "USDT\nTron"} <= labels
    names = [b.name for b in frame.buttons]
    assert "coin:wallet" not in names and names.count("coin:BTC") == 2
    assert default_catalogue().text("choose_coin.wallet") not in labels
    # A gateway whose wallet may pick (MixPay) still offers it.
    assert "coin:wallet" in {b.name for b in draw(state, (800, 480)).buttons}


def test_without_a_wallet_choice_pay_now_does_not_promise_one() -> None:
    state = play(*VARIANTS["wct_pay_now"][1])
    catalogue = default_catalogue()
    frame = draw(state, (800, 480), view=WCT_VIEW)
    assert frame.drawn(catalogue.text("choose_coin.pay_now"))
    assert not frame.drawn(catalogue.text("choose_coin.pay"))


def test_the_payment_screen_names_the_coins_network() -> None:
    lightning = WCT_COINS[0]
    state = play(*TO_QR[:2], AssetsLoaded("A1", WCT_COINS), CoinChosen(lightning),
                 PaymentCreated("tx-1", PaymentRequest("tx-1", "lightning:LNBC41670N1P", 1120,
                                                       Decimal("0.0000417"), "BTC")))
    assert state.screen is Screen.AWAITING_PAYMENT
    assert draw(state, (800, 480)).drawn("Pay 0.0000417 BTC (Lightning)")


@pytest.mark.parametrize("layout", LAYOUTS, ids=layout_id)
def test_a_tap_where_a_button_shows_on_the_panel_lands_on_it(
        layout: tuple[tuple[int, int], int]) -> None:
    """Find each button on the *native* picture (painted in a marker colour, then rotated by the
    real blit) and touch the middle of it with a synthetic finger through the real adapter."""
    size, rotation = layout
    marker = (255, 0, 255)
    for screen in (Screen.ATTRACT, Screen.CHOOSE_ITEM, Screen.CHOOSE_COIN, Screen.UNDERPAID,
                   Screen.VEND_FAILED):
        frame = draw(play(*SCREENS[screen]), size, rotation)
        for button in frame.buttons:
            painted = frame.logical.copy()
            painted.fill(marker, button.rect)
            native = pygame.Surface(size)
            frame.orientation.present(painted, native)
            mask = pygame.mask.from_threshold(native, marker, (1, 1, 1, 255))
            shown = mask.get_bounding_rects()
            assert len(shown) == 1, (screen, button.name)
            x, y = shown[0].center
            adapter = TapAdapter(size, rotation=rotation)
            touch = pygame.event.Event(pygame.FINGERDOWN, x=(x + 0.5) / size[0],
                                       y=(y + 0.5) / size[1], touch_id=1, finger_id=0,
                                       dx=0.0, dy=0.0, pressure=1.0)
            tap = adapter.feed(touch, 10.0)
            assert tap is not None
            hit = next(b for b in frame.buttons if b.rect.collidepoint(tap.x, tap.y))
            assert hit.name == button.name, (screen, rotation, button.name, hit.name)


@pytest.mark.parametrize("layout", [((800, 480), 0), ((720, 1280), 0), ((800, 480), 90),
                                    ((1024, 600), 270)], ids=layout_id)
@pytest.mark.parametrize("language", LANGUAGES)
def test_long_product_names_wrap_or_shrink_and_never_overflow(
        layout: tuple[tuple[int, int], int], language: str) -> None:
    assert all(len(p.name) >= 40 for p in LONG_NAMES)
    stock = {p.slot_id: 1 for p in LONG_NAMES} | {"L6": 0}
    flows = {
        Screen.CHOOSE_ITEM: (StartTapped(),),
        Screen.CHOOSE_COIN: (StartTapped(), ItemChosen("L2"), AssetsLoaded("L2", (BTC,))),
        Screen.AWAITING_PAYMENT: (StartTapped(), ItemChosen("L1"), AssetsLoaded("L1", (BTC,)),
                                  CoinChosen(BTC),
                                  PaymentCreated("tx-1", PaymentRequest("tx-1", LINK, 1120))),
        Screen.VENDING: (StartTapped(), ItemChosen("L4"), AssetsLoaded("L4", (BTC,)),
                         CoinChosen(None),
                         PaymentCreated("tx-1", PaymentRequest("tx-1", LINK, 1120)),
                         status(PaymentState.PAID)),
    }
    for screen, events in flows.items():
        state = play(*events, products=LONG_NAMES, stock=stock)
        assert state.screen is screen
        frame = draw(state, *layout, language=language)
        check_layout(frame)
        assert any(p.name in t.text for p in LONG_NAMES for t in frame.texts), screen
    cards = draw(play(StartTapped(), products=LONG_NAMES, stock=stock), *layout,
                 language=language)
    assert {t.text for t in cards.texts} >= {p.name for p in LONG_NAMES}


@pytest.mark.parametrize("layout", LAYOUTS, ids=layout_id)
def test_a_few_products_without_pictures_still_make_sensible_cards(
        layout: tuple[tuple[int, int], int]) -> None:
    for count in (1, 2, 5, 12):
        products = tuple(Product(f"S{n}", f"Snack number {n}", Decimal("1.00"))
                         for n in range(count))
        state = play(StartTapped(), products=products, stock={p.slot_id: 1 for p in products})
        frame = draw(state, *layout)
        check_layout(frame)
        cards = [b.rect for b in frame.buttons if b.name.startswith("item:")]
        assert len(cards) == count
        assert all(card.height <= 0.6 * min(frame.logical.get_size()) + 1 for card in cards)


def test_text_that_cannot_fit_is_cut_with_an_ellipsis_never_drawn_outside() -> None:
    surface = pygame.Surface((300, 200))
    box = pygame.Rect(10, 10, 120, 30)
    with record_text() as texts:
        ink = w.draw_text(surface, "Donaudampfschifffahrtsgesellschaftskapitän " * 6, box, 40,
                          max_lines=2)
        tiny = w.draw_text(surface, "Thank you", pygame.Rect(10, 100, 200, 6), 30)
    assert box.contains(ink) and pygame.Rect(10, 100, 200, 6).contains(tiny)
    assert all(t.box.contains(t.ink) for t in texts)


def test_the_screens_speak_the_language_they_are_given() -> None:
    catalogue = default_catalogue()
    for language in LANGUAGES:
        texts = catalogue.with_language(language)
        attract = draw(play(), (800, 480), language=language)
        assert attract.drawn(texts.text("attract.title"))
        assert attract.drawn(texts.text("attract.start"))
        assert attract.drawn(texts.text("language.name"))
        paying = draw(play(*SCREENS[Screen.AWAITING_PAYMENT]), (800, 480), language=language)
        assert paying.drawn(texts.text("pay.scan"))
        assert paying.drawn(texts.text("pay.time_left", time="2:00"))
        sorry = draw(play(*SCREENS[Screen.OUT_OF_SERVICE]), (800, 480), language=language)
        assert sorry.drawn("Status: bridge not answering")  # the technician's line: English
    german = catalogue.with_language("de")
    keypad = draw(play(*VARIANTS["keypad_prompt"][1]), (800, 480), language="de")
    assert keypad.drawn(german.text("vending.keypad", item=12))
    claim = draw(play(*VARIANTS["expired_part_paid"][1]), (800, 480), language="de")
    assert claim.drawn(german.text("claim.part_paid"))


def test_the_view_locale_is_the_default_language() -> None:
    frame = draw(play(), (800, 480), language=None, view=replace(VIEW, locale="de-AT"))
    assert frame.drawn(default_catalogue().with_language("de").text("attract.title"))


def test_fonts_come_from_the_shipped_assets() -> None:
    for bold, name in w.FONT_FILES.items():
        assert (assets_dir() / "fonts" / name).is_file()
        assert w._font_bytes(bold) is not None
    licence = (assets_dir() / "fonts" / "LICENSE-DejaVu.txt").read_text()
    assert "Bitstream Vera" in licence and "DejaVu" in licence
    assert "fonts/LICENSE-DejaVu.txt" in (assets_dir() / "LICENSES.md").read_text()


def test_the_font_falls_back_to_pygames_own_when_the_file_is_missing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KIOSK_ASSETS", str(tmp_path))
    w._font_bytes.cache_clear()
    w.font.cache_clear()
    try:
        face = w.font(20, True)
        assert face.size("Zurück")[0] > 0
    finally:
        monkeypatch.delenv("KIOSK_ASSETS")
        w._font_bytes.cache_clear()
        w.font.cache_clear()
    assert w._font_bytes(False) is not None


def test_the_detail_step_offers_one_pay_button_when_the_wallet_picks_the_coin() -> None:
    screen, events, view = VARIANTS["pay_in_wallet"]
    state = play(*events)
    assert state.screen is screen and state.sale is not None and state.sale.assets == ()
    frame = draw(state, (800, 480))
    assert sorted(b.name for b in frame.buttons) == ["cancel", "coin:wallet"]
    [pay] = [b for b in frame.buttons if b.name == "coin:wallet"]
    assert pay.event == CoinChosen(None) and pay.rect.width >= 200


def test_the_vending_screen_shows_the_machine_working() -> None:
    state = play(*SCREENS[Screen.VENDING])
    early = draw(state, (800, 480)).native_image()
    later_state = replace(state, screen_since=state.screen_since - 1.0)  # one second on
    later = draw(later_state, (800, 480)).native_image()
    assert early.tobytes() != later.tobytes()
