"""The sale state machine: ``step(state, event, now) -> Transition(state, effects)``.

Pure: no pygame, httpx, sqlite or hardware. Events come in (taps, gateway answers, vend results,
clock ticks); effects go out (create a payment, vend, abandon, record a late payment) and the
runtime carries them out on worker threads, feeding the results back as events.

Rules that keep money safe live here:
- a vend is asked for only once per sale, and only after a PAID (verified) status for the very
  transaction on screen, while that sale is still waiting for its payment; it carries the code
  a failure gives the customer, so the journal records the claim with the result;
- a PAID status for any other transaction, or for a sale already cancelled or expired, becomes
  ``RecordPaidLate`` (journalled and flagged for refund), never a vend;
- a payment that is confirming is never abandoned by the local countdown alone: it gets a grace
  period, and after that the customer is given a claim code while the watch goes on.
"""

from __future__ import annotations

import math

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import EllipsisType, MappingProxyType

from kiosk.claims import claim_code
from kiosk.money import to_minor
from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentState, PaymentStatus


class Screen(enum.Enum):
    ATTRACT = "attract"
    CHOOSE_ITEM = "choose_item"
    CHOOSE_COIN = "choose_coin"
    CREATING_PAYMENT = "creating_payment"
    AWAITING_PAYMENT = "awaiting_payment"
    CONFIRMING = "confirming"
    UNDERPAID = "underpaid"
    VENDING = "vending"
    THANK_YOU = "thank_you"
    VEND_FAILED = "vend_failed"
    PAYMENT_FAILED = "payment_failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    OUT_OF_SERVICE = "out_of_service"


class Outcome(enum.Enum):
    """How a customer's sale ended (the ``outcome`` of the autopilot's JSON line)."""

    VENDED = "vended"
    VEND_FAILED = "vend_failed"
    PAYMENT_FAILED = "payment_failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    VEND_UNKNOWN = "vend_unknown"


class Dropped(enum.Enum):
    """Did the item drop? All the flow needs of a vend's result (the driver's own word, a jam
    or a timeout say, goes in ``VendFinished.detail``; the runtime translates)."""

    YES = "yes"
    NO = "no"                          # certainly not: a refund or a claim
    UNKNOWN = "unknown"                # it may have: a claim, never a refund


class ClaimReason(enum.Enum):
    """Why a result screen gives the customer a code, which decides what the screen promises.

    A result screen with no code says "you were not charged" (or, after a vend, thank you);
    the flow clears the code only when the gateway confirmed that nothing arrived.
    """

    VEND_FAILED = "vend_failed"      # paid, and the item did not drop
    VEND_UNKNOWN = "vend_unknown"    # paid, and the item may or may not have dropped: the
                                     # operator checks before any refund
    PART_PAID = "part_paid"          # part of the price arrived: an open claim for it
    MAYBE_PAID = "maybe_paid"        # ended unpaid as far as the kiosk knows, nothing confirmed
                                     # either way: "if your wallet sent it, keep this code"
    UNCONFIRMED = "unconfirmed"      # a payment is seen but did not confirm in time
    UNVERIFIED = "unverified"        # reported paid but not as ordered: an open claim


OPEN_CLAIM_REASONS = frozenset({ClaimReason.PART_PAID, ClaimReason.UNVERIFIED})
KEYPAD_MARGIN_S = 10.0   # a keypad-first payment ends this long before the machine gives up
PAYMENT_SCREENS = frozenset({Screen.AWAITING_PAYMENT, Screen.CONFIRMING, Screen.UNDERPAID})
CANCELLABLE_SCREENS = frozenset({Screen.CREATING_PAYMENT, Screen.AWAITING_PAYMENT,
                                 Screen.UNDERPAID})
RESULT_SCREENS = frozenset({Screen.THANK_YOU, Screen.VEND_FAILED, Screen.PAYMENT_FAILED,
                            Screen.EXPIRED, Screen.CANCELLED})
