"""The pure sale state machine (``kiosk.flow``): every screen with every event that can reach it.

Layout: builders (catalogue, clock-driven ``Kiosk`` driver, ``state_at`` routes through the real
event path), then the screen x event matrix (invariants + the expected-transition table), a
random-walk check of the once-per-sale rules, then stories grouped by theme.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest

from kiosk.claims import claim_code
from kiosk.flow import (
    ENDED_UNPAID_SCREENS,
    PAYMENT_SCREENS,
    AbandonPayment,
    AssetsFailed,
    AssetsLoaded,
    CancelPressed,
    ClaimReason,
    CoinChosen,
    CreatePayment,
    DonePressed,
    Dropped,
    Effect,
    Event,
    Flow,
    FlowSettings,
    HardwareChanged,
    ItemChosen,
    KeypadSelected,
    KioskState,
    LoadAssets,
    Outcome,
    PaymentCreated,
    PaymentCreateFailed,
    PaymentUpdate,
    Product,
    RecordPaidLate,
    ReleaseSelection,
    Sale,
    SaleFinished,
    SaleInterrupted,
    Screen,
    StartTapped,
    StockChanged,
    Tick,
    Transition,
    Vend,
    VendFinished,
    VendPrompted,
    WallClockSet,
    initial_state,
)
from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentState, PaymentStatus

S = Screen

# ---------------------------------------------------------------- builders

T0 = 1_000.0
WINDOW_S = 60
IDLE_S = 30.0
RESULT_S = 8.0
CLAIM_S = 60.0
GRACE_S = 120.0
CREATE_TIMEOUT_S = 45.0

SETTINGS = FlowSettings(currency="USD", gateway="mixpay", choose_asset=True,
                        payment_window_s=WINDOW_S, idle_timeout_s=IDLE_S,
                        result_screen_s=RESULT_S, claim_screen_s=CLAIM_S,
                        confirm_grace_s=GRACE_S, create_timeout_s=CREATE_TIMEOUT_S)

COLA = Product("A1", "Cola", Decimal("2.50"))
CHIPS = Product("A2", "Chips", Decimal("1.75"))
WATER = Product("B1", "Water", Decimal("1.00"))
PRODUCTS = (COLA, CHIPS, WATER)
STOCK = {"A1": 5, "A2": 1, "B1": 3}

BTC = Asset("BTC", "Bitcoin", "Bitcoin", "asset-btc")
ETH = Asset("ETH", "Ether", "Ethereum", "asset-eth")
USDT = Asset("USDT", "Tether", "Tron", "asset-usdt")
OFFERED = (BTC, ETH)

EARLIER_TX = "tx-0"       # a sale from before this state existed
OTHER_TX = "tx-999"       # a transaction that is not the one on screen
FAULT = "vend motor not responding"
CLAIM_CODE_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def make_flow(**overrides: Any) -> Flow:
    """A Flow with the test settings and tx ids ``tx-1``, ``tx-2``... in order."""
    counter = itertools.count(1)
    return Flow(replace(SETTINGS, **overrides), lambda: f"tx-{next(counter)}")


def status(state: PaymentState, raw: str = "path", **fields: Any) -> PaymentStatus:
    """A normalized status; UNDERPAID owes something and PAID says what was paid, by default."""
    if state is PaymentState.UNDERPAID:
        fields.setdefault("remaining", Decimal("0.000010"))
    if state is PaymentState.PAID:
        fields.setdefault("paid_amount", Decimal("0.000041"))
        fields.setdefault("paid_symbol", "BTC")
    return PaymentStatus(state=state, raw_status=raw, **fields)


def request_for(order: Order) -> PaymentRequest:
    return PaymentRequest(payment_id=f"trace-{order.tx_id}",
                          link=f"https://pay.example/{order.tx_id}",
                          expires_at=order.expires_at, crypto_amount=Decimal("0.000041"),
                          crypto_symbol="BTC")


@dataclass
class Kiosk:
    """Drives a ``Flow`` with a clock, keeping the current state and every effect emitted."""

    flow: Flow
    state: KioskState
    now: float = T0
    effects: list[Effect] = field(default_factory=list)

    def send(self, event: Event, *, after: float = 1.0, at: float | None = None) -> Transition:
        self.now = self.now + after if at is None else at
        transition = self.flow.step(self.state, event, self.now)
        self.state = transition.state
        self.effects.extend(transition.effects)
        return transition

    @property
    def screen(self) -> Screen:
        return self.state.screen

    @property
    def sale(self) -> Sale:
        assert self.state.sale is not None, f"no sale on {self.screen}"
        return self.state.sale

    @property
    def order(self) -> Order:
        assert self.sale.order is not None, f"no order on {self.screen}"
        return self.sale.order

    @property
    def tx(self) -> str:
        return self.order.tx_id

    def effects_of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.effects if isinstance(e, kind)]


def new_kiosk(*, fault: str = "", stock: dict[str, int] | None = None,
              disabled: frozenset[str] = frozenset(), **settings: Any) -> Kiosk:
    state = initial_state(PRODUCTS, STOCK if stock is None else stock, disabled, fault, T0)
    return Kiosk(make_flow(**settings), state)


# Route steps: each plays one real event on the kiosk.
Step = Callable[[Kiosk], Transition]


def tap_start(k: Kiosk) -> Transition:
    return k.send(StartTapped())


def choose_cola(k: Kiosk) -> Transition:
    return k.send(ItemChosen("A1"))


def load_assets(k: Kiosk) -> Transition:
    return k.send(AssetsLoaded(k.sale.slot_id, OFFERED))


def choose_btc(k: Kiosk) -> Transition:
    return k.send(CoinChosen(BTC))


def payment_created(k: Kiosk) -> Transition:
    return k.send(PaymentCreated(k.tx, request_for(k.order)))


def gateway_says(state: PaymentState, **fields: Any) -> Step:
    return lambda k: k.send(PaymentUpdate(k.tx, status(state, **fields)))


def vend_finishes(outcome: str, disables_slot: bool = False) -> Step:
    # The driver's word as the runtime passes it on: did it drop, and the word as the detail.
    dropped = {"vended": Dropped.YES, "unknown": Dropped.UNKNOWN}.get(outcome, Dropped.NO)
    return lambda k: k.send(VendFinished(k.tx, dropped, disables_slot, detail=outcome))


def window_closes(k: Kiosk) -> Transition:
    return k.send(Tick(), at=float(k.order.expires_at))


def hardware_fails(k: Kiosk) -> Transition:
    return k.send(HardwareChanged(FAULT))


_TO_COIN: tuple[Step, ...] = (tap_start, choose_cola, load_assets)
_TO_CREATING = _TO_COIN + (choose_btc,)
_TO_AWAITING = _TO_CREATING + (payment_created,)
_TO_VENDING = _TO_AWAITING + (gateway_says(PaymentState.PAID),)

ROUTES: dict[Screen, tuple[Step, ...]] = {
    S.ATTRACT: (),
    S.CHOOSE_ITEM: (tap_start,),
    S.CHOOSE_COIN: _TO_COIN,
    S.CREATING_PAYMENT: _TO_CREATING,
    S.AWAITING_PAYMENT: _TO_AWAITING,
    S.CONFIRMING: _TO_AWAITING + (gateway_says(PaymentState.CONFIRMING),),
    S.UNDERPAID: _TO_AWAITING + (gateway_says(PaymentState.UNDERPAID),),
    S.VENDING: _TO_VENDING,
    S.THANK_YOU: _TO_VENDING + (vend_finishes("vended"),),
    S.VEND_FAILED: _TO_VENDING + (vend_finishes("jam", disables_slot=True),),
    S.PAYMENT_FAILED: _TO_AWAITING + (gateway_says(PaymentState.FAILED, reason="risk"),),
    S.EXPIRED: _TO_AWAITING + (window_closes,),
    S.CANCELLED: _TO_AWAITING + (lambda k: k.send(CancelPressed()),),
    S.OUT_OF_SERVICE: (hardware_fails,),
}


def state_at(screen: Screen, **kiosk_args: Any) -> Kiosk:
    """A fresh kiosk driven to ``screen`` through the real event path (never hand-built)."""
    k = new_kiosk(**kiosk_args)
    for step in ROUTES[screen]:
        step(k)
    assert k.screen is screen, f"route to {screen} ended on {k.screen}"
    return k


def types_of(effects: tuple[Effect, ...] | list[Effect]) -> tuple[type, ...]:
    return tuple(type(e) for e in effects)


def assert_money_is_decimal(t: Transition) -> None:
    """A float never touches an amount: every money field in the state and effects is Decimal."""
    for product in t.state.products:
        assert type(product.price) is Decimal
    orders = [e.order for e in t.effects if hasattr(e, "order")]
    sale = t.state.sale
    if sale is not None and sale.order is not None:
        orders.append(sale.order)
    for order in orders:
        assert type(order.amount) is Decimal
    for effect in t.effects:
        if isinstance(effect, LoadAssets):
            assert type(effect.amount) is Decimal
    statuses = [e.status for e in t.effects if isinstance(e, RecordPaidLate)]
    if sale is not None and sale.status is not None:
        statuses.append(sale.status)
    for st in statuses:
        assert st.remaining is None or type(st.remaining) is Decimal
        assert st.paid_amount is None or type(st.paid_amount) is Decimal
    if sale is not None and sale.request is not None:
        amount = sale.request.crypto_amount
        assert amount is None or type(amount) is Decimal


def is_paid(event: Event) -> bool:
    return isinstance(event, PaymentUpdate) and event.status.state is PaymentState.PAID


def assert_step_invariants(before: KioskState, event: Event, t: Transition) -> None:
    """What must hold for any single step, from any screen."""
    vends = [e for e in t.effects if isinstance(e, Vend)]
    if vends:
        assert before.screen in PAYMENT_SCREENS
        assert before.sale is not None and before.sale.order is not None
        assert is_paid(event) and isinstance(event, PaymentUpdate)
        assert event.tx_id == before.sale.tx_id
        assert vends == [Vend(before.sale.order, claim_code(before.sale.order.tx_id))]
        assert t.state.screen is S.VENDING
    for late in (e for e in t.effects if isinstance(e, RecordPaidLate)):
        assert isinstance(event, PaymentUpdate)
        assert event.status.state in (PaymentState.PAID, PaymentState.UNVERIFIED)
        assert late == RecordPaidLate(event.tx_id, event.status)
        assert not vends
        if before.sale is not None and before.screen not in ENDED_UNPAID_SCREENS:
            assert late.tx_id != before.sale.tx_id, "the sale on screen is not late"
    assert sum(isinstance(e, SaleFinished) for e in t.effects) <= 1
    if t.state.screen in {S.ATTRACT, S.CHOOSE_ITEM, S.OUT_OF_SERVICE}:
        assert t.state.sale is None
    if t.state.screen not in {S.ATTRACT, S.CHOOSE_ITEM, S.CHOOSE_COIN, S.OUT_OF_SERVICE}:
        assert t.state.sale is not None and t.state.sale.order is not None
    assert_money_is_decimal(t)


# ---------------------------------------------------------------- the matrix

# Every event type, built against the state it is sent to. "Current" ids are the sale's own
# (or EARLIER_TX where there is no order); *_other_tx variants name a transaction not on screen.
MatrixEvent = Callable[[KioskState], Event]


def _tx(state: KioskState) -> str:
    return state.sale.tx_id if state.sale is not None and state.sale.tx_id else EARLIER_TX


def _slot(state: KioskState) -> str:
    return state.sale.slot_id if state.sale is not None else "A1"


def _order_or_stub(state: KioskState) -> Order:
    if state.sale is not None and state.sale.order is not None:
        return state.sale.order
    return Order(EARLIER_TX, "A1", "Cola", Decimal("2.50"), "USD", None, int(T0))


def _update(ps: PaymentState, tx: Callable[[KioskState], str] = _tx) -> MatrixEvent:
    return lambda s: PaymentUpdate(tx(s), status(ps, raw="matrix",
                                                 **({"remaining": Decimal("0.000020")}
                                                    if ps is PaymentState.UNDERPAID else {})))


MATRIX_EVENTS: dict[str, MatrixEvent] = {
    "tick": lambda s: Tick(),
    "tick_late": lambda s: Tick(),                       # sent LATE_S later: every deadline passed
    "start": lambda s: StartTapped(),
    "item": lambda s: ItemChosen("A1"),
    "coin": lambda s: CoinChosen(BTC),
    "coin_wallet": lambda s: CoinChosen(None),
    "cancel": lambda s: CancelPressed(),
    "done": lambda s: DonePressed(),
    "assets_loaded": lambda s: AssetsLoaded(_slot(s), (BTC, ETH, USDT)),
    "assets_failed": lambda s: AssetsFailed(_slot(s), "gateway unreachable"),
    "created": lambda s: PaymentCreated(_tx(s), request_for(_order_or_stub(s))),
    "create_failed": lambda s: PaymentCreateFailed(_tx(s), "HTTP 503"),
    **{f"upd_{ps.value}": _update(ps) for ps in PaymentState},
    "upd_awaiting_other_tx": _update(PaymentState.AWAITING, lambda s: OTHER_TX),
    "paid_other_tx": _update(PaymentState.PAID, lambda s: OTHER_TX),
    "vend_vended": lambda s: VendFinished(_tx(s), Dropped.YES),
    "vend_jam": lambda s: VendFinished(_tx(s), Dropped.NO, disables_slot=True, detail="no drop"),
    "vend_unknown": lambda s: VendFinished(_tx(s), Dropped.UNKNOWN),
    "vend_other_tx": lambda s: VendFinished(OTHER_TX, Dropped.YES),
    "hw_fault": lambda s: HardwareChanged("jam sensor tripped"),
    "hw_clear": lambda s: HardwareChanged(""),
    "stock": lambda s: StockChanged({"A1": 9, "A2": 9, "B1": 9}, frozenset({"B1"})),
    "keypad": lambda s: KeypadSelected(item=11, price_minor=250),   # priced like A1
    "prompt": lambda s: VendPrompted(_tx(s), "Select 11 on the machine's keypad"),
    "interrupted": lambda s: SaleInterrupted(
        Order(EARLIER_TX, "A1", "Cola", Decimal("2.50"), "USD", None, int(T0)),
        claim_code(EARLIER_TX), ClaimReason.VEND_UNKNOWN),
    "wall_clock_step": lambda s: WallClockSet(s.wall_offset_s + 86_400.0),
}
LATE_S = 10_000.0


@dataclass(frozen=True)
class Expect:
    screen: Screen
    effects: tuple[type, ...] = ()
    outcome: Outcome | None = None       # SaleFinished.outcome
    abandon: str | None = None           # AbandonPayment.kind
    claim: ClaimReason | None = None     # the sale now carries its claim code, for this reason
    refresh: bool = False                # same screen, the sale's data (status, coins) refreshed


def _ended(screen: Screen, kind: str, outcome: Outcome,
           claim: ClaimReason | None = None) -> Expect:
    return Expect(screen, (AbandonPayment, SaleFinished), outcome, kind, claim)


C = ClaimReason
END_CANCELLED = _ended(S.CANCELLED, "cancelled", Outcome.CANCELLED)
END_EXPIRED = _ended(S.EXPIRED, "expired", Outcome.EXPIRED)
END_FAILED = _ended(S.PAYMENT_FAILED, "payment_failed", Outcome.PAYMENT_FAILED)
# Ended by the kiosk alone after a QR was shown: nothing confirmed, the customer keeps a code.
CANCELLED_MAYBE_PAID = _ended(S.CANCELLED, "cancelled", Outcome.CANCELLED, C.MAYBE_PAID)
EXPIRED_MAYBE_PAID = _ended(S.EXPIRED, "expired", Outcome.EXPIRED, C.MAYBE_PAID)
FAILED_MAYBE_PAID = _ended(S.PAYMENT_FAILED, "payment_failed", Outcome.PAYMENT_FAILED,
                           C.MAYBE_PAID)
END_UNCONFIRMED = _ended(S.PAYMENT_FAILED, "payment_failed", Outcome.PAYMENT_FAILED,
                         C.UNCONFIRMED)
END_UNVERIFIED = _ended(S.PAYMENT_FAILED, "payment_failed", Outcome.PAYMENT_FAILED,
                        C.UNVERIFIED)

_GATEWAY_ENDS = {"upd_paid": Expect(S.VENDING, (Vend,)), "upd_failed": FAILED_MAYBE_PAID,
                 "upd_unverified": END_UNVERIFIED,
                 "upd_expired": END_EXPIRED, "upd_cancelled": END_CANCELLED}
_LATE_MONEY = {"upd_paid", "upd_unverified"}
_LEAVE_RESULT = {key: Expect(S.ATTRACT) for key in ("start", "done", "tick_late")}

_BY_SCREEN: dict[Screen, dict[str, Expect]] = {
    S.ATTRACT: {"start": Expect(S.CHOOSE_ITEM), "hw_fault": Expect(S.OUT_OF_SERVICE)},
    S.CHOOSE_ITEM: {"item": Expect(S.CHOOSE_COIN, (LoadAssets,)), "cancel": Expect(S.ATTRACT),
                    "tick_late": Expect(S.ATTRACT), "hw_fault": Expect(S.OUT_OF_SERVICE)},
    S.CHOOSE_COIN: {"coin": Expect(S.CREATING_PAYMENT, (CreatePayment,)),
                    "coin_wallet": Expect(S.CREATING_PAYMENT, (CreatePayment,)),
                    "cancel": Expect(S.CHOOSE_ITEM), "tick_late": Expect(S.ATTRACT),
                    "assets_loaded": Expect(S.CHOOSE_COIN, refresh=True),
                    "assets_failed": Expect(S.CHOOSE_COIN, refresh=True),
                    "hw_fault": Expect(S.OUT_OF_SERVICE)},
    S.CREATING_PAYMENT: {"created": Expect(S.AWAITING_PAYMENT), "create_failed": END_FAILED,
                         "cancel": END_CANCELLED, "tick_late": END_FAILED},
    S.AWAITING_PAYMENT: {**_GATEWAY_ENDS,
                         "upd_awaiting": Expect(S.AWAITING_PAYMENT, refresh=True),
                         "upd_confirming": Expect(S.CONFIRMING),
                         "upd_under_review": Expect(S.CONFIRMING),
                         "upd_underpaid": Expect(S.UNDERPAID),
                         "cancel": CANCELLED_MAYBE_PAID, "tick_late": EXPIRED_MAYBE_PAID},
    S.CONFIRMING: {**_GATEWAY_ENDS,
                   "upd_awaiting": Expect(S.AWAITING_PAYMENT),
                   "upd_confirming": Expect(S.CONFIRMING, refresh=True),
                   "upd_under_review": Expect(S.CONFIRMING, refresh=True),
                   "upd_underpaid": Expect(S.UNDERPAID),
                   "tick_late": END_UNCONFIRMED},
    S.UNDERPAID: {**_GATEWAY_ENDS,
                  "upd_awaiting": Expect(S.AWAITING_PAYMENT),
                  "upd_confirming": Expect(S.CONFIRMING),
                  "upd_under_review": Expect(S.CONFIRMING),
                  "upd_underpaid": Expect(S.UNDERPAID, refresh=True),
                  # part of the money arrived: however the sale ends, that is an open claim
                  "upd_failed": _ended(S.PAYMENT_FAILED, "payment_failed",
                                       Outcome.PAYMENT_FAILED, C.PART_PAID),
                  "upd_expired": _ended(S.EXPIRED, "expired", Outcome.EXPIRED, C.PART_PAID),
                  "upd_cancelled": _ended(S.CANCELLED, "cancelled", Outcome.CANCELLED,
                                          C.PART_PAID),
                  "cancel": _ended(S.CANCELLED, "cancelled", Outcome.CANCELLED, C.PART_PAID),
                  "tick_late": _ended(S.EXPIRED, "expired", Outcome.EXPIRED, C.PART_PAID)},
    S.VENDING: {"vend_vended": Expect(S.THANK_YOU, (SaleFinished,), Outcome.VENDED),
                "vend_jam": Expect(S.VEND_FAILED, (SaleFinished,),
                                   Outcome.VEND_FAILED, claim=C.VEND_FAILED),
                "vend_unknown": Expect(S.VEND_FAILED, (SaleFinished,),
                                       Outcome.VEND_UNKNOWN, claim=C.VEND_UNKNOWN),
                # no word from the machine for vend_backstop_s: unknown, with a claim code
                "tick_late": Expect(S.VEND_FAILED, (SaleFinished,),
                                    Outcome.VEND_UNKNOWN, claim=C.VEND_UNKNOWN)},
    S.THANK_YOU: dict(_LEAVE_RESULT),
    S.VEND_FAILED: dict(_LEAVE_RESULT),
    # The gateway confirms nothing arrived: the code of a "maybe paid" ending is withdrawn.
    S.PAYMENT_FAILED: {**_LEAVE_RESULT, "upd_expired": Expect(S.PAYMENT_FAILED, refresh=True),
                       "upd_cancelled": Expect(S.PAYMENT_FAILED, refresh=True)},
    S.EXPIRED: {**_LEAVE_RESULT, "upd_expired": Expect(S.EXPIRED, refresh=True),
                "upd_cancelled": Expect(S.EXPIRED, refresh=True)},
    S.CANCELLED: {**_LEAVE_RESULT, "upd_expired": Expect(S.CANCELLED, refresh=True),
                  "upd_cancelled": Expect(S.CANCELLED, refresh=True)},
    S.OUT_OF_SERVICE: {"hw_clear": Expect(S.ATTRACT)},
}
# Money (or a payment that failed verification) for a sale that is not waiting for it is
# never dropped and never vended.
for _screen in (S.ATTRACT, S.CHOOSE_ITEM, S.CHOOSE_COIN, S.PAYMENT_FAILED, S.EXPIRED,
                S.CANCELLED, S.OUT_OF_SERVICE):
    for _key in _LATE_MONEY:
        _BY_SCREEN[_screen][_key] = Expect(_screen, (RecordPaidLate,))
# Money for a transaction that is not on screen is never dropped and never vended, anywhere.
for _screen in Screen:
    _BY_SCREEN[_screen]["paid_other_tx"] = Expect(_screen, (RecordPaidLate,))
    # A keypad pick starts a sale only on a free kiosk; anywhere else the machine is let go.
    _BY_SCREEN[_screen]["keypad"] = Expect(_screen, (ReleaseSelection,))
for _screen in (S.ATTRACT, S.CHOOSE_ITEM):
    _BY_SCREEN[_screen]["keypad"] = Expect(S.CHOOSE_COIN, (LoadAssets,))
_BY_SCREEN[S.VENDING]["prompt"] = Expect(S.VENDING, refresh=True)
# A sale a crash cut short shows its claim, but never over a customer being served.
for _screen in (S.ATTRACT, S.OUT_OF_SERVICE):
    _BY_SCREEN[_screen]["interrupted"] = Expect(S.VEND_FAILED,
                                                claim=ClaimReason.VEND_UNKNOWN)

EXPECTED: dict[tuple[Screen, str], Expect] = {
    (screen, key): expect for screen, table in _BY_SCREEN.items() for key, expect in table.items()
}
MATRIX = [(screen, key) for screen in Screen for key in MATRIX_EVENTS]


def play_matrix_cell(screen: Screen, key: str) -> tuple[Kiosk, KioskState, Event, Transition]:
    k = state_at(screen)
    before = k.state
    event = MATRIX_EVENTS[key](before)
    t = k.send(event, after=LATE_S if key == "tick_late" else 1.0)
    return k, before, event, t


def test_matrix_covers_every_screen_and_every_event_type() -> None:
    assert set(ROUTES) == set(Screen)
    sent = {type(make(state_at(S.AWAITING_PAYMENT).state)) for make in MATRIX_EVENTS.values()}
    assert sent == set(Event.__args__)  # type: ignore[attr-defined]
    assert {key for key in MATRIX_EVENTS if key.startswith("upd_")} >= {
        f"upd_{ps.value}" for ps in PaymentState}
    assert set(EXPECTED) <= set(MATRIX)


@pytest.mark.parametrize(("screen", "key"), MATRIX, ids=[f"{s.name}-{k}" for s, k in MATRIX])
def test_matrix_invariants(screen: Screen, key: str) -> None:
    _, before, event, t = play_matrix_cell(screen, key)  # step never raises
    assert_step_invariants(before, event, t)
    paid_for_sale_on_screen = (is_paid(event) and before.sale is not None
                               and isinstance(event, PaymentUpdate)
                               and event.tx_id == before.sale.tx_id)
    if screen in PAYMENT_SCREENS and paid_for_sale_on_screen:
        assert types_of(t.effects) == (Vend,)


@pytest.mark.parametrize(("screen", "key"), MATRIX, ids=[f"{s.name}-{k}" for s, k in MATRIX])
def test_matrix_transition_table(screen: Screen, key: str) -> None:
    k, before, event, t = play_matrix_cell(screen, key)
    expect = EXPECTED.get((screen, key))
    if expect is None:  # ignored: nothing the customer or the money could notice changes
        assert t.effects == ()
        assert t.state.screen is before.screen
        assert t.state.sale == before.sale
        assert t.state.screen_since == before.screen_since
        if key != "stock":
            assert t.state.disabled == before.disabled
            assert dict(t.state.stock) == dict(before.stock)
        if isinstance(event, HardwareChanged):
            assert t.state.hardware_fault == event.fault
        if isinstance(event, StockChanged):
            assert dict(t.state.stock) == dict(event.stock)
            assert t.state.disabled == event.disabled
        if isinstance(event, WallClockSet):
            assert t.state.wall_offset_s == event.offset_s
        return

    assert t.state.screen is expect.screen
    assert types_of(t.effects) == expect.effects
    if expect.refresh:
        assert t.state.screen_since == before.screen_since
        assert t.state.sale != before.sale
    elif expect.screen is not before.screen:
        assert t.state.screen_since == k.now

    old_order = before.sale.order if before.sale is not None else None
    new_sale = t.state.sale
    for effect in t.effects:
        if isinstance(effect, LoadAssets):
            assert effect == LoadAssets("A1", Decimal("2.50"), "USD")
        elif isinstance(effect, CreatePayment):
            assert isinstance(event, CoinChosen)
            assert effect.order == Order(tx_id="tx-1", slot_id="A1", item_name="Cola",
                                         amount=Decimal("2.50"), currency="USD",
                                         asset=event.asset, expires_at=int(k.now) + WINDOW_S)
            assert new_sale is not None and new_sale.order == effect.order
        elif isinstance(effect, (Vend, AbandonPayment, SaleFinished)):
            assert old_order is not None and effect.order == old_order
        if isinstance(effect, AbandonPayment):
            assert effect.kind == expect.abandon
        if isinstance(effect, SaleFinished):
            assert effect.outcome is expect.outcome
        if isinstance(effect, Vend):   # the code a failure will owe, decided up front
            assert (effect.claim_code, effect.refund) == (claim_code(effect.order.tx_id), False)
        if isinstance(effect, RecordPaidLate):
            assert isinstance(event, PaymentUpdate)
            assert effect == RecordPaidLate(event.tx_id, event.status)
    if expect.screen in {S.ATTRACT, S.CHOOSE_ITEM, S.OUT_OF_SERVICE}:
        assert new_sale is None
    elif expect.screen is not before.screen and new_sale is not None and new_sale.order:
        expected_code = claim_code(new_sale.order.tx_id) if expect.claim else ""
        assert new_sale.claim_code == expected_code
        assert new_sale.claim_reason is expect.claim


# ---------------------------------------------------------------- once per sale, any sequence


def _progress_event(k: Kiosk, rng: random.Random) -> Event:
    """An event that moves the sale on screen forward (or to one of its ends)."""
    sale, screen = k.state.sale, k.screen
    if screen is S.ATTRACT:
        return StartTapped()
    if screen is S.OUT_OF_SERVICE:
        return HardwareChanged("")
    if screen is S.CHOOSE_ITEM:
        return ItemChosen(rng.choice(["A1", "A2", "B1"]))
    assert sale is not None
    if screen is S.CHOOSE_COIN:
        if sale.assets is None:
            return AssetsLoaded(sale.slot_id, OFFERED)
        return CoinChosen(rng.choice([*sale.assets, None]))
    tx = sale.tx_id or OTHER_TX
    if screen is S.CREATING_PAYMENT:
        if rng.random() < 0.8:
            return PaymentCreated(tx, request_for(_order_or_stub(k.state)))
        return PaymentCreateFailed(tx, "HTTP 500")
    if screen in PAYMENT_SCREENS:
        return PaymentUpdate(tx, status(rng.choice(list(PaymentState))))
    if screen is S.VENDING:
        return VendFinished(tx, rng.choice([Dropped.YES, Dropped.YES, Dropped.NO, Dropped.UNKNOWN]),
                            rng.random() < 0.2)
    return DonePressed()


def _noise_event(k: Kiosk, rng: random.Random, issued: list[str]) -> Event:
    """Anything at all, often naming an earlier sale or a stranger's transaction."""
    sale = k.state.sale
    current = sale.tx_id if sale is not None else None
    tx = current if current and rng.random() < 0.5 else rng.choice(issued + [OTHER_TX])
    slot = rng.choice(["A1", "A2", "B1", "Z9"])
    makers: list[Callable[[], Event]] = [
        Tick, StartTapped, CancelPressed, DonePressed,
        lambda: ItemChosen(slot),
        lambda: CoinChosen(rng.choice([BTC, ETH, USDT, None])),
        lambda: AssetsLoaded(slot, OFFERED),
        lambda: AssetsFailed(slot, "down"),
        lambda: PaymentCreated(tx, request_for(_order_or_stub(k.state))),
        lambda: PaymentCreateFailed(tx, "HTTP 500"),
        lambda: PaymentUpdate(tx, status(rng.choice(list(PaymentState)))),
        lambda: PaymentUpdate(tx, status(PaymentState.PAID)),
        lambda: VendFinished(tx, rng.choice(list(Dropped)),
                             rng.random() < 0.3),
        lambda: HardwareChanged(rng.choice(["", FAULT])),
        lambda: StockChanged(dict(STOCK), frozenset()),
    ]
    return rng.choice(makers)()


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("choose_asset", [True, False])
def test_random_walk_keeps_once_per_sale_rules(seed: int, choose_asset: bool) -> None:
    rng = random.Random(seed)
    k = new_kiosk(choose_asset=choose_asset)
    issued: list[str] = [EARLIER_TX]
    finished: list[str] = []
    vended: list[str] = []
    for _ in range(600):
        before = k.state
        if rng.random() < 0.6:
            event = _progress_event(k, rng)
        else:
            event = _noise_event(k, rng, issued)
        t = k.send(event, after=rng.choice([0.5, 1.0, 2.0, 5.0, 31.0, 61.0, 200.0]))
        assert_step_invariants(before, event, t)
        for effect in t.effects:
            if isinstance(effect, CreatePayment):
                assert effect.order.tx_id not in issued
                issued.append(effect.order.tx_id)
            if isinstance(effect, Vend):
                assert effect.order.tx_id not in vended, "a second vend for one sale"
                assert effect.order.tx_id not in finished, "a vend for a sale already over"
                vended.append(effect.order.tx_id)
            if isinstance(effect, SaleFinished):
                assert effect.order.tx_id not in finished, "a sale finished twice"
                finished.append(effect.order.tx_id)
    assert len(finished) >= 10, "the walk should complete many sales"
    assert vended, "the walk should reach a vend"


