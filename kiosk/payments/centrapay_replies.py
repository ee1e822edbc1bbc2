"""Reading Centrapay's replies: a payment request (PR), its status verified, void and refund.

Pure functions of the reply, the order and the request: no network here. The client,
``kiosk.payments.centrapay``, makes the calls and hands the bodies over.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kiosk.errors import GatewayProtocolError, GatewayRejected
from kiosk.money import from_minor, to_minor
from kiosk.payments.base import Order, PaymentRequest, PaymentState, PaymentStatus, RefundResult
from kiosk.payments.http import JsonReply

MAX_MINOR = 100_000_000      # value.amount must be positive and below this

_MINOR_TEXT = re.compile(r"[0-9]{1,15}")   # a string of integer minor units, bounded before int()


def minor_units(order: Order) -> int:
    """The order's amount in minor units, refused locally where Centrapay would refuse it."""
    try:
        minor = to_minor(order.amount, order.currency)
    except (KeyError, ValueError) as exc:
        raise GatewayRejected(f"centrapay: {order.amount} {order.currency} cannot be "
                              "expressed in minor units", code="local") from exc
    if not 0 < minor < MAX_MINOR:
        raise GatewayRejected(f"centrapay: amount must be positive and below {MAX_MINOR} "
                              f"minor units, not {minor}", code="local")
    return minor


def error_message(reply: JsonReply) -> str:
    """The error body's ``message``: what Centrapay says to branch on."""
    message = reply.body.get("message")
    if not isinstance(message, str) or not message:
        raise GatewayProtocolError(
            f"{reply.where}: HTTP {reply.status_code} without an error 'message'")
    return message


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def voided(body: dict[str, Any]) -> PaymentStatus:
    """A successful void; raw_status keeps the activity type ("refund": a paid PR reversed)."""
    kind = text_of(body.get("type"))[:40]
    return PaymentStatus(PaymentState.CANCELLED, raw_status=kind or "cancelled", reason="voided")


def refunded(body: dict[str, Any], reference: str) -> RefundResult:
    """A refund accepted; it settles asynchronously, so ``done`` only when the body says so."""
    number = body.get("activityNumber")
    number_text = (str(number) if isinstance(number, (str, int))
                   and not isinstance(number, bool) else "?")
    detail = f"{text_of(body.get('type'))[:40] or 'refund'} activity {number_text[:20]}"
    return RefundResult(done=body.get("status") == "completed", reference=reference,
                        detail=detail)


@dataclass(frozen=True)
class CentrapayReplies:
    """Reads the PRs of one payment config.

    :param config_id: the merchant config every PR of ours names.
    :param scrub: shortens Centrapay's own text and removes the API key from it.
    """

    config_id: str
    scrub: Callable[[str], str]

    def request_from(self, item: dict[str, Any], order: Order) -> PaymentRequest | None:
        """The polling handle in a PR object, or None if it is not a usable PR of ours."""
        pr_id, url = item.get("id"), item.get("url")
        if not (isinstance(pr_id, str) and pr_id and isinstance(url, str) and url):
            return None
        if not (_absent_or(item, "externalRef", order.tx_id)
                and _absent_or(item, "configId", self.config_id)):
            return None
        short_code = item.get("shortCode")
        return PaymentRequest(payment_id=pr_id, link=url, expires_at=order.expires_at,
                              reference=short_code if isinstance(short_code, str) else None)

    def status(self, body: dict[str, Any], order: Order, request: PaymentRequest,
               where: str) -> PaymentStatus:
        """What a PR says, PAID only if it matches the order."""
        raw = body.get("status")
        if not isinstance(raw, str):
            raise GatewayProtocolError(f"{where}: 'status' is missing or not a string")
        minor = minor_units(order)
        if raw == "paid":
            problem = self._verification_problem(body, order, request, minor)
            if problem:
                return PaymentStatus(PaymentState.UNVERIFIED, raw_status=raw,
                                     reason=f"verification failed: {problem} mismatch")
            return PaymentStatus(PaymentState.PAID, raw_status=raw, paid_amount=order.amount,
                                 paid_symbol=order.currency)
        if raw == "new":
            if _awaiting_merchant(body):
                return PaymentStatus(PaymentState.UNDER_REVIEW, raw_status=raw)
            remaining = _remaining(body.get("remainingAmount"))
            if remaining is not None and 0 < remaining < minor:    # part paid, the rest is due
                return PaymentStatus(PaymentState.UNDERPAID, raw_status=raw,
                                     remaining=from_minor(remaining, order.currency),
                                     paid_amount=from_minor(minor - remaining, order.currency),
                                     paid_symbol=order.currency)
            return PaymentStatus(PaymentState.AWAITING, raw_status=raw)
        if raw == "cancelled":
            reason = self.scrub(text_of(body.get("cancellationReason"))) or "cancelled"
            return PaymentStatus(PaymentState.CANCELLED, raw_status=raw, reason=reason)
        if raw == "expired":
            return PaymentStatus(PaymentState.EXPIRED, raw_status=raw, reason="expired")
        # A status the docs do not list is not "paid": keep watching, never vend.
        shown = self.scrub(raw)[:40]
        return PaymentStatus(PaymentState.CONFIRMING, raw_status=shown,
                             reason=f"unknown status {shown!r}")

    def _verification_problem(self, body: dict[str, Any], order: Order,
                              request: PaymentRequest, minor: int) -> str | None:
        """The first field of a ``paid`` PR that does not match the order, if any."""
        value = body.get("value")
        value = value if isinstance(value, dict) else {}
        currency = value.get("currency")
        remaining = body.get("remainingAmount")
        checks = (
            ("id", body.get("id") == request.payment_id),
            ("externalRef", _absent_or(body, "externalRef", order.tx_id)),
            ("configId", _absent_or(body, "configId", self.config_id)),
            ("value.amount", _minor_text(value.get("amount")) == minor),
            ("value.currency", isinstance(currency, str)
             and currency.upper() == order.currency.upper()),
            # A partial payment is "paid" with something still remaining: not ours to vend.
            ("remainingAmount", remaining is None or _remaining(remaining) == 0),
        )
        return next((field for field, ok in checks if not ok), None)


def _minor_text(value: Any) -> int | None:
    """Minor units from Centrapay's string form ("250"); anything else (numbers too) is None."""
    return int(value) if isinstance(value, str) and _MINOR_TEXT.fullmatch(value) else None


def _remaining(value: Any) -> int | None:
    """``remainingAmount`` ("bignumber"): a minor-units string, or leniently a JSON integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _minor_text(value)


def _absent_or(item: dict[str, Any], key: str, want: str) -> bool:
    """An optional field: absent (or null) is fine, present must equal ``want``."""
    return item.get(key) in (None, want)


def _awaiting_merchant(body: dict[str, Any]) -> bool:
    conditions = body.get("merchantConditions")
    return isinstance(conditions, list) and any(
        isinstance(c, dict) and c.get("status") == "awaiting-merchant" for c in conditions)
