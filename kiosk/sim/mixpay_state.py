"""MixPay's simulated payments: what was paid, its status at a moment, its result as shown.

Statuses come from timestamps (no timers); the simulator (``kiosk.sim.mixpay``) holds the lock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from kiosk.sim.mixpay_terms import (
    COIN_BY_ID,
    COINS,
    EIGHT_PLACES,
    QUOTES,
    ApiError,
    Coin,
    Terms,
    fmt,
    positive_amount,
    q8,
)
from kiosk.sim.refusal import PayRefused
from kiosk.sim.server import form_flag

SPOOF_PAYEE_ID = "0badc0de-0000-4000-8000-5b00f0000000"   # who a spoofed success names as payee


@dataclass(frozen=True)
class Transfer:
    amount: Decimal
    at: float
    txid: str


@dataclass
class MixPayment:
    code: str
    terms: Terms
    created_at: float
    coin: Coin | None                   # fixed at creation, or chosen on the checkout page
    transfers: list[Transfer] = field(default_factory=list)
    spoofed: bool = False               # its success names another payee

    @property
    def tx_id(self) -> str:
        """The kiosk's id for it: the traceId, else the orderId."""
        return self.terms.trace_id or self.terms.order_id or self.code

    @property
    def payable(self) -> Decimal | None:
        return None if self.coin is None else self.terms.payable_in(self.coin)

    @property
    def paid(self) -> Decimal:
        return sum((t.amount for t in self.transfers), Decimal(0))

    @property
    def due(self) -> Decimal | None:
        payable = self.payable
        return None if payable is None else max(payable - self.paid, Decimal(0))

    def state(self, now: float, confirm_s: float) -> tuple[str, str, str]:
        """(status, failureCode, failureReason) at ``now``, from timestamps alone."""
        deadline = self.terms.expired_at
        past_deadline = deadline is not None and now >= deadline
        if not self.transfers:
            return ("failed", "40000", "Payment overtime") if past_deadline else ("unpaid", "0", "")
        # A payment seen before the deadline keeps confirming after it, as MixPay's does.
        if now < self.transfers[-1].at + confirm_s:
            return "confirming", "0", ""
        if self.due == 0:
            return "success", "0", ""
        if past_deadline:
            return "failed", "40024", "Insufficient amount paid before the deadline"
        return "paid_less", "0", ""

    def surplus(self, status: str) -> Decimal:
        """What MixPay would refund of an overpayment; ``0`` (not ``0E-8``) when there is none."""
        payable = self.payable
        if status != "success" or payable is None or self.paid <= payable:
            return Decimal(0)
        return self.paid - payable

    def pay(self, fields: Mapping[str, Any], now: float, confirm_s: float) -> str:
        """Record one transfer from the checkout; returns what the payer is told."""
        status, _, _ = self.state(now, confirm_s)
        deadline = self.terms.expired_at
        if status == "failed" or (deadline is not None and now >= deadline):
            raise PayRefused(410, "This payment has expired; nothing was charged.")
        if status == "success":
            raise PayRefused(409, "This payment is already complete.")
        chosen = fields.get("assetId") or None
        coin = self.coin
        if coin is None:       # the first payment picks the coin (default: the first one listed)
            coin = COIN_BY_ID.get(chosen) if isinstance(chosen, str) else COINS[0]
            if coin is None:
                raise PayRefused(400, "Unknown assetId.")
        elif chosen is not None and chosen != coin.asset_id:
            raise PayRefused(409, f"This payment is in {coin.symbol}.")
        due = max(self.terms.payable_in(coin) - self.paid, Decimal(0))
        if due == 0:
            raise PayRefused(409, "Paid in full; waiting for confirmations.")
        amount = _pay_amount(fields, due)
        self.coin = coin
        self.transfers.append(Transfer(amount, now, uuid.uuid4().hex))
        self.spoofed = self.spoofed or form_flag(fields.get("spoof"))
        return f"Sent {fmt(amount)} {coin.symbol}."


