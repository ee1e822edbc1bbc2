"""Centrapay's simulated payment requests (PRs): ids and short codes, state, refunds, JSON.

A PR's status comes from timestamps and the clock (no timers); the simulator
(``kiosk.sim.centrapay``) holds the lock, routes the API and serves the patron's page
(``kiosk.sim.centrapay_page``). Every refusal is an ``ApiError`` with Centrapay's error body.
"""

from __future__ import annotations

import re
import string
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from kiosk.money import format_amount, from_minor
from kiosk.sim.server import BadBody, Request, Response, form_flag, json_response

MAX_AMOUNT = 100_000_000              # value.amount must be below this (and positive)
DEFAULT_EXPIRY_S = 120
MERCHANT_NAME = "Sandbox Vending"
MERCHANT_ID = "SandboxMerchant0000001"
SPOOF_CONFIG_ID = "someone-elses-config"   # what a spoofed paid PR names as its config
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SHORT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"   # Crockford base 32: no I, L, O, U

_AMOUNT = re.compile(r"[0-9]{1,9}")


class ApiError(Exception):
    """A request refused with Centrapay's error body."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        return json_response(self.status, {
            "statusCode": self.status, "message": self.message,
            "error": HTTPStatus(self.status).phrase, "reason": self.reason}, headers)


def invalid(reason: str) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", reason)


def iso(at: float) -> str:
    """Centrapay's timestamps: ISO-8601 UTC with milliseconds."""
    seconds, millis = divmod(int(round(at * 1000)), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def money(minor: int, currency: str) -> str:
    """``250, "USD"`` -> ``"2.50 USD"``, for the patron's page."""
    return f"{format_amount(from_minor(minor, currency), currency)} {currency}"


def new_id() -> str:
    """22 base62 characters, the shape of Centrapay's ids (128 random bits fit in 22)."""
    number, chars = uuid.uuid4().int, []
    for _ in range(22):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return "".join(chars)


def _luhn_check(payload: str) -> str:
    """The Luhn mod-32 check character of ``payload`` (characters from SHORT_ALPHABET)."""
    total, n = 0, len(SHORT_ALPHABET)
    for position, char in enumerate(reversed(payload)):
        addend = SHORT_ALPHABET.index(char) * (2 if position % 2 == 0 else 1)
        total += addend // n + addend % n
    return SHORT_ALPHABET[(n - total % n) % n]


def short_code_valid(code: str) -> bool:
    """True for ``CP-XXX-XXC`` whose last character is the Luhn check of the other five."""
    match = re.fullmatch(rf"CP-([{SHORT_ALPHABET}]{{3}})-([{SHORT_ALPHABET}]{{3}})", code)
    if match is None:
        return False
    payload = match[1] + match[2][:2]
    return _luhn_check(payload) == match[2][2]


def new_short_code() -> str:
    number = uuid.uuid4().int
    payload = "".join(SHORT_ALPHABET[(number >> (5 * i)) & 31] for i in range(5))
    return f"CP-{payload[:3]}-{payload[3:]}{_luhn_check(payload)}"


def minor_amount(value: Any, name: str) -> int:
    """A positive integer minor-unit amount given as a string, below MAX_AMOUNT."""
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value):
        raise invalid(f"{name} must be a string of integer minor units")
    amount = int(value)
    if not 0 < amount < MAX_AMOUNT:
        raise invalid(f"{name} must be positive and less than {MAX_AMOUNT}")
    return amount


def optional_text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    return value


@dataclass
class Refund:
    external_ref: str
    amount: int
    activity: dict[str, Any]