# ---------------------------------------------------------------- stories: the happy path


def test_happy_path_with_coin_choice() -> None:
    k = new_kiosk()
    screens = []
    for step in (tap_start, choose_cola, load_assets, choose_btc, payment_created,
                 gateway_says(PaymentState.CONFIRMING), gateway_says(PaymentState.PAID),
                 vend_finishes("vended")):
        step(k)
        screens.append(k.screen)
    assert screens == [S.CHOOSE_ITEM, S.CHOOSE_COIN, S.CHOOSE_COIN, S.CREATING_PAYMENT,
                       S.AWAITING_PAYMENT, S.CONFIRMING, S.VENDING, S.THANK_YOU]
    order = k.order
    assert order.asset == BTC
    assert k.effects == [
        LoadAssets("A1", Decimal("2.50"), "USD"),
        CreatePayment(order),
        Vend(order, claim_code(order.tx_id)),
        SaleFinished(order, Outcome.VENDED, "https://pay.example/tx-1", "BTC"),
    ]
    assert k.state.stock["A1"] == 4
    assert k.send(DonePressed()).state.screen is S.ATTRACT
    assert k.state.sale is None


def test_happy_path_wallet_chooses_coin() -> None:
    k = new_kiosk(choose_asset=False)
    tap_start(k)
    t = choose_cola(k)
    # the detail/confirm step: no coin list to load, only the customer's "pay" to wait for
    assert t.state.screen is S.CHOOSE_COIN and t.effects == ()
    assert k.sale.assets == ()
    assert k.send(CoinChosen(ETH)).effects == ()  # no coin offered: only the wallet's choice
    t = k.send(CoinChosen(None))
    assert t.state.screen is S.CREATING_PAYMENT
    assert types_of(t.effects) == (CreatePayment,)
    assert k.order.asset is None
    payment_created(k)
    gateway_says(PaymentState.PAID)(k)
    vend_finishes("vended")(k)
    assert k.screen is S.THANK_YOU
    assert types_of(tuple(k.effects)) == (CreatePayment, Vend, SaleFinished)
    assert not k.effects_of(LoadAssets)


