"""What goes out of the sale machine, for the runtime to carry out on its worker threads, and
the ``Transition`` a step returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from kiosk.flow.state import OPEN_CLAIM_REASONS, ClaimReason, KioskState, Outcome
from kiosk.payments.base import Order, PaymentStatus


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
