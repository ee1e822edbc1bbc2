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

import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from kiosk.money import MINOR_UNITS, from_minor
from kiosk.sim.centrapay_page import patron_page
from kiosk.sim.centrapay_state import (
    DEFAULT_EXPIRY_S,
    ApiError,
    PaymentRequest,
    PaymentRequestSnapshot,
    RefundSnapshot,
    invalid,
    minor_amount,
    new_id,
    new_short_code,
    optional_text,
    pr_json,
    short_code_valid,
)
from kiosk.sim.ratewindow import RateWindow
from kiosk.sim.server import (
    BadBody,
    ReceivedPayment,
    Request,
    Response,
    html_response,
    json_response,
)

__all__ = ["CentrapaySimulator", "short_code_valid"]

_API = re.compile(r"/api/payment-requests(?:/(?P<id>[^/]+)(?P<action>/void|/refund)?)?")
_LOOKUP = re.compile(r"/api/payment-requests/(?P<by>external-ref|short-code)/(?P<key>[^/]+)")
_PAGE = re.compile(r"/pay/(?P<id>[^/]+)(?P<action>/pay|/decline)?")


def _json_object(request: Request) -> dict[str, Any]:
    """The API body: a JSON object, or nothing at all (void needs no body)."""
    if not request.body:
        return {}
    if "application/json" not in request.headers.get("content-type", ""):
        raise invalid("Content-Type must be application/json")
    try:
        return request.fields()
    except BadBody as exc:
        raise invalid(str(exc)) from exc


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
        self._requests: dict[str, PaymentRequest] = {}

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
            return pr.void(now)
        if action == ("POST", "/refund"):
            return pr.refund(_json_object(request), now, self._confirm_s)
        raise ApiError(404, "NOT_FOUND", "No such endpoint")

    def _create(self, request: Request, now: float) -> dict[str, Any]:
        fields = _json_object(request)
        config_id = fields.get("configId")
        if not isinstance(config_id, str) or not config_id:
            raise invalid("configId is required")
        if config_id != self._config_id:
            raise ApiError(403, "INVALID_MERCHANT_CONFIG", "Unknown merchant config")
        value = fields.get("value")
        if not isinstance(value, dict):
            raise invalid("value is required")
        amount = minor_amount(value.get("amount"), "value.amount")
        currency = value.get("currency")
        if currency not in MINOR_UNITS:
            raise invalid("value.currency must be a supported ISO 4217 code")
        expiry = fields.get("expirySeconds", DEFAULT_EXPIRY_S)
        if isinstance(expiry, bool) or not isinstance(expiry, int) or expiry <= 0:
            raise invalid("expirySeconds must be a positive integer")
        partial = fields.get("partialAllowed", False)
        if not isinstance(partial, bool):
            raise invalid("partialAllowed must be a boolean")
        basket = optional_text(fields, "basketAmount")
        if partial:          # required with partialAllowed, per the partial-payment guide
            minor_amount(basket, "basketAmount")
        pr = PaymentRequest(
            id=new_id(), short_code=self._unused_short_code(), config_id=config_id,
            amount=amount, currency=currency, created_at=now, expiry_s=expiry,
            external_ref=optional_text(fields, "externalRef"),
            terminal_id=optional_text(fields, "terminalId"),
            device_id=optional_text(fields, "deviceId"),
            partial_allowed=partial, basket_amount=basket)
        self._requests[pr.id] = pr
        return self._pr_json(pr, now, request)

    def _unused_short_code(self) -> str:
        taken = {pr.short_code for pr in self._requests.values()}
        while (code := new_short_code()) in taken:
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

    @staticmethod
    def _pay_url(pr: PaymentRequest, request: Request) -> str:
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
                    message = pr.pay(request, now)
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
            return patron_page(pr, request.mount, now, self._confirm_s, message, status_code)

    def _pr_json(self, pr: PaymentRequest, now: float, request: Request) -> dict[str, Any]:
        return pr_json(pr, now, self._confirm_s, self._pay_url(pr, request))