def test_order_carries_price_currency_tx_and_window() -> None:
    k = state_at(S.CHOOSE_COIN)
    t = k.send(CoinChosen(ETH), at=1_234.9)
    (create,) = t.effects
    assert isinstance(create, CreatePayment)
    order = create.order
    assert order.amount == Decimal("2.50") and type(order.amount) is Decimal
    assert (order.currency, order.tx_id, order.slot_id, order.item_name) == (
        "USD", "tx-1", "A1", "Cola")
    assert order.asset == ETH
    assert order.expires_at == 1_234 + WINDOW_S


def test_order_expiry_is_dated_by_the_wall_clock_the_window_by_now() -> None:
    k = state_at(S.CHOOSE_COIN)
    k.send(WallClockSet(1_700_000_000.0), after=0.0)
    t = k.send(CoinChosen(ETH), at=1_234.9)
    (create,) = t.effects
    assert isinstance(create, CreatePayment)
    # The gateway reads a unix time; the flow's own deadline is on its monotonic ``now``.
    assert create.order.expires_at == 1_700_000_000 + 1_234 + WINDOW_S
    assert k.sale.pay_by == 1_235 + WINDOW_S   # the countdown's whole seconds


@pytest.mark.parametrize("step_s", [86_400.0, -86_400.0])
def test_a_wall_clock_step_mid_sale_moves_no_deadline(step_s: float) -> None:
    k = state_at(S.AWAITING_PAYMENT)
    order, pay_by = k.order, k.sale.pay_by
    k.send(WallClockSet(k.state.wall_offset_s + step_s))
    t = k.send(Tick(), at=pay_by - 1)
    assert (t.state.screen, t.effects) == (S.AWAITING_PAYMENT, ())
    assert k.order == order            # the expiry the gateway was given stays as it was
    t = k.send(PaymentUpdate(k.tx, PaymentStatus(PaymentState.PAID)))
    assert t.state.screen is S.VENDING


