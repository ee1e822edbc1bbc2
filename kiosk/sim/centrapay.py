"""Centrapay simulator: the payment-request API a kiosk uses, plus a patron's pay page.

Mounted at ``/centrapay``: the API under ``/centrapay/api/payment-requests`` and the patron page
(what a PR's ``url`` and so the QR point at) at ``/centrapay/pay/<id>``. Paths, fields, statuses
and error bodies (``{statusCode, message, error, reason}``) follow reference/gateways.md
section 3. Lifecycle of a payment request (PR):

    new --Pay--> (confirm_s, still "new") --> paid          remainingAmount "0"
    new --Pay part--> (confirm_s) --> paid, remainingAmount > 0   only with partialAllowed
    new --Decline--> cancelled DECLINED_BY_PATRON
    new --void--> cancelled CANCELLED_BY_MERCHANT
    new, expiresAt passed with nothing paid --> expired        (lazily, when next looked at)

A partial payment ends ``paid`` with ``remainingAmount`` left, as Centrapay's partial-payment
guide describes. Modelling choice: Centrapay voids a paid PR (within 24 h) by reversing it; this
sandbox refuses that void with 403 ``REQUEST_PAID`` instead (also while a payment is still
confirming), which is how a kiosk learns the patron paid just before it gave up. Refunds
(``POST .../refund``) are the way to return money here.

Paying with ``spoof=1`` plays a spoofed success: once ``paid``, the PR names another merchant
config (``SPOOF_CONFIG_ID``), which a kiosk must not take as its payment. ``received()`` lists
every PR money arrived for, by its ``externalRef`` (the kiosk's tx id).

Statuses come from timestamps and the injected clock when asked, so tests move time instead of
sleeping. All state sits behind one lock. Validation errors that Centrapay does not document
are 400 ``VALIDATION_ERROR``; an unknown PR is 404 ``NOT_FOUND``.
"""

from __future__ import annotations

import html
import math
import re
import string
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from string import Template
from typing import Any
from urllib.parse import unquote

from kiosk.money import MINOR_UNITS, format_amount, from_minor
from kiosk.sim.ratewindow import RateWindow
from kiosk.sim.server import (
    BadBody,
    ReceivedPayment,
    Request,
    Response,
    form_flag,
    html_response,
    json_response,
)

MAX_AMOUNT = 100_000_000              # value.amount must be below this (and positive)
DEFAULT_EXPIRY_S = 120
MERCHANT_NAME = "Sandbox Vending"
MERCHANT_ID = "SandboxMerchant0000001"
SPOOF_CONFIG_ID = "someone-elses-config"   # what a spoofed paid PR names as its config
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SHORT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"   # Crockford base 32: no I, L, O, U

_AMOUNT = re.compile(r"[0-9]{1,9}")
_API = re.compile(r"/api/payment-requests(?:/(?P<id>[^/]+)(?P<action>/void|/refund)?)?")
_LOOKUP = re.compile(r"/api/payment-requests/(?P<by>external-ref|short-code)/(?P<key>[^/]+)")
_PAGE = re.compile(r"/pay/(?P<id>[^/]+)(?P<action>/pay|/decline)?")


class ApiError(Exception):
    """A request refused with Centrapay's error body."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        return json_response(self.status, {
            "statusCode": self.status, "message": self.message,
            "error": HTTPStatus(self.status).phrase, "reason": self.reason}, headers)


def _invalid(reason: str) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", reason)


def _iso(at: float) -> str:
    """Centrapay's timestamps: ISO-8601 UTC with milliseconds."""
    seconds, millis = divmod(int(round(at * 1000)), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _money(minor: int, currency: str) -> str:
    """``250, "USD"`` -> ``"2.50 USD"``, for the patron's page."""
    return f"{format_amount(from_minor(minor, currency), currency)} {currency}"


def _new_id() -> str:
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


def _new_short_code() -> str:
    number = uuid.uuid4().int
    payload = "".join(SHORT_ALPHABET[(number >> (5 * i)) & 31] for i in range(5))
    return f"CP-{payload[:3]}-{payload[3:]}{_luhn_check(payload)}"


def _minor_amount(value: Any, name: str) -> int:
    """A positive integer minor-unit amount given as a string, below MAX_AMOUNT."""
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value):
        raise _invalid(f"{name} must be a string of integer minor units")
    amount = int(value)
    if not 0 < amount < MAX_AMOUNT:
        raise _invalid(f"{name} must be positive and less than {MAX_AMOUNT}")
    return amount


