"""What the sale machine works on: the screens, how a sale ends, the kiosk's static inputs
(products, settings) and its state (the kiosk, the sale in progress)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentStatus


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
    # The price shown when the item was chosen: what the order asks, whatever a remote price
    # change does to the item meanwhile. None only for a sale rebuilt from the journal.
    price: Decimal | None = None
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