@dataclass
class PaymentRequest:
    id: str
    short_code: str
    config_id: str
    amount: int
    currency: str
    created_at: float
    expiry_s: int
    external_ref: str | None
    terminal_id: str | None
    device_id: str | None
    partial_allowed: bool
    basket_amount: str | None
    paid_at: float | None = None       # when the patron pressed Pay (settles after confirm_s)
    paid_amount: int = 0
    cancelled_at: float | None = None
    cancellation_reason: str | None = None
    refunds: list[Refund] = field(default_factory=list)
    activities: int = 1                # activity 1 is the request itself
    spoofed: bool = False              # once paid, it names another merchant config

    @property
    def expires_at(self) -> float:
        return self.created_at + self.expiry_s

    def status(self, now: float, confirm_s: float) -> str:
        if self.cancellation_reason is not None:
            return "cancelled"
        if self.paid_at is not None:   # paid before expiry: settles even if that is after it
            return "paid" if now >= self.paid_at + confirm_s else "new"
        return "expired" if now >= self.expires_at else "new"

    @property
    def remaining(self) -> int:
        return self.amount - self.paid_amount

    @property
    def refunded(self) -> int:
        return sum(r.amount for r in self.refunds)

    def refuse_action(self, now: float) -> None:
        """Raise the pay-error Centrapay gives when a PR no longer takes payment or a void."""
        if self.cancellation_reason is not None:
            raise ApiError(403, "REQUEST_CANCELLED", "The payment request has been cancelled")
        if self.paid_at is not None:
            raise ApiError(403, "REQUEST_PAID", "The payment request has been paid")
        if now >= self.expires_at:
            raise ApiError(403, "REQUEST_EXPIRED", "The payment request has expired")

    def activity(self, kind: str, amount: int, at: float, **extra: Any) -> dict[str, Any]:
        """A new Payment Activity on this PR, numbered in sequence."""
        self.activities += 1
        return {"type": kind, "value": {"currency": self.currency, "amount": str(amount)},
                "assetType": f"centrapay.{self.currency.lower()}.test",
                "paymentRequestId": self.id,
                "shortCode": f"{self.short_code}-{self.activities:03d}",
                "merchantName": MERCHANT_NAME, "merchantId": MERCHANT_ID,
                "merchantConfigId": self.config_id, "createdAt": iso(at),
                "activityNumber": str(self.activities), **extra}

    def void(self, now: float) -> dict[str, Any]:
        """The merchant voids it: a cancellation activity."""
        self.refuse_action(now)          # a paid PR answers REQUEST_PAID: see the module docstring
        self.cancelled_at, self.cancellation_reason = now, "CANCELLED_BY_MERCHANT"
        return self.activity("cancellation", self.amount, now,
                           cancellationReason=self.cancellation_reason)

    def refund(self, fields: Mapping[str, Any], now: float, confirm_s: float) -> dict[str, Any]:
        """A refund of (part of) what was paid; a repeated ``externalRef`` is idempotent."""
        value = fields.get("value")
        if not isinstance(value, dict):
            raise invalid("value is required")
        amount = minor_amount(value.get("amount"), "value.amount")
        if value.get("currency") != self.currency:
            raise invalid("value.currency must be the payment request's currency")
        ref = fields.get("externalRef")
        if not isinstance(ref, str) or not ref:
            raise invalid("externalRef is required")
        if self.status(now, confirm_s) != "paid":
            raise ApiError(403, "NOT_PAID", "The payment request has not been paid")
        earlier = next((r for r in self.refunds if r.external_ref == ref), None)
        if earlier is not None:
            if earlier.amount == amount:          # a repeat of the same refund: same answer
                return earlier.activity
            raise ApiError(403, "REPEAT_REFERENCE",
                           "A refund has already been requested with this externalRef")
        if self.refunded >= self.paid_amount:
            raise ApiError(403, "ALREADY_REFUNDED", "The payment request was already refunded")
        if amount > self.paid_amount - self.refunded:
            raise ApiError(403, "INVALID_AMOUNT", "The refund is more than the refundable amount")
        activity = self.activity("refund", amount, now, externalRef=ref)
        self.refunds.append(Refund(ref, amount, activity))
        return activity

    def pay(self, request: Request, now: float) -> str:
        """Record the patron's payment (all of it, or part with partialAllowed)."""
        self.refuse_action(now)
        try:
            fields = request.fields()
        except BadBody as exc:
            raise invalid(str(exc)) from exc
        amount = self.amount
        if fields.get("part") or fields.get("amount"):
            if not self.partial_allowed:
                raise invalid("This payment request does not allow partial payment")
            given = fields.get("amount")
            amount = minor_amount(given, "amount") if given else max(self.amount // 2, 1)
            if amount >= self.amount:
                raise invalid("A part payment must be less than the amount due")
        self.paid_at, self.paid_amount = now, amount
        self.spoofed = form_flag(fields.get("spoof"))
        return f"Paid {money(amount, self.currency)}."


@dataclass(frozen=True)
class RefundSnapshot:
    external_ref: str
    amount: int                        # minor units
    activity_number: str


@dataclass(frozen=True)
class PaymentRequestSnapshot:
    """A read-only view of one simulated PR, for tests and scripts. Amounts in minor units."""

    id: str
    short_code: str
    status: str                        # new | paid | cancelled | expired
    amount: int
    currency: str
    external_ref: str | None
    terminal_id: str | None
    device_id: str | None
    expiry_seconds: int
    expires_at: float
    cancellation_reason: str | None
    partial_allowed: bool
    paid_amount: int
    refunds: tuple[RefundSnapshot, ...]

    @property
    def refunded_amount(self) -> int:
        return sum(r.amount for r in self.refunds)


def pr_json(pr: PaymentRequest, now: float, confirm_s: float, url: str) -> dict[str, Any]:
    """The documented Payment Request object; optional fields only when set."""
    status = pr.status(now, confirm_s)
    asset = f"centrapay.{pr.currency.lower()}.test"
    # Paying only settles at confirm_s: until then nothing is shown as paid.
    paid = pr.paid_amount if status == "paid" else 0
    config_id = SPOOF_CONFIG_ID if pr.spoofed and status == "paid" else pr.config_id
    changed = {"paid": (pr.paid_at or now) + confirm_s,
               "cancelled": pr.cancelled_at or now, "expired": pr.expires_at}
    body: dict[str, Any] = {
        "id": pr.id, "shortCode": pr.short_code, "url": url,
        "merchantId": MERCHANT_ID, "merchantName": MERCHANT_NAME, "configId": config_id,
        "value": {"currency": pr.currency, "amount": str(pr.amount)},
        "paymentOptions": [{"amount": str(pr.amount), "assetType": asset}],
        "status": status, "liveness": "test",
        "createdAt": iso(pr.created_at),
        "updatedAt": iso(changed.get(status, pr.created_at)),
        "expiresAt": iso(pr.expires_at), "expirySeconds": pr.expiry_s,
        "merchantConditions": [], "remainingAmount": str(pr.amount - paid),
    }
    optional = {"externalRef": pr.external_ref, "terminalId": pr.terminal_id,
                "deviceId": pr.device_id, "cancellationReason": pr.cancellation_reason,
                "basketAmount": pr.basket_amount}
    body.update({k: v for k, v in optional.items() if v is not None})
    if pr.partial_allowed:
        body["partialAllowed"] = True
    if status == "paid":
        body["paidBy"] = {"assetTotals": [{
            "type": asset, "description": f"Centrapay {pr.currency} Test",
            "settlementDate": iso(now + 86400),
            "total": {"amount": str(paid), "currency": pr.currency}}]}
    return body