@dataclass(frozen=True)
class PaymentSnapshot:
    """A read-only view of one simulated payment, for tests and scripts."""

    code: str
    status: str                         # unpaid | confirming | paid_less | success | failed
    failure_code: str                   # "0" when not failed
    quote_amount: Decimal
    quote_asset_id: str
    payment_asset_id: str | None
    payable_amount: Decimal | None
    paid_amount: Decimal
    surplus_amount: Decimal
    remark: str
    expired_at: int | None
    transfers: tuple[Transfer, ...]


def result_data(payment: MixPayment, now: float, confirm_s: float) -> dict[str, Any]:
    """The documented ``payments_result`` data: every amount a string, failureCode a string."""
    status, failure_code, failure_reason = payment.state(now, confirm_s)
    terms, payable = payment.terms, payment.payable
    symbol, asset_id, version = _coin_ids(payment.coin)
    settle = COIN_BY_ID.get(terms.settlement_asset_id)
    settle_amount = q8(terms.quote_usd / settle.usd_rate, ROUND_DOWN) if settle else Decimal(0)
    surplus = payment.surplus(status)
    last = payment.transfers[-1] if payment.transfers else None
    spoofed = payment.spoofed and status == "success"
    payee_id = SPOOF_PAYEE_ID if spoofed else terms.payee_id
    return {
        "status": status,
        "quoteAmount": fmt(terms.quote_amount),
        "quoteSymbol": QUOTES[terms.quote_asset_id][0],
        "quoteAssetId": terms.quote_asset_id, "quoteAssetVersion": "",
        "paymentAmount": fmt(payment.paid), "paymentSymbol": symbol,
        "paymentAssetId": asset_id, "paymentAssetVersion": version,
        "payee": "Sandbox Vending", "payeeId": payee_id,
        "payeeMixinNumber": "", "payeeAvatarUrl": "",
        "txid": last.txid if last else "", "blockExplorerUrl": "",
        "date": int(payment.created_at),
        "surplusAmount": fmt(surplus), "surplusStatus": "pending" if surplus > 0 else "no",
        "confirmations": 0 if status == "confirming" else -1,
        "payableAmount": fmt(payable if payable is not None else Decimal(0)),
        "payableSymbol": symbol, "payableAssetId": asset_id, "payableAssetVersion": version,
        "failureCode": failure_code, "failureReason": failure_reason,
        "returnTo": "", "traceId": payment.code, "orderId": terms.order_id or "",
        "expiredAt": terms.expired_at or 0,
        "settleStatus": "success" if status == "success" else "pending",
        "settleAmount": fmt(settle_amount),
        "settleSymbol": _coin_ids(settle)[0], "settleAsset": terms.settlement_asset_id,
        "settleAssetVersion": _coin_ids(settle)[2],
        "transactions": [{
            "paymentAmount": fmt(t.amount), "paymentAssetId": asset_id,
            "paymentAssetSymbol": symbol, "paymentAssetVersion": version,
            "requiredConfirms": 1,
            "confirmations": 0 if now < t.at + confirm_s else 1,
            "txid": t.txid, "blockExplorerUrl": "",
            "broadcastAt": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t.at)),
            "confirmSeconds": int(confirm_s),
        } for t in payment.transfers],
        "payment": {"isMultiPay": len(payment.transfers) > 1,
                    "isFullyPaid": payable is not None and payment.paid >= payable,
                    "totalTransactionsAmount": fmt(payment.paid)},
    }


def _coin_ids(coin: Coin | None) -> tuple[str, str, str]:
    """(symbol, assetId, version) as the result shows them; empty until a coin is chosen."""
    return (coin.symbol, coin.asset_id, coin.version) if coin else ("", "", "")


def _pay_amount(fields: Mapping[str, Any], due: Decimal) -> Decimal:
    given = fields.get("amount")
    if given not in (None, ""):
        try:
            return q8(positive_amount(given, "amount"), ROUND_DOWN)
        except ApiError as exc:
            raise PayRefused(400, exc.message) from exc
    if fields.get("part") == "half":
        return max(q8(due / 2, ROUND_DOWN), EIGHT_PLACES)
    return due