def test_each_sale_gets_its_own_tx_id() -> None:
    k = state_at(S.CANCELLED)
    k.send(DonePressed())
    for step in _TO_CREATING:
        step(k)
    assert [e.order.tx_id for e in k.effects_of(CreatePayment)] == ["tx-1", "tx-2"]


# ---------------------------------------------------------------- stories: choosing item and coin


@pytest.mark.parametrize("slot", ["Z9", "A2-sold-out", "B1-disabled"])
def test_unavailable_item_is_ignored(slot: str) -> None:
    k = new_kiosk(stock={"A1": 5, "A2": 0, "B1": 3}, disabled=frozenset({"B1"}))
    tap_start(k)
    t = k.send(ItemChosen(slot.split("-")[0]))
    assert t.state.screen is S.CHOOSE_ITEM
    assert t.effects == ()
    assert [p.slot_id for p in t.state.available_products()] == ["A1"]


def test_assets_failed_offers_only_the_wallet_choice() -> None:
    k = state_at(S.CHOOSE_ITEM)
    choose_cola(k)
    t = k.send(AssetsFailed("A1", "gateway unreachable"))
    assert t.state.screen is S.CHOOSE_COIN
    assert k.sale.assets == ()
    assert k.sale.message == "gateway unreachable"
    assert k.send(CoinChosen(BTC)).effects == ()
    assert k.screen is S.CHOOSE_COIN
    t = k.send(CoinChosen(None))
    assert t.state.screen is S.CREATING_PAYMENT
    (create,) = t.effects
    assert isinstance(create, CreatePayment) and create.order.asset is None


