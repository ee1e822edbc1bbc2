"""Sample sales played through the real flow: the state behind every customer screen, and behind
the other faces of some screens (a claim code and why it was given, a memo, a keypad prompt).

One source for the gallery's screenshots (``kiosk.ui.gallery``) and the screen tests
(``tests/test_ui_screens.py``): a screen the flow can no longer reach with its sample fails both.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

from kiosk.flow import (
    AssetsFailed,
    AssetsLoaded,
    CancelPressed,
    Dropped,
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
    VendPrompted,
    initial_state,
)
from kiosk.payments.base import Asset, PaymentRequest, PaymentState, PaymentStatus

NOW = 1001.0
BTC = Asset("BTC", "Bitcoin", "Bitcoin", "c6d0c728-2624-429b-8e0d-d9d19b6592fa")
USDT = Asset("USDT", "Tether USD", "Ethereum", "4d8c508b-91c5-375b-92b0-ee702ed2dac5")
XRP = Asset("XRP", "XRP", "XRP Ledger", "23dfb5a5-5d7b-48b6-905f-3970e3176e27")
LINK = "https://mixpay.me/code/8e69e534-d0c4-3e04-8b61-37a73cd9e7d7"
PRODUCTS = (
    Product("A1", "Sparkling water", Decimal("2.50"), "water.png", mdb_item=12),
    Product("A2", "Cola", Decimal("2.00"), "cola.png"),
    Product("A3", "Salted crisps", Decimal("1.75"), "crisps.png"),
    Product("B1", "Dark chocolate with sea salt and caramel pieces", Decimal("3.20"),
            "chocolate.png"),
    Product("B2", "Orange juice", Decimal("2.80"), "juice.png"),
    Product("B3", "Coffee", Decimal("1.50"), "coffee.png"),
)
STOCK = {"A1": 3, "A2": 2, "A3": 0, "B1": 4, "B2": 1, "B3": 5}   # A3 sold out
Step = Event | tuple[Event, float]     # an event at NOW, or at the time paired with it
TO_QR: tuple[Event, ...] = (
    StartTapped(), ItemChosen("A1"), AssetsLoaded("A1", (BTC, USDT)), CoinChosen(BTC),
    PaymentCreated("tx-1", PaymentRequest("tx-1", LINK, 1120, crypto_amount=Decimal("0.0000412"),
                                          crypto_symbol="BTC")))


def status(state: PaymentState, **kwargs: object) -> PaymentUpdate:
    """The gateway's word on the sample sale's payment."""
    return PaymentUpdate("tx-1", PaymentStatus(state, **kwargs))  # type: ignore[arg-type]


UNDERPAID = status(PaymentState.UNDERPAID, remaining=Decimal("0.0000102"), paid_symbol="BTC")
SCREENS: dict[Screen, tuple[Step, ...]] = {
    Screen.ATTRACT: (),
    Screen.CHOOSE_ITEM: (StartTapped(),),
    Screen.CHOOSE_COIN: TO_QR[:3],
    Screen.CREATING_PAYMENT: TO_QR[:4],
    Screen.AWAITING_PAYMENT: TO_QR,
    Screen.CONFIRMING: (*TO_QR, status(PaymentState.CONFIRMING)),
    Screen.UNDERPAID: (*TO_QR, UNDERPAID),
    Screen.VENDING: (*TO_QR, status(PaymentState.PAID)),
    Screen.THANK_YOU: (*TO_QR, status(PaymentState.PAID), VendFinished("tx-1", Dropped.YES)),
    Screen.VEND_FAILED: (*TO_QR, status(PaymentState.PAID), VendFinished("tx-1", Dropped.NO, True)),
    Screen.PAYMENT_FAILED: (*TO_QR, status(PaymentState.FAILED, reason="40020")),
    Screen.EXPIRED: (*TO_QR, status(PaymentState.EXPIRED)),
    Screen.CANCELLED: (*TO_QR, status(PaymentState.CANCELLED)),
    Screen.OUT_OF_SERVICE: (HardwareChanged("bridge not answering"),),
}
# A coin paid with a memo (XRP's destination tag): the wallet must send both.
MEMO_QR: tuple[Event, ...] = (
    *TO_QR[:2], AssetsLoaded("A1", (BTC, USDT, XRP)), CoinChosen(XRP),
    PaymentCreated("tx-1", PaymentRequest("tx-1", LINK, 1120, Decimal("4.1234"), "XRP",
                                          memo="3141592653")))
# The other faces of some screens: coins still loading, a memo, a keypad prompt, and a code the
# customer keeps on a result screen for each reason the kiosk gives one.
VARIANTS: dict[str, tuple[Screen, tuple[Step, ...]]] = {
    "coins_loading": (Screen.CHOOSE_COIN, TO_QR[:2]),
    "pay_in_wallet": (Screen.CHOOSE_COIN, (*TO_QR[:2], AssetsFailed("A1", "offline"))),
    "memo": (Screen.AWAITING_PAYMENT, MEMO_QR),
    "under_review": (Screen.CONFIRMING, (*TO_QR, status(PaymentState.UNDER_REVIEW))),
    "keypad_prompt": (Screen.VENDING, (*TO_QR, status(PaymentState.PAID),
                                       VendPrompted("tx-1", "Select 12 on the machine's keypad"))),
    "vend_unknown": (Screen.VEND_FAILED, (*TO_QR, status(PaymentState.PAID),
                                          VendFinished("tx-1", Dropped.UNKNOWN))),
    "expired_part_paid": (Screen.EXPIRED, (*TO_QR, UNDERPAID, (Tick(), NOW + 200))),
    "cancelled_part_paid": (Screen.CANCELLED, (*TO_QR, UNDERPAID, CancelPressed())),
    "maybe_paid_claim": (Screen.CANCELLED, (*TO_QR, CancelPressed())),
    "unconfirmed_claim": (Screen.PAYMENT_FAILED, (*TO_QR, status(PaymentState.CONFIRMING),
                                                  (Tick(), NOW + 400))),
    "unverified_claim": (Screen.PAYMENT_FAILED, (*TO_QR, status(
        PaymentState.UNVERIFIED, reason="verification failed: payment_amount_asset mismatch"))),
}
# The variant that ends with a code for each reason (a failed vend is the VEND_FAILED sample).
CLAIM_VARIANTS: dict[ClaimReason, str] = {
    ClaimReason.VEND_UNKNOWN: "vend_unknown",
    ClaimReason.PART_PAID: "expired_part_paid",
    ClaimReason.MAYBE_PAID: "maybe_paid_claim",
    ClaimReason.UNCONFIRMED: "unconfirmed_claim",
    ClaimReason.UNVERIFIED: "unverified_claim",
}


def play(*steps: Step, products: tuple[Product, ...] = PRODUCTS,
         stock: dict[str, int] | None = None) -> KioskState:
    """The state after ``steps`` (each at ``NOW``, or at the time paired with it), from the
    attract screen of a MixPay kiosk selling ``products``."""
    ids = (f"tx-{n}" for n in itertools.count(1))
    flow = Flow(FlowSettings(currency="USD", gateway="mixpay", payment_window_s=120),
                lambda: next(ids))
    state = initial_state(products, STOCK if stock is None else stock, frozenset(), "", NOW - 1)
    for step in steps:
        event, at = step if isinstance(step, tuple) else (step, NOW)
        state = flow.step(state, event, at).state
    return state


def sample_state(screen: Screen, reason: ClaimReason | None = None) -> KioskState:
    """``screen`` after its sample sale; with ``reason``, the sale that ends there with a code
    for that reason."""
    steps = SCREENS[screen] if reason is None else VARIANTS[CLAIM_VARIANTS[reason]][1]
    state = play(*steps)
    assert state.screen is screen, (screen, state.screen)
    if reason is not None:
        assert state.sale is not None and state.sale.claim_reason is reason, (reason, state.sale)
    return state


def claim_screen(reason: ClaimReason) -> Screen:
    """The result screen that shows a code given for ``reason`` in the samples."""
    return VARIANTS[CLAIM_VARIANTS[reason]][0]