BROWSING_SCREENS = frozenset({Screen.CHOOSE_ITEM, Screen.CHOOSE_COIN})
# A PAID status seen on these screens belongs to a sale the customer was told had ended.
ENDED_UNPAID_SCREENS = frozenset({Screen.PAYMENT_FAILED, Screen.EXPIRED, Screen.CANCELLED})
# The gateway ended the payment unpaid: the screen, the abandon kind, and the code to give.
# Expired and cancelled at the gateway mean nothing arrived; "failed" says nothing about it.
_ENDED_BY_GATEWAY: dict[PaymentState, tuple[Screen, str, ClaimReason | None]] = {
    PaymentState.EXPIRED: (Screen.EXPIRED, "expired", None),
    PaymentState.CANCELLED: (Screen.CANCELLED, "cancelled", None),
    PaymentState.FAILED: (Screen.PAYMENT_FAILED, "payment_failed", ClaimReason.MAYBE_PAID),
    PaymentState.UNVERIFIED: (Screen.PAYMENT_FAILED, "payment_failed", ClaimReason.UNVERIFIED),
}
NOTHING_ARRIVED = frozenset({PaymentState.EXPIRED, PaymentState.CANCELLED})
_SCREEN_FOR_STATE = {
    PaymentState.AWAITING: Screen.AWAITING_PAYMENT,
    PaymentState.CONFIRMING: Screen.CONFIRMING,
    PaymentState.UNDER_REVIEW: Screen.CONFIRMING,
    PaymentState.UNDERPAID: Screen.UNDERPAID,
}


# ---------------------------------------------------------------- static inputs


@dataclass(frozen=True)
class Product:
    slot_id: str
    name: str
    price: Decimal
    image: str = ""
    mdb_item: int | None = None        # the machine's own item number (MDB keypad)


@dataclass(frozen=True)
class FlowSettings:
    currency: str
    gateway: str
    choose_asset: bool = True
    payment_window_s: int = 180        # the customer's time to pay, countdown on the QR screen
    idle_timeout_s: float = 45.0       # browsing screens fall back to attract after this
    result_screen_s: float = 8.0       # thank-you / cancelled / expired stay this long
    claim_screen_s: float = 60.0       # a claim code stays long enough to be photographed
    confirm_grace_s: float = 120.0     # a confirming payment may run this far past the window
    create_timeout_s: float = 45.0     # the runtime always answers; this is a backstop
    vend_backstop_s: float = 300.0     # drivers time out sooner; a paid customer never waits more
    auto_refund: bool = False          # the gateway refunds by API: show its reference
    keypad_patience_s: float | None = None  # MDB: how long the machine holds a keypad pick


# ---------------------------------------------------------------- state


@dataclass(frozen=True)
class Sale:
    """The customer's sale in progress. ``order`` exists once the coin is chosen."""

    slot_id: str
    assets: tuple[Asset, ...] | None = None   # None while the coin list is loading
    order: Order | None = None
    request: PaymentRequest | None = None
    status: PaymentStatus | None = None
    claim_code: str = ""                      # the code the customer keeps, if any
    claim_reason: ClaimReason | None = None   # why there is a code (set with claim_code)
    message: str = ""                         # why it failed, for the technician line
    part_paid: bool = False                   # the gateway reported part of the price paid
    keypad: bool = False                      # picked on the machine's keypad (MDB) first
    prompt: str = ""                          # what the customer must do while vending
    pay_by: float = 0.0                       # monotonic end of the payment window (``now``)

    @property
    def tx_id(self) -> str | None:
        return self.order.tx_id if self.order else None


@dataclass(frozen=True)
class KioskState:
    screen: Screen
    products: tuple[Product, ...]
    stock: Mapping[str, int]
    disabled: frozenset[str] = frozenset()
    hardware_fault: str = ""                  # empty when the vend hardware is ready
    sale: Sale | None = None
    screen_since: float = 0.0
    last_input: float = 0.0
    wall_offset_s: float = 0.0                # the wall clock minus ``now`` (``WallClockSet``)

    def product(self, slot_id: str) -> Product | None:
        return next((p for p in self.products if p.slot_id == slot_id), None)

    def available(self, slot_id: str) -> bool:
        return (self.product(slot_id) is not None and self.stock.get(slot_id, 0) > 0
                and slot_id not in self.disabled)

    def available_products(self) -> tuple[Product, ...]:
        return tuple(p for p in self.products if self.available(p.slot_id))


def initial_state(products: tuple[Product, ...], stock: Mapping[str, int],
                  disabled: frozenset[str], hardware_fault: str, now: float,
                  wall_offset_s: float = 0.0) -> KioskState:
    screen = Screen.OUT_OF_SERVICE if hardware_fault else Screen.ATTRACT
    return KioskState(screen=screen, products=products, stock=MappingProxyType(dict(stock)),
                      disabled=disabled, hardware_fault=hardware_fault, screen_since=now,
                      last_input=now, wall_offset_s=wall_offset_s)


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Tick:
    """Time passed; deadlines are checked against ``now``."""


