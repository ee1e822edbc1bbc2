"""The gateway interface and the normalized payment vocabulary every client maps onto."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from decimal import Decimal

from kiosk.errors import OperationNotSupported


class PaymentState(enum.Enum):
    AWAITING = "awaiting"            # nothing received yet
    CONFIRMING = "confirming"        # a transaction is seen, waiting for confirmations
    UNDERPAID = "underpaid"          # part received; the customer may top up (see remaining)
    UNDER_REVIEW = "under_review"    # held for risk / compliance review
    PAID = "paid"                    # paid AND verified against the order: may vend
    FAILED = "failed"                # will never be paid (reason says why)
    EXPIRED = "expired"              # the payment window closed unpaid
    CANCELLED = "cancelled"          # voided by us or the payer
    UNVERIFIED = "unverified"        # reported paid, but not as ordered (payee, amount, asset,
                                     # reference): never vended; money may have arrived: a claim

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({PaymentState.PAID, PaymentState.FAILED, PaymentState.EXPIRED,
                       PaymentState.CANCELLED, PaymentState.UNVERIFIED})


@dataclass(frozen=True)
class Asset:
    """A coin the customer can pay with, as a gateway offers it."""

    symbol: str                      # "BTC"
    name: str                        # "Bitcoin"
    network: str                     # "Bitcoin", "Ethereum", "Tron"
    asset_id: str                    # the gateway's own id (MixPay: asset UUID)


@dataclass(frozen=True)
class Order:
    """What the kiosk wants paid. ``tx_id`` is our transaction id (a UUID)."""

    tx_id: str
    slot_id: str
    item_name: str
    amount: Decimal
    currency: str
    asset: Asset | None              # None: the customer picks the coin in the wallet
    expires_at: int                  # unix seconds when the payment window closes


@dataclass(frozen=True)
class PaymentRequest:
    """A payment the gateway created for an order."""

    payment_id: str                  # the gateway's id for polling (MixPay: traceId)
    link: str                        # what the QR encodes
    expires_at: int                  # unix seconds the gateway stops accepting it
    crypto_amount: Decimal | None = None
    crypto_symbol: str | None = None
    reference: str | None = None     # a short code the customer can quote (Centrapay shortCode)
    memo: str | None = None          # destination tag / memo the coin needs, shown beside the QR
    rate: Decimal | None = None      # crypto per unit of the order's currency the amount was
                                     # converted at (LNbits: sats), shown and journalled


@dataclass(frozen=True)
class PaymentStatus:
    """One observation of a payment, already verified when ``state`` is PAID."""

    state: PaymentState
    raw_status: str = ""             # the gateway's own word, for the journal
    remaining: Decimal | None = None  # crypto still owed when UNDERPAID
    reason: str = ""                 # why FAILED / EXPIRED / CANCELLED, gateway code included
    paid_amount: Decimal | None = None
    paid_symbol: str | None = None
    request: PaymentRequest | None = None  # a new quote (WCT Pay): redraw the QR with this


@dataclass(frozen=True)
class RefundResult:
    """What the gateway said to a refund: ``done`` now, or accepted and still settling."""

    done: bool
    reference: str                   # our idempotency reference (Centrapay externalRef)
    detail: str = ""


class Gateway(abc.ABC):
    """A payment gateway client. Every call may block on the network: never on the UI thread.

    Errors are ``kiosk.errors.GatewayError`` subclasses, mapped at one boundary per client.
    """

    name: str = "gateway"
    can_cancel: bool = False          # False: an abandoned payment is watched until it expires
    can_refund: bool = False          # False: a failed vend gets a claim code instead
    offers_asset_choice: bool = True  # False: no coin list, the wallet always chooses
    wallet_picks_coin: bool = True    # False: every payment needs a coin (no "any coin" choice)
    poll_interval_s: float = 2.0      # the pace the gateway's docs ask for

    @abc.abstractmethod
    def list_assets(self, amount: Decimal, currency: str) -> list[Asset]:
        """Coins the customer may pay ``amount`` with, in the operator's preferred order."""

    @abc.abstractmethod
    def create(self, order: Order) -> PaymentRequest:
        """Create the payment for ``order``. Idempotent for the same ``order.tx_id``."""

    @abc.abstractmethod
    def status(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        """Current status. PAID only after payee, amount, asset and reference match ``order``."""

    def check_reachable(self, amount: Decimal, currency: str) -> str:
        """Self-test: one cheap call that proves the gateway answers and knows us.

        Returns what it learnt; raises ``GatewayError`` when it cannot.
        """
        assets = self.list_assets(amount, currency)
        return f"{len(assets)} coin(s) offered for {amount} {currency}"

    def request_for(self, order: Order) -> PaymentRequest | None:
        """The polling handle of ``order`` when the create reply was lost (crash, timeout).

        None when the gateway cannot look a payment up by our own transaction id.
        """
        return None

    def cancel(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        """Void an unpaid payment. The returned status is the truth (it may be PAID)."""
        raise OperationNotSupported(f"{self.name} has no cancel call")

    def refund(self, order: Order, request: PaymentRequest, reference: str) -> RefundResult:
        """Refund the whole paid amount; ``reference`` makes a retry idempotent."""
        raise OperationNotSupported(f"{self.name} has no refund call")

    def close(self) -> None:
        """Close the HTTP client."""
