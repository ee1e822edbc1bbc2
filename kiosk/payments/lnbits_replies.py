"""Reading LNbits' replies: the invoice a create returns, and a payment's status verified.

Pure functions of the reply, the order and the request: no network here. The client,
``kiosk.payments.lnbits``, makes the calls and hands the bodies over. LNbits 1.x shapes
(reference/gateways.md section 7):

    POST /api/v1/payments      -> {payment_hash, checking_id, bolt11, amount (msat), wallet_id...}
    GET  /api/v1/payments/<h>  -> {paid, status: pending|success|failed, preimage,
                                   details: {payment_hash, wallet_id, amount (msat), bolt11,
                                             status, ...}}   details only for the wallet's key

The request is what this sale created: ``payment_id`` the payment hash, ``crypto_amount`` the
sats asked for, ``link`` the upper-cased ``LIGHTNING:`` invoice. Nothing else is trusted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kiosk.errors import GatewayProtocolError, GatewayRejected
from kiosk.payments.base import Order, PaymentRequest, PaymentState, PaymentStatus

SYMBOL = "sats"
SCHEME = "LIGHTNING:"
MSAT_PER_SAT = 1000
# Lightning lets an HTLC accepted in the window's last second settle just after it, and
# LNbits marks an unpaid invoice "failed" the first time it is read after its expiry without
# asking the node, then "success" when the node's settlement arrives: neither "pending" nor
# "failed" is read as expired until this long after the invoice's own expiry.
SETTLE_GRACE_S = 20
# LNbits counts an invoice's expiry in whole seconds on its own clock: "failed" this close to
# the window's end is the invoice expiring, not a failure.
SKEW_S = 30

class WrongWallet(GatewayRejected):
    """The key and ``wallet_id`` are of different wallets: no sale can ever be verified."""


_HASH = re.compile(r"[0-9a-f]{64}")
# A BOLT11 invoice: "ln", a network (bc, tb, tbs, bcrt, sb), an amount, "1", bech32 data.
_BOLT11 = re.compile(r"ln(?:bc|tb|tbs|bcrt|sb)[0-9]*[munp]?1[02-9ac-hj-np-z]{20,7000}")


def link_for(bolt11: str) -> str:
    """What the QR encodes: upper-case BOLT11 with the scheme, all QR alphanumeric (denser)."""
    return SCHEME + bolt11.upper()


def bolt11_of(request: PaymentRequest) -> str:
    """The invoice of ``request`` as LNbits writes it (lower case)."""
    return request.link.removeprefix(SCHEME).lower()


def sats_of(request: PaymentRequest) -> int | None:
    """The sats this sale asked for (journalled in ``crypto_amount``)."""
    amount = request.crypto_amount
    if amount is None or not amount.is_finite() or amount != amount.to_integral_value():
        return None
    return int(amount)


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def whole(value: Any) -> int | None:
    """A JSON integer (never a bool, never a fraction): LNbits' msat amounts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


@dataclass(frozen=True)
class LnbitsReplies:
    """Reads the invoices of one wallet.

    :param wallet_id: the wallet every invoice of ours is paid into.
    :param scrub: shortens LNbits' own text and removes the key from it.
    """

    wallet_id: str
    scrub: Callable[[str], str]

    def invoice(self, body: dict[str, Any], order: Order, sats: int, rate: Decimal,
                where: str) -> PaymentRequest:
        """The request from a create reply; a reply not for this invoice is a protocol error."""
        payment_hash = body.get("payment_hash")
        bolt11 = body.get("bolt11", body.get("payment_request"))
        if not (isinstance(payment_hash, str) and _HASH.fullmatch(payment_hash)):
            raise GatewayProtocolError(f"{where}: reply has no 64-hex 'payment_hash'")
        if not (isinstance(bolt11, str) and _BOLT11.fullmatch(bolt11.lower())):
            raise GatewayProtocolError(f"{where}: reply has no BOLT11 invoice")
        # Fields LNbits 1.x adds: when present they must be this invoice's.
        if "amount" in body and whole(body["amount"]) != sats * MSAT_PER_SAT:
            raise GatewayProtocolError(f"{where}: the invoice is not for {sats} sats")
        if body.get("wallet_id") not in (None, self.wallet_id):
            raise WrongWallet(f"{where}: the invoice key made an invoice for another wallet "
                              f"than [payment.lnbits] wallet_id: one of them is wrong",
                              code="local")
        return PaymentRequest(payment_id=payment_hash, link=link_for(bolt11),
                              expires_at=order.expires_at, crypto_amount=Decimal(sats),
                              crypto_symbol=SYMBOL, rate=rate)

    def status(self, body: dict[str, Any], order: Order, request: PaymentRequest, now: float,
               where: str) -> PaymentStatus:
        """What the payment says; PAID only when settled and verified as this sale's."""
        paid = body.get("paid")
        details = body.get("details")
        details = details if isinstance(details, dict) else None
        word = body.get("status", details.get("status") if details else None)
        if not isinstance(paid, bool) or not isinstance(word, str):
            raise GatewayProtocolError(f"{where}: 'paid' or 'status' is missing")
        if paid or word == "success":
            problem = self._verification_problem(body, details, request)
            if problem:
                return PaymentStatus(PaymentState.UNVERIFIED, raw_status=self.scrub(word)[:40],
                                     reason=f"verification failed: {problem}")
            return PaymentStatus(PaymentState.PAID, raw_status=word,
                                 paid_amount=request.crypto_amount, paid_symbol=SYMBOL)
        if word == "pending":
            if now >= request.expires_at + SETTLE_GRACE_S:
                return PaymentStatus(PaymentState.EXPIRED, raw_status=word,
                                     reason="invoice expired unpaid")
            return PaymentStatus(PaymentState.AWAITING, raw_status=word)
        if word == "failed":   # an incoming invoice LNbits closed: expired, never payable
            if now < request.expires_at - SKEW_S:
                return PaymentStatus(PaymentState.FAILED, raw_status=word,
                                     reason="invoice failed (LNbits: failed)")
            if now < request.expires_at + SETTLE_GRACE_S:   # a last-second HTLC may settle
                return PaymentStatus(PaymentState.AWAITING, raw_status=word)
            return PaymentStatus(PaymentState.EXPIRED, raw_status=word,
                                 reason="invoice expired unpaid")
        # A word LNbits does not document is not "paid": keep watching, never vend.
        shown = self.scrub(word)[:40]
        return PaymentStatus(PaymentState.CONFIRMING, raw_status=shown,
                             reason=f"unknown status {shown!r}")

    def _verification_problem(self, body: dict[str, Any], details: dict[str, Any] | None,
                              request: PaymentRequest) -> str | None:
        """The first thing about a settled payment that does not make it this sale's."""
        if details is None:          # LNbits shows details only to the wallet that owns it
            return "no details for this wallet"
        sats = sats_of(request)
        detail_word = details.get("status")
        checks = (
            ("not settled", body.get("paid") is True and body.get("status", "success") == "success"
             and detail_word in (None, "success")),
            ("payment hash mismatch", details.get("payment_hash") == request.payment_id),
            ("wallet mismatch", details.get("wallet_id") == self.wallet_id),
            ("amount mismatch", sats is not None
             and whole(details.get("amount")) == sats * MSAT_PER_SAT),
            ("invoice mismatch", details.get("bolt11") is None
             or text_of(details.get("bolt11")).lower() == bolt11_of(request)),
        )
        return next((problem for problem, ok in checks if not ok), None)