def test_coin_not_offered_is_ignored() -> None:
    k = state_at(S.CHOOSE_COIN)
    t = k.send(CoinChosen(USDT))
    assert (t.state.screen, t.effects) == (S.CHOOSE_COIN, ())
    assert k.sale.order is None


def test_coin_chosen_before_the_list_loaded_is_ignored() -> None:
    k = state_at(S.CHOOSE_ITEM)
    choose_cola(k)
    assert k.sale.assets is None
    for asset in (BTC, None):
        t = k.send(CoinChosen(asset))
        assert (t.state.screen, t.effects) == (S.CHOOSE_COIN, ())


def test_stale_asset_answers_for_another_slot_are_ignored() -> None:
    k = state_at(S.CHOOSE_ITEM)
    choose_cola(k)
    k.send(AssetsLoaded("A2", (USDT,)))
    k.send(AssetsFailed("B1", "old failure"))
    assert k.sale.assets is None and k.sale.message == ""
    load_assets(k)
    k.send(AssetsLoaded("A2", (USDT,)))
    assert k.sale.assets == OFFERED
    assert k.send(CoinChosen(USDT)).effects == ()


def test_cancel_on_coin_screen_goes_back_to_items() -> None:
    k = state_at(S.CHOOSE_COIN)
    t = k.send(CancelPressed())
    assert (t.state.screen, t.state.sale, t.effects) == (S.CHOOSE_ITEM, None, ())


def test_double_tap_creates_one_payment() -> None:
    k = state_at(S.CHOOSE_COIN)
    choose_btc(k)
    k.send(CoinChosen(ETH))
    k.send(ItemChosen("A1"))
    assert len(k.effects_of(CreatePayment)) == 1
    assert k.order.asset == BTC and k.tx == "tx-1"


# ---------------------------------------------------------------- stories: paying


def test_underpaid_then_top_up_then_paid_vends() -> None:
    k = state_at(S.AWAITING_PAYMENT)
    gateway_says(PaymentState.UNDERPAID, remaining=Decimal("0.000020"))(k)
    assert k.screen is S.UNDERPAID
    assert k.sale.status is not None and k.sale.status.remaining == Decimal("0.000020")
    gateway_says(PaymentState.UNDERPAID, remaining=Decimal("0.000005"))(k)
    assert k.screen is S.UNDERPAID
    assert k.sale.status is not None and k.sale.status.remaining == Decimal("0.000005")
    gateway_says(PaymentState.CONFIRMING)(k)
    assert k.screen is S.CONFIRMING
    t = gateway_says(PaymentState.PAID)(k)
    assert t.state.screen is S.VENDING
    assert t.effects == (Vend(k.order, claim_code(k.order.tx_id)),)
    assert k.effects_of(AbandonPayment) == [] and k.effects_of(SaleFinished) == []


def test_under_review_shows_confirming_and_is_not_cancellable() -> None:
    k = state_at(S.AWAITING_PAYMENT)
    gateway_says(PaymentState.UNDER_REVIEW)(k)
    assert k.screen is S.CONFIRMING
    assert k.send(CancelPressed()).effects == ()
    assert k.screen is S.CONFIRMING


def test_same_status_again_does_not_restart_the_screen() -> None:
    k = state_at(S.UNDERPAID)
    since = k.state.screen_since
    gateway_says(PaymentState.UNDERPAID)(k)
    assert k.state.screen_since == since


# ---------------------------------------------------------------- stories: deadlines


def test_awaiting_expires_when_the_window_closes() -> None:
    k = state_at(S.AWAITING_PAYMENT)
    deadline = k.sale.pay_by
    assert deadline == T0 + 4 + WINDOW_S   # chosen at T0+4 by the route
    assert k.order.expires_at == int(deadline)  # the wall clock reads as ``now`` here
    assert k.send(Tick(), at=deadline - 1).effects == ()
    assert k.screen is S.AWAITING_PAYMENT
    t = k.send(Tick(), at=deadline)
    assert t.state.screen is S.EXPIRED
    # Nothing confirmed either way: the customer keeps a code, in case the wallet paid.
    code = claim_code("tx-1")
    assert (k.sale.claim_code, k.sale.claim_reason) == (code, ClaimReason.MAYBE_PAID)
    assert t.effects == (
        AbandonPayment(k.order, "expired", "payment window closed", code,
                       ClaimReason.MAYBE_PAID),
        SaleFinished(k.order, Outcome.EXPIRED, "https://pay.example/tx-1"),
    )
    assert not t.effects[0].open_claim  # type: ignore[union-attr]


def test_gateway_confirming_nothing_arrived_withdraws_the_code() -> None:
    k = state_at(S.AWAITING_PAYMENT)
    k.send(Tick(), at=float(k.order.expires_at))
    assert k.sale.claim_code
    t = gateway_says(PaymentState.EXPIRED)(k)
    assert (t.state.screen, t.effects) == (S.EXPIRED, ())
    assert (k.sale.claim_code, k.sale.claim_reason) == ("", None)