@dataclass(frozen=True)
class WallClockSet:
    """The wall clock now reads ``offset_s`` seconds ahead of ``now``: set at start-up and
    after every step of the wall clock (NTP on a Pi without a real-time clock). ``now`` is
    monotonic and every deadline is on it; the wall clock only dates the order's expiry, a
    timestamp the gateway reads."""

    offset_s: float


@dataclass(frozen=True)
class StartTapped:
    """The customer touched the attract screen."""


@dataclass(frozen=True)
class ItemChosen:
    slot_id: str


@dataclass(frozen=True)
class CoinChosen:
    asset: Asset | None               # None: the customer picks the coin in the wallet


@dataclass(frozen=True)
class CancelPressed:
    """Cancel on a payment screen, back on a browsing screen."""


@dataclass(frozen=True)
class DonePressed:
    """The customer dismissed a result screen."""


@dataclass(frozen=True)
class AssetsLoaded:
    slot_id: str
    assets: tuple[Asset, ...]


@dataclass(frozen=True)
class AssetsFailed:
    slot_id: str
    reason: str


@dataclass(frozen=True)
class PaymentCreated:
    tx_id: str
    request: PaymentRequest


@dataclass(frozen=True)
class PaymentCreateFailed:
    tx_id: str
    reason: str


@dataclass(frozen=True)
class PaymentUpdate:
    tx_id: str
    status: PaymentStatus


@dataclass(frozen=True)
class VendFinished:
    tx_id: str
    dropped: Dropped
    disables_slot: bool = False
    detail: str = ""


@dataclass(frozen=True)
class KeypadSelected:
    """The customer picked an item on the machine's keypad before paying (MDB)."""

    item: int
    price_minor: int


@dataclass(frozen=True)
class VendPrompted:
    """The vend waits for the customer (MDB: press the item on the keypad)."""

    tx_id: str
    text: str


@dataclass(frozen=True)
class HardwareChanged:
    fault: str                        # empty: ready again


@dataclass(frozen=True)
class SaleInterrupted:
    """Start-up found a paid sale a crash cut short minutes ago: its customer may still be
    standing there, so the screen shows their claim before anything else."""

    order: Order
    claim_code: str
    claim_reason: ClaimReason


@dataclass(frozen=True)
class StockChanged:
    stock: Mapping[str, int]
    disabled: frozenset[str]


Event = (Tick | StartTapped | ItemChosen | CoinChosen | CancelPressed | DonePressed
         | AssetsLoaded | AssetsFailed | PaymentCreated | PaymentCreateFailed | PaymentUpdate
         | VendFinished | HardwareChanged | StockChanged | KeypadSelected | VendPrompted
         | SaleInterrupted | WallClockSet)


# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class LoadAssets:
    slot_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class CreatePayment:
    """Journal the intent, check the vend hardware, then create the payment at the gateway."""

    order: Order


@dataclass(frozen=True)
class AbandonPayment:
    """The sale ended unpaid: journal it (with the code the customer was given, if any),
    cancel at the gateway if it can, keep watching."""

    order: Order
    kind: str                         # "cancelled" | "expired" | "payment_failed"
    reason: str = ""
    claim_code: str = ""
    claim_reason: ClaimReason | None = None

    @property
    def open_claim(self) -> bool:
        """Money arrived (part of it, or a payment that failed verification): the operator
        owes the customer, so the claim is open now, not only if a payment turns up later."""
        return self.claim_reason in OPEN_CLAIM_REASONS


@dataclass(frozen=True)
class Vend:
    """Journal paid_verified and vend_started, dispense, journal the result together with what
    a failure owes the customer: a refund where the gateway can (``refund``) or a claim under
    ``claim_code``; an unknown result is a claim under the kiosk's own code, never a refund."""

    order: Order
    claim_code: str
    refund: bool = False


@dataclass(frozen=True)
class RecordPaidLate:
    """Money for a sale that had already ended: PAID (refund due) or UNVERIFIED (a claim)."""

    tx_id: str
    status: PaymentStatus


@dataclass(frozen=True)
class ReleaseSelection:
    """A keypad-first sale will not be paid: let the machine go (MDB deny)."""