def _optional_text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{name} must be a string")
    return value


def _json_object(request: Request) -> dict[str, Any]:
    """The API body: a JSON object, or nothing at all (void needs no body)."""
    if not request.body:
        return {}
    if "application/json" not in request.headers.get("content-type", ""):
        raise _invalid("Content-Type must be application/json")
    try:
        return request.fields()
    except BadBody as exc:
        raise _invalid(str(exc)) from exc


@dataclass
class _Refund:
    external_ref: str
    amount: int
    activity: dict[str, Any]


@dataclass
class _PaymentRequest:
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
    refunds: list[_Refund] = field(default_factory=list)
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
                "merchantConfigId": self.config_id, "createdAt": _iso(at),
                "activityNumber": str(self.activities), **extra}


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


_STATUS_WORDS = {
    "new": "Waiting for payment",
    "paid": "Paid. Thank you!",
    "expired": "This payment request has expired.",
}

_PAGE_HTML = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<title>Centrapay sandbox</title>
<style>
 body{font-family:system-ui,sans-serif;margin:0;background:#f4f2fb;color:#1d1a2e}
 main{max-width:26rem;margin:0 auto;padding:1.5rem 1rem}
 .card{background:#fff;border-radius:1rem;padding:1.25rem;box-shadow:0 2px 10px #0002}
 .tag{font-size:.75rem;letter-spacing:.08em;text-transform:uppercase;color:#7b7594}
 h1{font-size:1.3rem;margin:.25rem 0 1rem} .amount{font-size:2rem;font-weight:700;margin:0}
 .code{font-family:ui-monospace,monospace;color:#5b5676}
 .status{padding:.6rem .8rem;border-radius:.6rem;background:#eeecf6;margin:1rem 0}
 .status.paid{background:#dcf5e3} .status.cancelled,.status.expired{background:#fbe1e1}
 .message{padding:.6rem .8rem;border-radius:.6rem;background:#fff5d6;margin:1rem 0}
 button{width:100%;border:0;border-radius:.7rem;cursor:pointer;margin-top:.6rem}
 .pay{font-size:1.5rem;font-weight:700;padding:1rem;background:#6b4ef6;color:#fff}
 .part,.decline{font-size:.95rem;padding:.6rem;background:#e6e3f3;color:#1d1a2e}
</style></head><body><main><div class="card">
<div class="tag">Centrapay sandbox &middot; no real money</div>
<h1>${merchant}</h1>
<p class="amount">${amount}</p>
<p class="code">${short_code}</p>
<div class="status ${status_class}">${status}</div>
${message}${buttons}
<p><a href="${page}">Refresh</a></p>
</div></main></body></html>
""")


class CentrapaySimulator:
    """Owns the simulated PRs; ``handle`` serves one request below ``/centrapay``."""

    def __init__(self, *, confirm_s: float = 1.0, requests_per_minute: int = 200,
                 clock: Callable[[], float] = time.time, api_key: str = "sandbox-key",
                 config_id: str = "sandbox-config") -> None:
        self._confirm_s = confirm_s
        self._clock = clock
        self._api_key = api_key
        self._config_id = config_id
        self._lock = threading.Lock()
        self._window = RateWindow(requests_per_minute)
        self._requests: dict[str, _PaymentRequest] = {}

    def codes(self) -> tuple[str, ...]:
        """Every PR id created so far, oldest first."""
        with self._lock:
            return tuple(self._requests)

    def received(self) -> list[ReceivedPayment]:
        """Every PR the patron paid (any of it), oldest first, by its externalRef: the kiosk's
        tx id (a PR made without one is listed by its own id)."""
        with self._lock:
            return [ReceivedPayment(pr.external_ref or pr.id,
                                    from_minor(pr.paid_amount, pr.currency), pr.currency)
                    for pr in self._requests.values() if pr.paid_amount > 0]

    def snapshot(self, pr_id: str) -> PaymentRequestSnapshot:
        """The PR as it stands now; ``KeyError`` for an unknown id."""
        with self._lock:
            pr = self._requests[pr_id]
            return PaymentRequestSnapshot(
                id=pr.id, short_code=pr.short_code,
                status=pr.status(self._clock(), self._confirm_s),
                amount=pr.amount, currency=pr.currency, external_ref=pr.external_ref,
                terminal_id=pr.terminal_id, device_id=pr.device_id, expiry_seconds=pr.expiry_s,
                expires_at=pr.expires_at, cancellation_reason=pr.cancellation_reason,
                partial_allowed=pr.partial_allowed, paid_amount=pr.paid_amount,
                refunds=tuple(RefundSnapshot(r.external_ref, r.amount,
                                             r.activity["activityNumber"]) for r in pr.refunds))

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/api/"):
            return self._serve_api(request)
        page = _PAGE.fullmatch(request.path)
        if page and (request.method, bool(page["action"])) in (("GET", False), ("POST", True)):
            return self._serve_page(request, unquote(page["id"]), page["action"] or "")
        return html_response(404, "<h1>404</h1><p>Not found.</p>")

    # -- API ------------------------------------------------------------------------------------

    def _serve_api(self, request: Request) -> Response:
        with self._lock:
            now = self._clock()
            left, reset_s = self._window.hit(request.client, now)
            try:
                if left < 0:
                    raise ApiError(429, "RATE_LIMIT_EXCEEDED", "Too many requests")
                self._authenticate(request)
                return json_response(200, self._route(request, now))
            except ApiError as exc:
                retry = {"Retry-After": str(math.ceil(reset_s))} if exc.status == 429 else {}
                return exc.response(retry)

    def _authenticate(self, request: Request) -> None:
        key = request.headers.get("x-api-key")
        if not key:
            raise ApiError(401, "UNAUTHORIZED", "X-Api-Key header is required")
        if key != self._api_key:
            raise ApiError(401, "UNAUTHORIZED", "API key is not valid")

    def _route(self, request: Request, now: float) -> dict[str, Any]:
        lookup = _LOOKUP.fullmatch(request.path)
        if lookup and request.method == "GET":
            key = unquote(lookup["key"])
            if lookup["by"] == "external-ref":
                return self._by_external_ref(key, now, request)
            return self._by_short_code(key, now, request)
        match = _API.fullmatch(request.path)
        if match is None:
            raise ApiError(404, "NOT_FOUND", "No such endpoint")
        if match["id"] is None:
            if request.method != "POST":
                raise ApiError(404, "NOT_FOUND", "No such endpoint")
            return self._create(request, now)
        pr = self._requests.get(unquote(match["id"]))
        if pr is None:
            raise ApiError(404, "NOT_FOUND", "Payment request not found")
        action = (request.method, match["action"])
        if action == ("GET", None):
            return self._pr_json(pr, now, request)
        if action == ("POST", "/void"):
            return self._void(pr, now)
        if action == ("POST", "/refund"):
            return self._refund(pr, _json_object(request), now)
        raise ApiError(404, "NOT_FOUND", "No such endpoint")

    def _create(self, request: Request, now: float) -> dict[str, Any]:
        fields = _json_object(request)
        config_id = fields.get("configId")
        if not isinstance(config_id, str) or not config_id:
            raise _invalid("configId is required")
        if config_id != self._config_id:
            raise ApiError(403, "INVALID_MERCHANT_CONFIG", "Unknown merchant config")
        value = fields.get("value")
        if not isinstance(value, dict):
            raise _invalid("value is required")
        amount = _minor_amount(value.get("amount"), "value.amount")
        currency = value.get("currency")
        if currency not in MINOR_UNITS:
            raise _invalid("value.currency must be a supported ISO 4217 code")
        expiry = fields.get("expirySeconds", DEFAULT_EXPIRY_S)
        if isinstance(expiry, bool) or not isinstance(expiry, int) or expiry <= 0:
            raise _invalid("expirySeconds must be a positive integer")
        partial = fields.get("partialAllowed", False)
        if not isinstance(partial, bool):
            raise _invalid("partialAllowed must be a boolean")
        basket = _optional_text(fields, "basketAmount")
        if partial:          # required with partialAllowed, per the partial-payment guide
            _minor_amount(basket, "basketAmount")
        pr = _PaymentRequest(
            id=_new_id(), short_code=self._unused_short_code(), config_id=config_id,
            amount=amount, currency=currency, created_at=now, expiry_s=expiry,
            external_ref=_optional_text(fields, "externalRef"),
            terminal_id=_optional_text(fields, "terminalId"),
            device_id=_optional_text(fields, "deviceId"),
            partial_allowed=partial, basket_amount=basket)
        self._requests[pr.id] = pr
        return self._pr_json(pr, now, request)

    def _unused_short_code(self) -> str:
        taken = {pr.short_code for pr in self._requests.values()}
        while (code := _new_short_code()) in taken:
            pass
        return code

    def _by_external_ref(self, ref: str, now: float, request: Request) -> dict[str, Any]:
        found = [pr for pr in self._requests.values() if pr.external_ref == ref]
        return {"items": [self._pr_json(pr, now, request) for pr in reversed(found)]}

    def _by_short_code(self, code: str, now: float, request: Request) -> dict[str, Any]:
        if not short_code_valid(code):
            raise ApiError(400, "CHECKSUM_FAILED", "Short code checksum digit does not pass")
        found = [pr for pr in self._requests.values() if pr.short_code == code]
        if not found:
            raise ApiError(404, "NOT_FOUND", "Payment request not found")
        return self._pr_json(found[-1], now, request)

    def _void(self, pr: _PaymentRequest, now: float) -> dict[str, Any]:
        pr.refuse_action(now)          # a paid PR answers REQUEST_PAID: see the module docstring
        pr.cancelled_at, pr.cancellation_reason = now, "CANCELLED_BY_MERCHANT"
        return pr.activity("cancellation", pr.amount, now,
                           cancellationReason=pr.cancellation_reason)

    def _refund(self, pr: _PaymentRequest, fields: Mapping[str, Any],
                now: float) -> dict[str, Any]:
        value = fields.get("value")
        if not isinstance(value, dict):
            raise _invalid("value is required")
        amount = _minor_amount(value.get("amount"), "value.amount")
        if value.get("currency") != pr.currency:
            raise _invalid("value.currency must be the payment request's currency")
        ref = fields.get("externalRef")
        if not isinstance(ref, str) or not ref:
            raise _invalid("externalRef is required")
        if pr.status(now, self._confirm_s) != "paid":
            raise ApiError(403, "NOT_PAID", "The payment request has not been paid")
        earlier = next((r for r in pr.refunds if r.external_ref == ref), None)
        if earlier is not None:
            if earlier.amount == amount:          # a repeat of the same refund: same answer
                return earlier.activity
            raise ApiError(403, "REPEAT_REFERENCE",
                           "A refund has already been requested with this externalRef")
        if pr.refunded >= pr.paid_amount:
            raise ApiError(403, "ALREADY_REFUNDED", "The payment request was already refunded")
        if amount > pr.paid_amount - pr.refunded:
            raise ApiError(403, "INVALID_AMOUNT", "The refund is more than the refundable amount")
        activity = pr.activity("refund", amount, now, externalRef=ref)
        pr.refunds.append(_Refund(ref, amount, activity))
        return activity

    def _pr_json(self, pr: _PaymentRequest, now: float, request: Request) -> dict[str, Any]:
        """The documented Payment Request object; optional fields only when set."""
        status = pr.status(now, self._confirm_s)
        asset = f"centrapay.{pr.currency.lower()}.test"
        # Paying only settles at confirm_s: until then nothing is shown as paid.
        paid = pr.paid_amount if status == "paid" else 0
        config_id = SPOOF_CONFIG_ID if pr.spoofed and status == "paid" else pr.config_id
        changed = {"paid": (pr.paid_at or now) + self._confirm_s,
                   "cancelled": pr.cancelled_at or now, "expired": pr.expires_at}
        body: dict[str, Any] = {
            "id": pr.id, "shortCode": pr.short_code, "url": self._pay_url(pr, request),
            "merchantId": MERCHANT_ID, "merchantName": MERCHANT_NAME, "configId": config_id,
            "value": {"currency": pr.currency, "amount": str(pr.amount)},
            "paymentOptions": [{"amount": str(pr.amount), "assetType": asset}],
            "status": status, "liveness": "test",
            "createdAt": _iso(pr.created_at),
            "updatedAt": _iso(changed.get(status, pr.created_at)),
            "expiresAt": _iso(pr.expires_at), "expirySeconds": pr.expiry_s,
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
                "settlementDate": _iso(now + 86400),
                "total": {"amount": str(paid), "currency": pr.currency}}]}
        return body

    @staticmethod
    def _pay_url(pr: _PaymentRequest, request: Request) -> str:
        """Where the patron pays: this sandbox as the caller reached it (its Host header)."""
        host = request.headers.get("host", "127.0.0.1")
        return f"http://{host}{request.mount}/pay/{pr.id}"

    # -- the patron's page ----------------------------------------------------------------------

    def _serve_page(self, request: Request, pr_id: str, action: str) -> Response:
        with self._lock:
            now = self._clock()
            pr = self._requests.get(pr_id)
            status_code, message = 200, ""
            try:
                if pr is None:
                    raise ApiError(404, "NOT_FOUND", "Payment request not found")
                if action == "/pay":
                    message = self._pay(pr, request, now)
                elif action == "/decline":
                    pr.refuse_action(now)
                    pr.cancelled_at, pr.cancellation_reason = now, "DECLINED_BY_PATRON"
                    message = "You declined this payment."
            except ApiError as exc:
                if request.wants_json:
                    return exc.response()
                status_code, message = exc.status, exc.reason
            if request.wants_json:
                assert pr is not None
                return json_response(200, {"id": pr.id, "status": pr.status(now, self._confirm_s),
                                           "message": message})
            if pr is None:
                return html_response(status_code, f"<h1>{status_code}</h1><p>{message}</p>")
            return self._page(pr, request.mount, now, message, status_code)

    def _pay(self, pr: _PaymentRequest, request: Request, now: float) -> str:
        """Record the patron's payment (all of it, or part with partialAllowed)."""
        pr.refuse_action(now)
        try:
            fields = request.fields()
        except BadBody as exc:
            raise _invalid(str(exc)) from exc
        amount = pr.amount
        if fields.get("part") or fields.get("amount"):
            if not pr.partial_allowed:
                raise _invalid("This payment request does not allow partial payment")
            given = fields.get("amount")
            amount = _minor_amount(given, "amount") if given else max(pr.amount // 2, 1)
            if amount >= pr.amount:
                raise _invalid("A part payment must be less than the amount due")
        pr.paid_at, pr.paid_amount = now, amount
        pr.spoofed = form_flag(fields.get("spoof"))
        return f"Paid {_money(amount, pr.currency)}."

    def _page(self, pr: _PaymentRequest, mount: str, now: float, message: str,
              status_code: int) -> Response:
        status = pr.status(now, self._confirm_s)
        page = f"{mount}/pay/{pr.id}"
        settling = status == "new" and pr.paid_at is not None
        words = ("Payment received, processing…" if settling
                 else f"Cancelled: {pr.cancellation_reason}" if status == "cancelled"
                 else _STATUS_WORDS[status])
        if status == "paid" and pr.remaining > 0:
            words = f"Part paid: {_money(pr.remaining, pr.currency)} to pay another way"
        buttons = ""
        if status == "new" and not settling:
            part = ('<button class="part" type="submit" name="part" value="half">Pay part'
                    '</button>' if pr.partial_allowed else "")
            buttons = (f'<form method="post" action="{page}/pay">'
                       f'<button class="pay" type="submit">Pay</button>{part}</form>'
                       f'<form method="post" action="{page}/decline">'
                       '<button class="decline" type="submit">Decline</button></form>')
        return html_response(status_code, _PAGE_HTML.substitute(
            refresh=(f'\n<meta http-equiv="refresh" content="1;url={page}">' if settling else ""),
            merchant=html.escape(MERCHANT_NAME),
            amount=html.escape(_money(pr.amount, pr.currency)),
            short_code=html.escape(pr.short_code),
            status_class=status, status=html.escape(words),
            message=f'<div class="message">{html.escape(message)}</div>' if message else "",
            buttons=buttons, page=page))