def test_part_paid_code_is_never_withdrawn() -> None:
    k = state_at(S.UNDERPAID)
    k.send(CancelPressed())
    assert k.sale.claim_reason is ClaimReason.PART_PAID
    gateway_says(PaymentState.CANCELLED)(k)
    assert (k.sale.claim_code, k.sale.claim_reason) == (claim_code("tx-1"),
                                                        ClaimReason.PART_PAID)


def test_payment_that_fails_verification_is_an_open_claim() -> None:
    k = state_at(S.AWAITING_PAYMENT)
    t = gateway_says(PaymentState.UNVERIFIED)(k)
    assert t.state.screen is S.PAYMENT_FAILED
    assert (k.sale.claim_code, k.sale.claim_reason) == (claim_code("tx-1"),
                                                        ClaimReason.UNVERIFIED)
    abandon = t.effects[0]
    assert isinstance(abandon, AbandonPayment) and abandon.open_claim


def test_underpaid_expires_when_the_window_closes() -> None:
    k = state_at(S.UNDERPAID)
    t = k.send(Tick(), at=float(k.order.expires_at))
    assert t.state.screen is S.EXPIRED
    assert types_of(t.effects) == (AbandonPayment, SaleFinished)


def test_confirming_gets_a_grace_period_then_a_claim_code() -> None:
    k = state_at(S.CONFIRMING)
    deadline = float(k.order.expires_at)
    for at in (deadline, deadline + 1, deadline + GRACE_S):
        t = k.send(Tick(), at=at)
        assert (t.state.screen, t.effects) == (S.CONFIRMING, ())
    t = k.send(Tick(), at=deadline + GRACE_S + 1)
    assert t.state.screen is S.PAYMENT_FAILED
    code = k.sale.claim_code
    assert CLAIM_CODE_RE.match(code)
    assert code == claim_code("tx-1")
    assert t.effects == (
        AbandonPayment(k.order, "payment_failed", "payment still unconfirmed", code,
                       ClaimReason.UNCONFIRMED),
        SaleFinished(k.order, Outcome.PAYMENT_FAILED, "https://pay.example/tx-1"),
    )


def test_paid_while_confirming_in_grace_still_vends() -> None:
    k = state_at(S.CONFIRMING)
    k.send(Tick(), at=float(k.order.expires_at) + 60)
    t = gateway_says(PaymentState.PAID)(k)
    assert t.state.screen is S.VENDING and t.effects == (Vend(k.order, claim_code(k.order.tx_id)),)


def test_creating_backstop_timeout_fails_the_payment() -> None:
    k = state_at(S.CREATING_PAYMENT)
    since = k.state.screen_since
    assert k.send(Tick(), at=since + CREATE_TIMEOUT_S).effects == ()
    assert k.screen is S.CREATING_PAYMENT
    t = k.send(Tick(), at=since + CREATE_TIMEOUT_S + 1)
    assert t.state.screen is S.PAYMENT_FAILED
    assert t.effects == (
        AbandonPayment(k.order, "payment_failed", "payment could not be created in time"),
        SaleFinished(k.order, Outcome.PAYMENT_FAILED, ""),
    )
    assert k.sale.claim_code == ""


def test_create_failed_ends_the_sale_with_the_reason() -> None:
    k = state_at(S.CREATING_PAYMENT)
    t = k.send(PaymentCreateFailed(k.tx, "HTTP 503"))
    assert t.state.screen is S.PAYMENT_FAILED
    assert t.effects == (AbandonPayment(k.order, "payment_failed", "HTTP 503"),
                         SaleFinished(k.order, Outcome.PAYMENT_FAILED, ""))


def test_payment_created_for_another_tx_is_ignored_while_creating() -> None:
    k = state_at(S.CREATING_PAYMENT)
    for event in (PaymentCreated(OTHER_TX, request_for(k.order)),
                  PaymentCreateFailed(OTHER_TX, "HTTP 500")):
        t = k.send(event)
        assert (t.state.screen, t.effects) == (S.CREATING_PAYMENT, ())


# ---------------------------------------------------------------- stories: cancel


@pytest.mark.parametrize("screen", [S.CREATING_PAYMENT, S.AWAITING_PAYMENT, S.UNDERPAID])
def test_cancel_while_unpaid_abandons_the_payment(screen: Screen) -> None:
    k = state_at(screen)
    t = k.send(CancelPressed())
    assert t.state.screen is S.CANCELLED
    link = "" if screen is S.CREATING_PAYMENT else "https://pay.example/tx-1"
    # No QR shown yet: nothing can have been paid. Otherwise a code, until the gateway
    # confirms nothing arrived (part paid: a claim the operator owes).
    reason = {S.CREATING_PAYMENT: None, S.AWAITING_PAYMENT: ClaimReason.MAYBE_PAID,
              S.UNDERPAID: ClaimReason.PART_PAID}[screen]
    code = claim_code("tx-1") if reason else ""
    assert t.effects == (AbandonPayment(k.order, "cancelled", "customer", code, reason),
                         SaleFinished(k.order, Outcome.CANCELLED, link))


@pytest.mark.parametrize("screen", [S.CONFIRMING, S.VENDING])
def test_cancel_once_money_is_moving_is_ignored(screen: Screen) -> None:
    k = state_at(screen)
    before = k.state
    t = k.send(CancelPressed())
    assert (t.state.screen, t.state.sale, t.effects) == (screen, before.sale, ())


# ---------------------------------------------------------------- stories: late, duplicate events


def test_paid_after_cancel_is_recorded_late_not_vended() -> None:
    k = state_at(S.CANCELLED)
    paid = status(PaymentState.PAID)
    t = k.send(PaymentUpdate("tx-1", paid))
    assert t.state.screen is S.CANCELLED
    assert t.effects == (RecordPaidLate("tx-1", paid),)
    k.send(DonePressed())
    t = k.send(PaymentUpdate("tx-1", paid))
    assert t.state.screen is S.ATTRACT
    assert t.effects == (RecordPaidLate("tx-1", paid),)
    assert k.effects_of(Vend) == []


def test_paid_for_the_previous_sale_during_the_next_one_is_recorded_late() -> None:
    k = state_at(S.CANCELLED)
    k.send(DonePressed())
    for step in _TO_AWAITING:
        step(k)
    assert k.tx == "tx-2"
    before = k.state
    paid = status(PaymentState.PAID)
    t = k.send(PaymentUpdate("tx-1", paid))
    assert t.effects == (RecordPaidLate("tx-1", paid),)
    assert (t.state.screen, t.state.sale) == (S.AWAITING_PAYMENT, before.sale)


@pytest.mark.parametrize("ended", [S.EXPIRED, S.PAYMENT_FAILED])
def test_paid_after_the_sale_ended_unpaid_is_recorded_late(ended: Screen) -> None:
    k = state_at(ended)
    paid = status(PaymentState.PAID)
    t = k.send(PaymentUpdate(k.tx, paid))
    assert (t.state.screen, t.effects) == (ended, (RecordPaidLate(k.tx, paid),))


def test_paid_after_confirming_grace_ran_out_is_recorded_late() -> None:
    k = state_at(S.CONFIRMING)
    k.send(Tick(), at=float(k.order.expires_at) + GRACE_S + 1)
    assert k.screen is S.PAYMENT_FAILED
    paid = status(PaymentState.PAID)
    t = k.send(PaymentUpdate("tx-1", paid))
    assert t.effects == (RecordPaidLate("tx-1", paid),)
    assert k.effects_of(Vend) == []


def test_second_paid_while_vending_does_nothing() -> None:
    k = state_at(S.VENDING)
    before = k.state
    t = gateway_says(PaymentState.PAID)(k)
    assert (t.state, t.effects) == (before, ())
    assert len(k.effects_of(Vend)) == 1


def test_second_paid_on_thank_you_is_not_paid_late() -> None:
    k = state_at(S.THANK_YOU)
    t = gateway_says(PaymentState.PAID)(k)
    assert (t.state.screen, t.effects) == (S.THANK_YOU, ())
    assert k.effects_of(RecordPaidLate) == [] and len(k.effects_of(Vend)) == 1


def test_payment_created_after_cancel_changes_nothing() -> None:
    k = state_at(S.CREATING_PAYMENT)
    order = k.order
    k.send(CancelPressed())
    before = k.state
    t = k.send(PaymentCreated(order.tx_id, request_for(order)))
    assert (t.state, t.effects) == (before, ())
    t = k.send(PaymentCreateFailed(order.tx_id, "late failure"))
    assert (t.state, t.effects) == (before, ())
    assert k.effects_of(Vend) == [] and len(k.effects_of(SaleFinished)) == 1


