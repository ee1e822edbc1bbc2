"""What comes into the sale machine: taps, gateway answers, vend results, clock ticks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from kiosk.flow.state import ClaimReason, Dropped
from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentStatus


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
    # Slots whose price the operator changed since the config (a fleet command): the items'
    # new prices. A sale already under way keeps the price it started at (``Sale.price``).
    prices: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))


Event = (Tick | StartTapped | ItemChosen | CoinChosen | CancelPressed | DonePressed
         | AssetsLoaded | AssetsFailed | PaymentCreated | PaymentCreateFailed | PaymentUpdate
         | VendFinished | HardwareChanged | StockChanged | KeypadSelected | VendPrompted
         | SaleInterrupted | WallClockSet)