@dataclass(frozen=True)
class SaleFinished:
    order: Order
    outcome: Outcome
    payment_link: str = ""
    paid_symbol: str | None = None


Effect = (LoadAssets | CreatePayment | AbandonPayment | Vend | RecordPaidLate | SaleFinished
          | ReleaseSelection)


@dataclass(frozen=True)
class Transition:
    state: KioskState
    effects: tuple[Effect, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- the machine


class Flow:
    """Holds the settings and the id source; ``step`` itself keeps no state between calls."""

    def __init__(self, settings: FlowSettings, new_tx_id: Callable[[], str]) -> None:
        self.settings = settings
        self._new_tx_id = new_tx_id

    def step(self, state: KioskState, event: Event, now: float) -> Transition:
        """``now``: monotonic seconds, never the wall clock."""
        if isinstance(event, WallClockSet):
            return Transition(replace(state, wall_offset_s=event.offset_s))
        if isinstance(event, StockChanged):
            return Transition(replace(state, stock=MappingProxyType(dict(event.stock)),
                                      disabled=event.disabled))
        if isinstance(event, HardwareChanged):
            return self._hardware_changed(state, event, now)
        if isinstance(event, PaymentUpdate) and not self._is_current_payment(state, event):
            return _late_payment_update(state, event)
        if isinstance(event, KeypadSelected):
            return self._keypad_selected(state, event, now)
        if isinstance(event, SaleInterrupted):
            return _sale_interrupted(state, event, now)
        if isinstance(event, (StartTapped, ItemChosen, CoinChosen, CancelPressed, DonePressed)):
            state = replace(state, last_input=now)
        handler = _HANDLERS.get(state.screen)
        return handler(self, state, event, now) if handler else Transition(state)

    # -- screens

    def _attract(self, state: KioskState, event: Event, now: float) -> Transition:
        if isinstance(event, StartTapped):
            return _go(state, Screen.CHOOSE_ITEM, now)
        return Transition(state)

    def _choose_item(self, state: KioskState, event: Event, now: float) -> Transition:
        if isinstance(event, ItemChosen) and state.available(event.slot_id):
            product = state.product(event.slot_id)
            assert product is not None
            # The coin screen is also the item's detail and confirm step: nothing is asked
            # for until the customer confirms there (with a coin, or "pay" when the wallet
            # picks the coin), and Back returns to the grid.
            if self.settings.choose_asset:
                sale = Sale(slot_id=product.slot_id)
                return _go(state, Screen.CHOOSE_COIN, now, sale,
                           LoadAssets(product.slot_id, product.price, self.settings.currency))
            return _go(state, Screen.CHOOSE_COIN, now, Sale(slot_id=product.slot_id, assets=()))
        if isinstance(event, CancelPressed):
            return self._to_attract(state, now)
        return self._idle_check(state, event, now)

    def _choose_coin(self, state: KioskState, event: Event, now: float) -> Transition:
        sale = state.sale
        assert sale is not None
        if isinstance(event, AssetsLoaded) and event.slot_id == sale.slot_id:
            return Transition(replace(state, sale=replace(sale, assets=event.assets)))
        if isinstance(event, AssetsFailed) and event.slot_id == sale.slot_id:
            # The wallet can still choose the coin: offer only that.
            return Transition(replace(state, sale=replace(sale, assets=(),
                                                          message=event.reason)))
        if isinstance(event, CoinChosen) and sale.assets is not None:
            if event.asset is None or event.asset in sale.assets:
                return self._start_payment(state, sale, event.asset, now)
        if isinstance(event, CancelPressed):
            release: tuple[Effect, ...] = (ReleaseSelection(),) if sale.keypad else ()
            return _go(state, Screen.CHOOSE_ITEM, now, None, *release)
        return self._idle_check(state, event, now)

    def _creating(self, state: KioskState, event: Event, now: float) -> Transition:
        sale = state.sale
        assert sale is not None and sale.order is not None
        if isinstance(event, PaymentCreated) and event.tx_id == sale.tx_id:
            return _go(state, Screen.AWAITING_PAYMENT, now, replace(sale, request=event.request))
        if isinstance(event, PaymentCreateFailed) and event.tx_id == sale.tx_id:
            return self._end_unpaid(state, Screen.PAYMENT_FAILED, "payment_failed",
                                    event.reason, now)
        if isinstance(event, CancelPressed):
            return self._end_unpaid(state, Screen.CANCELLED, "cancelled", "customer", now)
        if isinstance(event, Tick) and now - state.screen_since > self.settings.create_timeout_s:
            return self._end_unpaid(state, Screen.PAYMENT_FAILED, "payment_failed",
                                    "payment could not be created in time", now)
        return Transition(state)

    def _paying(self, state: KioskState, event: Event, now: float) -> Transition:
        sale = state.sale
        assert sale is not None and sale.order is not None
        if isinstance(event, PaymentUpdate):
            return self._payment_update(state, sale, event.status, now)
        # Ended by the kiosk alone, nothing is confirmed: the customer keeps a code in case
        # the wallet already sent the money (the watch goes on and settles it by that code).
        unconfirmed = ClaimReason.PART_PAID if sale.part_paid else ClaimReason.MAYBE_PAID
        if isinstance(event, CancelPressed) and state.screen in CANCELLABLE_SCREENS:
            return self._end_unpaid(state, Screen.CANCELLED, "cancelled", "customer", now,
                                    unconfirmed)
        if isinstance(event, Tick):
            deadline = sale.pay_by
            if state.screen is Screen.CONFIRMING:
                if now > deadline + self.settings.confirm_grace_s:
                    return self._end_unpaid(state, Screen.PAYMENT_FAILED, "payment_failed",
                                            "payment still unconfirmed", now,
                                            ClaimReason.UNCONFIRMED)
            elif now >= deadline:
                return self._end_unpaid(state, Screen.EXPIRED, "expired",
                                        "payment window closed", now, unconfirmed)
        return Transition(state)

    def _payment_update(self, state: KioskState, sale: Sale, status: PaymentStatus,
                        now: float) -> Transition:
        order = sale.order
        assert order is not None
        sale = replace(sale, status=status, request=status.request or sale.request,
                       part_paid=sale.part_paid or status.state is PaymentState.UNDERPAID)
        if status.state is PaymentState.PAID:
            refunds = self.settings.auto_refund and sale.request is not None
            return _go(state, Screen.VENDING, now, sale,
                       Vend(order, self._claim_reference(sale), refund=refunds))
        if status.state in _ENDED_BY_GATEWAY:
            screen, kind, claim = _ENDED_BY_GATEWAY[status.state]
            if sale.part_paid and claim is not ClaimReason.UNVERIFIED:
                claim = ClaimReason.PART_PAID  # closed with part of the price paid
            return self._end_unpaid(replace(state, sale=sale), screen, kind, status.reason, now,
                                    claim)
        screen = _SCREEN_FOR_STATE[status.state]
        if screen is state.screen:
            return Transition(replace(state, sale=sale))
        return _go(state, screen, now, sale)

    def _vending(self, state: KioskState, event: Event, now: float) -> Transition:
        sale = state.sale
        assert sale is not None and sale.order is not None
        if isinstance(event, VendPrompted) and event.tx_id == sale.tx_id:
            return Transition(replace(state, sale=replace(sale, prompt=event.text)))
        if isinstance(event, Tick) and now - state.screen_since > self.settings.vend_backstop_s:
            # No word from the machine: the item may or may not have dropped. A claim, not a
            # second vend; a late result for this sale is ignored.
            event = VendFinished(sale.order.tx_id, Dropped.UNKNOWN,
                                 detail="no result from the machine")
        if not (isinstance(event, VendFinished) and event.tx_id == sale.tx_id):
            return Transition(state)  # a second "paid", a cancel tap: the vend goes on
        order = sale.order
        stock = dict(state.stock)
        disabled = state.disabled | {sale.slot_id} if event.disables_slot else state.disabled
        sale = replace(sale, message=event.detail)
        link = sale.request.link if sale.request else ""
        paid_symbol = sale.status.paid_symbol if sale.status else None
        if event.dropped is Dropped.YES:
            stock[sale.slot_id] = max(0, stock.get(sale.slot_id, 0) - 1)
            state = replace(state, stock=MappingProxyType(stock), disabled=disabled)
            return _go(state, Screen.THANK_YOU, now, sale,
                       SaleFinished(order, Outcome.VENDED, link, paid_symbol))
        if event.dropped is Dropped.UNKNOWN:
            # The item may have dropped: never an automatic refund, the operator checks.
            code, reason = claim_code(order.tx_id), ClaimReason.VEND_UNKNOWN
            outcome = Outcome.VEND_UNKNOWN
        else:
            code, reason = self._claim_reference(sale), ClaimReason.VEND_FAILED
            outcome = Outcome.VEND_FAILED
        # The runtime journalled the claim or refund with the vend's result (the same code).
        sale = replace(sale, claim_code=code, claim_reason=reason)
        state = replace(state, disabled=disabled)
        return _go(state, Screen.VEND_FAILED, now, sale,
                   SaleFinished(order, outcome, link, paid_symbol))

    def _result(self, state: KioskState, event: Event, now: float) -> Transition:
        if isinstance(event, PaymentUpdate):
            return Transition(state)  # a duplicate "paid" after the vend: nothing more to do
        if isinstance(event, (DonePressed, StartTapped)):
            return self._to_attract(state, now)
        hold = (self.settings.claim_screen_s if state.sale and state.sale.claim_code
                else self.settings.result_screen_s)
        if isinstance(event, Tick) and now - state.screen_since >= hold:
            return self._to_attract(state, now)
        return Transition(state)

    def _out_of_service(self, state: KioskState, event: Event, now: float) -> Transition:
        return Transition(state)

    # -- shared steps

    def _start_payment(self, state: KioskState, sale: Sale, asset: Asset | None,
                       now: float) -> Transition:
        product = state.product(sale.slot_id)
        assert product is not None
        window: float = self.settings.payment_window_s
        if sale.keypad and self.settings.keypad_patience_s is not None:
            # The machine stops waiting for a keypad pick: the payment must end before it.
            window = min(window, self.settings.keypad_patience_s - KEYPAD_MARGIN_S)
        order = Order(tx_id=self._new_tx_id(), slot_id=product.slot_id, item_name=product.name,
                      amount=product.price, currency=self.settings.currency, asset=asset,
                      expires_at=int(now + state.wall_offset_s + window))
        return _go(state, Screen.CREATING_PAYMENT, now,
                   # on a whole second of ``now``: the countdown ticks with the UI's clock
                   replace(sale, order=order, pay_by=float(math.ceil(now + window))),
                   CreatePayment(order))

    def _end_unpaid(self, state: KioskState, screen: Screen, kind: str, reason: str,
                    now: float, claim: ClaimReason | None = None) -> Transition:
        """End a sale that was not paid as far as the kiosk knows. ``claim`` None only when
        nothing can have been paid (no QR shown) or the gateway confirmed nothing arrived."""
        sale = state.sale
        assert sale is not None and sale.order is not None
        order = sale.order
        code = claim_code(order.tx_id) if claim else ""
        sale = replace(sale, message=reason, claim_code=code, claim_reason=claim)
        outcome = {"cancelled": Outcome.CANCELLED, "expired": Outcome.EXPIRED}.get(
            kind, Outcome.PAYMENT_FAILED)
        link = sale.request.link if sale.request else ""
        release: tuple[Effect, ...] = (ReleaseSelection(),) if sale.keypad else ()
        return _go(state, screen, now, sale,
                   AbandonPayment(order, kind, reason, code, claim),
                   SaleFinished(order, outcome, link), *release)

    def _keypad_selected(self, state: KioskState, event: KeypadSelected,
                         now: float) -> Transition:
        """A pick on the machine starts the sale for that slot, if the kiosk is free for it."""
        product = self._product_for_selection(state, event)
        if state.screen not in (Screen.ATTRACT, Screen.CHOOSE_ITEM) or product is None \
                or not state.available(product.slot_id):
            return Transition(state, (ReleaseSelection(),))
        state = replace(state, last_input=now)
        sale = Sale(slot_id=product.slot_id, keypad=True)
        if self.settings.choose_asset:
            return _go(state, Screen.CHOOSE_COIN, now, sale,
                       LoadAssets(product.slot_id, product.price, self.settings.currency))
        return self._start_payment(state, sale, None, now)

    def _product_for_selection(self, state: KioskState, event: KeypadSelected) -> Product | None:
        by_item = [p for p in state.products if p.mdb_item == event.item]
        if by_item:
            return by_item[0]
        # An item the config does not map: the machine's price picks the slot, if unambiguous.
        by_price = [p for p in state.products if p.mdb_item is None
                    and to_minor(p.price, self.settings.currency) == event.price_minor]
        return by_price[0] if len(by_price) == 1 else None

    def _claim_reference(self, sale: Sale) -> str:
        """What the customer keeps: the gateway's own reference when it refunds by itself."""
        assert sale.order is not None
        if self.settings.auto_refund and sale.request and sale.request.reference:
            return sale.request.reference
        return claim_code(sale.order.tx_id)

    def _to_attract(self, state: KioskState, now: float) -> Transition:
        screen = Screen.OUT_OF_SERVICE if state.hardware_fault else Screen.ATTRACT
        # A keypad pick abandoned before any payment was asked for must free the machine too.
        unpaid_pick = (state.sale is not None and state.sale.keypad
                       and state.screen in BROWSING_SCREENS)
        effects: tuple[Effect, ...] = (ReleaseSelection(),) if unpaid_pick else ()
        return _go(state, screen, now, None, *effects)

    def _idle_check(self, state: KioskState, event: Event, now: float) -> Transition:
        if isinstance(event, Tick) and now - state.last_input >= self.settings.idle_timeout_s:
            return self._to_attract(state, now)
        return Transition(state)

    def _hardware_changed(self, state: KioskState, event: HardwareChanged,
                          now: float) -> Transition:
        state = replace(state, hardware_fault=event.fault)
        if event.fault and state.screen in BROWSING_SCREENS | {Screen.ATTRACT}:
            return _go(state, Screen.OUT_OF_SERVICE, now, sale=None)
        if not event.fault and state.screen is Screen.OUT_OF_SERVICE:
            return _go(state, Screen.ATTRACT, now, sale=None)
        return Transition(state)  # a sale under way finishes; its vend reports the fault

    @staticmethod
    def _is_current_payment(state: KioskState, event: PaymentUpdate) -> bool:
        return (state.sale is not None and state.sale.tx_id == event.tx_id
                and state.screen not in ENDED_UNPAID_SCREENS)


def _sale_interrupted(state: KioskState, event: SaleInterrupted, now: float) -> Transition:
    if state.sale is not None or state.screen not in (Screen.ATTRACT, Screen.OUT_OF_SERVICE):
        return Transition(state)  # a new customer is already being served
    sale = Sale(slot_id=event.order.slot_id, order=event.order, claim_code=event.claim_code,
                claim_reason=event.claim_reason, message="interrupted by a restart")
    return _go(state, Screen.VEND_FAILED, now, sale)


def _late_payment_update(state: KioskState, event: PaymentUpdate) -> Transition:
    """A status for a sale that is not waiting for money: money that arrives is never dropped,
    and a customer still reading the code of that sale learns what the gateway confirmed."""
    status = event.status.state
    if status in (PaymentState.PAID, PaymentState.UNVERIFIED):
        return Transition(state, (RecordPaidLate(event.tx_id, event.status),))
    sale = state.sale
    on_screen = (sale is not None and sale.tx_id == event.tx_id
                 and state.screen in ENDED_UNPAID_SCREENS)
    if on_screen and status in NOTHING_ARRIVED and sale is not None \
            and sale.claim_reason is ClaimReason.MAYBE_PAID:
        # The gateway closed it with nothing paid: "not charged" is now the truth.
        return Transition(replace(state, sale=replace(sale, claim_code="", claim_reason=None)))
    return Transition(state)



def _go(state: KioskState, screen: Screen, now: float,
        sale: Sale | None | EllipsisType = ..., *effects: Effect) -> Transition:
    """Enter ``screen`` (restarting its timer); ``...`` keeps the current sale."""
    new_sale = state.sale if isinstance(sale, EllipsisType) else sale
    return Transition(replace(state, screen=screen, sale=new_sale, screen_since=now), effects)


_Handler = Callable[[Flow, KioskState, Event, float], Transition]
_HANDLERS: dict[Screen, _Handler] = {
    Screen.ATTRACT: Flow._attract,
    Screen.CHOOSE_ITEM: Flow._choose_item,
    Screen.CHOOSE_COIN: Flow._choose_coin,
    Screen.CREATING_PAYMENT: Flow._creating,
    Screen.AWAITING_PAYMENT: Flow._paying,
    Screen.CONFIRMING: Flow._paying,
    Screen.UNDERPAID: Flow._paying,
    Screen.VENDING: Flow._vending,
    Screen.THANK_YOU: Flow._result,
    Screen.VEND_FAILED: Flow._result,
    Screen.PAYMENT_FAILED: Flow._result,
    Screen.EXPIRED: Flow._result,
    Screen.CANCELLED: Flow._result,
    Screen.OUT_OF_SERVICE: Flow._out_of_service,
}