@pytest.mark.parametrize("ps", [ps for ps in PaymentState
                                if ps not in (PaymentState.PAID, PaymentState.UNVERIFIED)])
def test_status_for_unknown_tx_does_nothing(ps: PaymentState) -> None:
    k = state_at(S.AWAITING_PAYMENT)
    before = k.state
    t = k.send(PaymentUpdate(OTHER_TX, status(ps)))
    assert (t.state, t.effects) == (before, ())


@pytest.mark.parametrize("ps", [PaymentState.EXPIRED, PaymentState.CANCELLED,
                                PaymentState.FAILED, PaymentState.AWAITING])
def test_statuses_after_the_sale_ended_do_not_end_it_again(ps: PaymentState) -> None:
    k = state_at(S.CANCELLED)
    t = k.send(PaymentUpdate(k.tx, status(ps)))
    assert (t.state.screen, t.effects) == (S.CANCELLED, ())


def test_vend_finished_for_another_tx_is_ignored() -> None:
    k = state_at(S.VENDING)
    before = k.state
    t = k.send(VendFinished(OTHER_TX, Dropped.YES))
    assert (t.state, t.effects) == (before, ())


def test_duplicate_vend_finished_is_ignored() -> None:
    k = state_at(S.THANK_YOU)
    before = k.state
    t = vend_finishes("vended")(k)
    assert (t.state, t.effects) == (before, ())
    assert k.state.stock["A1"] == 4 and len(k.effects_of(SaleFinished)) == 1


# ---------------------------------------------------------------- stories: vend results


def test_jam_issues_a_claim_and_disables_the_slot() -> None:
    k = state_at(S.VENDING)
    order = k.order
    t = vend_finishes("jam", disables_slot=True)(k)
    assert t.state.screen is S.VEND_FAILED
    code = claim_code("tx-1")
    assert CLAIM_CODE_RE.match(code) and k.sale.claim_code == code
    assert t.effects == (SaleFinished(order, Outcome.VEND_FAILED, "https://pay.example/tx-1",
                                      "BTC"),)
    assert k.sale.request is not None and k.sale.request.link == "https://pay.example/tx-1"
    assert "A1" in k.state.disabled and not k.state.available("A1")
    assert k.state.stock["A1"] == 5        # nothing dropped
    k.send(DonePressed())
    tap_start(k)
    t = choose_cola(k)
    assert (t.state.screen, t.effects) == (S.CHOOSE_ITEM, ())


def test_vend_unknown_finishes_as_vend_unknown() -> None:
    k = state_at(S.VENDING)
    t = vend_finishes("unknown")(k)
    assert t.state.screen is S.VEND_FAILED
    assert types_of(t.effects) == (SaleFinished,)
    assert k.sale.claim_reason is ClaimReason.VEND_UNKNOWN
    finished = t.effects[0]
    assert isinstance(finished, SaleFinished) and finished.outcome is Outcome.VEND_UNKNOWN


def test_vended_decrements_stock_and_last_item_sells_out() -> None:
    k = new_kiosk()
    tap_start(k)
    k.send(ItemChosen("A2"))              # Chips: one left
    k.send(AssetsLoaded("A2", OFFERED))
    choose_btc(k)
    assert k.order.amount == Decimal("1.75")
    payment_created(k)
    gateway_says(PaymentState.PAID)(k)
    vend_finishes("vended")(k)
    assert k.state.stock["A2"] == 0 and k.state.stock["A1"] == 5
    assert not k.state.available("A2")
    k.send(DonePressed())
    tap_start(k)
    t = k.send(ItemChosen("A2"))
    assert (t.state.screen, t.effects) == (S.CHOOSE_ITEM, ())


# ---------------------------------------------------------------- stories: timers


@pytest.mark.parametrize("screen", [S.CHOOSE_ITEM, S.CHOOSE_COIN])
def test_idle_browsing_falls_back_to_attract(screen: Screen) -> None:
    k = state_at(screen)
    last_input = k.state.last_input
    assert k.send(Tick(), at=last_input + IDLE_S - 1).state.screen is screen
    t = k.send(Tick(), at=last_input + IDLE_S)
    assert (t.state.screen, t.state.sale, t.effects) == (S.ATTRACT, None, ())


def test_a_tap_resets_the_idle_timer() -> None:
    k = state_at(S.CHOOSE_COIN)
    entered = k.now
    k.send(CoinChosen(USDT), at=entered + 20)      # a tap, even one that does nothing
    assert k.send(Tick(), at=entered + IDLE_S + 5).state.screen is S.CHOOSE_COIN
    assert k.send(Tick(), at=entered + 20 + IDLE_S).state.screen is S.ATTRACT


def test_gateway_answers_do_not_count_as_customer_input() -> None:
    k = state_at(S.CHOOSE_ITEM)
    choose_cola(k)
    tapped = k.now
    k.send(AssetsLoaded("A1", OFFERED), at=tapped + 20)
    assert k.send(Tick(), at=tapped + IDLE_S).state.screen is S.ATTRACT


@pytest.mark.parametrize("screen", [S.THANK_YOU, S.EXPIRED, S.CANCELLED, S.PAYMENT_FAILED])
def test_result_screen_returns_to_attract(screen: Screen) -> None:
    k = state_at(screen)
    hold = CLAIM_S if k.sale.claim_code else RESULT_S
    since = k.state.screen_since
    assert k.send(Tick(), at=since + hold - 0.5).state.screen is screen
    t = k.send(Tick(), at=since + hold)
    assert (t.state.screen, t.state.sale, t.effects) == (S.ATTRACT, None, ())


def _confirming_ran_out(k: Kiosk) -> Transition:
    return k.send(Tick(), at=float(k.order.expires_at) + GRACE_S + 1)


@pytest.mark.parametrize("route", [_TO_VENDING + (vend_finishes("jam"),),
                                   _TO_AWAITING + (gateway_says(PaymentState.CONFIRMING),
                                                   _confirming_ran_out)],
                         ids=["vend_failed", "payment_unconfirmed"])
def test_claim_screen_stays_long_enough_to_photograph(route: tuple[Step, ...]) -> None:
    k = new_kiosk()
    for step in route:
        step(k)
    assert k.sale.claim_code
    since = k.state.screen_since
    for at in (since + RESULT_S, since + CLAIM_S - 1):
        assert k.send(Tick(), at=at).state.screen is not S.ATTRACT
    assert k.send(Tick(), at=since + CLAIM_S).state.screen is S.ATTRACT


@pytest.mark.parametrize("screen", [S.THANK_YOU, S.VEND_FAILED, S.PAYMENT_FAILED, S.EXPIRED,
                                    S.CANCELLED])
def test_done_leaves_a_result_screen_at_once(screen: Screen) -> None:
    k = state_at(screen)
    t = k.send(DonePressed(), after=0.1)
    assert (t.state.screen, t.state.sale, t.effects) == (S.ATTRACT, None, ())


def test_vending_waits_for_the_machine_then_gives_a_claim_code() -> None:
    k = state_at(S.VENDING)
    assert k.send(Tick(), after=299.0).state.screen is S.VENDING
    t = k.send(Tick(), after=2.0)
    assert t.state.screen is S.VEND_FAILED
    [finished] = t.effects
    assert k.sale.claim_code == claim_code("tx-1")
    assert isinstance(finished, SaleFinished) and finished.outcome is Outcome.VEND_UNKNOWN
    late = k.send(VendFinished("tx-1", Dropped.YES))
    assert (late.state.screen, late.effects) == (S.VEND_FAILED, ())


# ---------------------------------------------------------------- stories: hardware


def test_starts_out_of_service_with_a_fault() -> None:
    k = new_kiosk(fault=FAULT)
    assert k.screen is S.OUT_OF_SERVICE
    assert k.send(StartTapped()).state.screen is S.OUT_OF_SERVICE


@pytest.mark.parametrize("screen", [S.ATTRACT, S.CHOOSE_ITEM, S.CHOOSE_COIN])
def test_fault_before_payment_takes_the_kiosk_out_of_service(screen: Screen) -> None:
    k = state_at(screen)
    t = k.send(HardwareChanged(FAULT))
    assert (t.state.screen, t.state.sale, t.effects) == (S.OUT_OF_SERVICE, None, ())
    assert t.state.hardware_fault == FAULT
    assert k.send(StartTapped()).state.screen is S.OUT_OF_SERVICE


def test_fault_clear_restores_attract() -> None:
    k = state_at(S.OUT_OF_SERVICE)
    t = k.send(HardwareChanged(""))
    assert (t.state.screen, t.state.hardware_fault, t.effects) == (S.ATTRACT, "", ())
    assert tap_start(k).state.screen is S.CHOOSE_ITEM


def test_fault_during_payment_lets_the_sale_finish_then_goes_out_of_service() -> None:
    k = state_at(S.AWAITING_PAYMENT)
    t = k.send(HardwareChanged(FAULT))
    assert (t.state.screen, t.effects) == (S.AWAITING_PAYMENT, ())
    t = gateway_says(PaymentState.PAID)(k)
    assert t.effects == (Vend(k.order, claim_code(k.order.tx_id)),)
    vend_finishes("motor_fault")(k)
    assert k.screen is S.VEND_FAILED
    assert k.send(DonePressed()).state.screen is S.OUT_OF_SERVICE


def test_fault_during_payment_then_expiry_goes_out_of_service() -> None:
    k = state_at(S.AWAITING_PAYMENT)
    k.send(HardwareChanged(FAULT))
    window_closes(k)
    assert k.screen is S.EXPIRED
    assert k.send(Tick(), after=CLAIM_S).state.screen is S.OUT_OF_SERVICE


def test_fault_cleared_during_the_sale_returns_to_attract() -> None:
    k = state_at(S.AWAITING_PAYMENT)
    k.send(HardwareChanged(FAULT))
    k.send(HardwareChanged(""))
    k.send(CancelPressed())
    assert k.send(DonePressed()).state.screen is S.ATTRACT


def test_a_refunding_gateway_shows_its_own_reference_after_a_failed_vend() -> None:
    flow = Flow(FlowSettings(currency="USD", gateway="centrapay", auto_refund=True,
                             payment_window_s=60), lambda: "tx-1")
    state = initial_state(PRODUCTS, STOCK, frozenset(), "", 0.0)
    request = PaymentRequest("pr-1", "https://pay.example/pr-1", 60, reference="CP-C7F-ZS5")
    for event in (StartTapped(), ItemChosen("A1"), AssetsLoaded("A1", ()), CoinChosen(None),
                  PaymentCreated("tx-1", request)):
        state = flow.step(state, event, 1.0).state
    paid = flow.step(state, PaymentUpdate("tx-1", PaymentStatus(PaymentState.PAID)), 1.0)
    [vend] = paid.effects
    assert isinstance(vend, Vend) and (vend.claim_code, vend.refund) == ("CP-C7F-ZS5", True)
    t = flow.step(paid.state, VendFinished("tx-1", Dropped.NO), 2.0)
    assert t.state.sale is not None and t.state.sale.claim_code == "CP-C7F-ZS5"
    unknown = flow.step(paid.state, VendFinished("tx-1", Dropped.UNKNOWN), 2.0)
    assert unknown.state.sale is not None   # may have dropped: the kiosk's code, no refund
    assert unknown.state.sale.claim_code == claim_code("tx-1")


def test_a_new_quote_replaces_the_qr_without_losing_the_order() -> None:
    k = state_at(S.AWAITING_PAYMENT)
    order = k.order
    fresh = PaymentRequest("tx-1", "bitcoin:addr2?amount=0.0003", order.expires_at,
                           crypto_amount=Decimal("0.0003"), crypto_symbol="BTC")
    k.send(PaymentUpdate("tx-1", PaymentStatus(PaymentState.AWAITING, request=fresh)))
    assert k.state.screen is S.AWAITING_PAYMENT
    assert k.sale.request == fresh and k.sale.order == order
    k.send(PaymentUpdate("tx-1", PaymentStatus(PaymentState.UNDERPAID,
                                               remaining=Decimal("0.0001"))))
    assert k.sale.request == fresh  # an update without a new quote keeps the last one


# ---------------------------------------------------------------- stories: keypad first (MDB)

KEYED = (Product("A1", "Cola", Decimal("2.50"), mdb_item=11),
         Product("A2", "Chips", Decimal("1.75"), mdb_item=12),
         Product("B1", "Water", Decimal("2.50")))


def keypad_flow(choose_asset: bool = False, patience: float | None = 60.0) -> Flow:
    settings = FlowSettings(currency="USD", gateway="mixpay", choose_asset=choose_asset,
                            payment_window_s=180, keypad_patience_s=patience)
    return Flow(settings, lambda: "tx-k")


def keyed_state() -> KioskState:
    return initial_state(KEYED, {"A1": 2, "A2": 0, "B1": 2}, frozenset(), "", 1000.0)


def test_a_keypad_pick_starts_the_sale_for_its_mapped_slot_within_the_patience() -> None:
    t = keypad_flow().step(keyed_state(), KeypadSelected(item=11, price_minor=250), 1000.0)
    assert t.state.screen is S.CREATING_PAYMENT
    assert t.state.sale is not None and t.state.sale.keypad and t.state.sale.slot_id == "A1"
    [create] = t.effects
    assert isinstance(create, CreatePayment)
    assert create.order.expires_at == 1000 + 60 - 10  # ends before the machine gives up


def test_an_unmapped_item_is_matched_by_price_only_when_unambiguous() -> None:
    flow = keypad_flow()
    t = flow.step(keyed_state(), KeypadSelected(item=99, price_minor=250), 1000.0)
    assert t.state.sale is not None and t.state.sale.slot_id == "B1"  # A1 is mapped to 11
    twins = initial_state(KEYED[:1] + (Product("B1", "Water", Decimal("2.50")),
                                       Product("B2", "Soda", Decimal("2.50"))),
                          {"A1": 1, "B1": 1, "B2": 1}, frozenset(), "", 1000.0)
    t = flow.step(twins, KeypadSelected(item=99, price_minor=250), 1000.0)
    assert t.state.screen is S.ATTRACT and t.effects == (ReleaseSelection(),)


def test_a_pick_of_a_sold_out_or_unknown_slot_is_released() -> None:
    flow = keypad_flow()
    for selection in (KeypadSelected(12, 175), KeypadSelected(77, 999)):
        t = flow.step(keyed_state(), selection, 1000.0)
        assert t.state.screen is S.ATTRACT and t.effects == (ReleaseSelection(),)


@pytest.mark.parametrize("ending", ["cancel", "expire", "fail"])
def test_a_keypad_sale_that_ends_unpaid_releases_the_machine(ending: str) -> None:
    flow = keypad_flow()
    state = flow.step(keyed_state(), KeypadSelected(11, 250), 1000.0).state
    request = PaymentRequest("tx-k", "https://pay.example/tx-k", 1050)
    state = flow.step(state, PaymentCreated("tx-k", request), 1001.0).state
    event: Event = {"cancel": CancelPressed(), "expire": Tick(),
                    "fail": PaymentUpdate("tx-k", PaymentStatus(PaymentState.FAILED))}[ending]
    t = flow.step(state, event, 1001.0 if ending != "expire" else 1060.0)
    assert ReleaseSelection() in t.effects
    assert any(isinstance(e, AbandonPayment) for e in t.effects)


def test_leaving_the_coin_screen_of_a_keypad_pick_releases_it() -> None:
    flow = keypad_flow(choose_asset=True)
    state = flow.step(keyed_state(), KeypadSelected(11, 250), 1000.0).state
    assert state.screen is S.CHOOSE_COIN
    back = flow.step(state, CancelPressed(), 1001.0)
    assert back.effects == (ReleaseSelection(),) and back.state.screen is S.CHOOSE_ITEM
    idle = flow.step(state, Tick(), 1000.0 + 1000)
    assert idle.effects == (ReleaseSelection(),) and idle.state.screen is S.ATTRACT


def test_a_paid_keypad_sale_vends_and_shows_the_machine_prompt() -> None:
    flow = keypad_flow()
    state = flow.step(keyed_state(), KeypadSelected(11, 250), 1000.0).state
    state = flow.step(state, PaymentCreated("tx-k", PaymentRequest("tx-k", "l", 1050)),
                      1001.0).state
    t = flow.step(state, PaymentUpdate("tx-k", PaymentStatus(PaymentState.PAID)), 1002.0)
    assert t.state.screen is S.VENDING and ReleaseSelection() not in t.effects
    shown = flow.step(t.state, VendPrompted("tx-k", "Take your item"), 1003.0).state
    assert shown.sale is not None and shown.sale.prompt == "Take your item"
    stale = flow.step(shown, VendPrompted("tx-other", "nope"), 1003.0).state
    assert stale.sale is not None and stale.sale.prompt == "Take your item"
