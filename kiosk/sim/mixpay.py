"""MixPay simulator: the v1 API a kiosk uses, plus a hosted checkout page with a Pay button.

Mounted at ``/mixpay``: the API lives under ``/mixpay/v1`` and the checkout at
``/mixpay/code/<code>``. Paths, field names, shapes and codes follow reference/gateways.md
section 1. Lifecycle of a payment:

    unpaid --pay--> confirming (confirm_s) --> success     total paid >= payable (surplus refunded)
                                           \\-> paid_less   the payer may pay again to top up
    deadline, nothing paid          -> failed 40000 "Payment overtime"
    deadline, part paid (confirmed) -> failed 40024

A payment made with ``spoof=1`` on the checkout plays a spoofed success: its ``success`` result
names another payee (``SPOOF_PAYEE_ID``), which a kiosk must not take as paid. ``received()``
lists every payment some money arrived for, by its traceId (or orderId).

Statuses are computed from timestamps when asked (no timers) with the injected clock, so tests
move time instead of sleeping. All state sits behind one lock.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kiosk.sim.mixpay_checkout import checkout_page, pay_summary
from kiosk.sim.mixpay_state import (
    SPOOF_PAYEE_ID,
    MixPayment,
    PaymentSnapshot,
    result_data,
)
from kiosk.sim.mixpay_terms import (
    BODY_ERROR,
    COIN_BY_ID,
    COINS,
    RATE_LIMITED,
    TRACE_NOT_FOUND,
    ApiError,
    Terms,
    asset_item,
    checked_quote,
    param,
    positive_amount,
)
from kiosk.sim.ratewindow import RateWindow
from kiosk.sim.refusal import PayRefused
from kiosk.sim.server import (
    BadBody,
    ReceivedPayment,
    Request,
    Response,
    html_response,
    json_response,
)

__all__ = ["SPOOF_PAYEE_ID", "MixPaySimulator", "PaymentSnapshot"]


class MixPaySimulator:
    """Owns the simulated MixPay payments; ``handle`` serves one request below ``/mixpay``."""

    def __init__(self, *, confirm_s: float = 2.0, requests_per_minute: int = 60,
                 clock: Callable[[], float] = time.time) -> None:
        self._confirm_s = confirm_s
        self._clock = clock
        self._lock = threading.Lock()
        self._window = RateWindow(requests_per_minute)
        self._payments: dict[str, MixPayment] = {}
        self._by_order: dict[tuple[str, str], str] = {}      # (payeeId, orderId) -> code
        self._api = {
            ("POST", "/v1/one_time_payment"): self._create,
            ("GET", "/v1/payments_result"): self._result,
            ("GET", "/v1/setting/payment_assets"): self._assets,
        }

    def codes(self) -> tuple[str, ...]:
        """Every payment code created so far, oldest first."""
        with self._lock:
            return tuple(self._payments)

    def received(self) -> list[ReceivedPayment]:
        """Every payment some money arrived for, oldest first, by the kiosk's id for it."""
        with self._lock:
            return [ReceivedPayment(p.tx_id, p.paid, p.coin.symbol if p.coin else "")
                    for p in self._payments.values() if p.transfers]

    def snapshot(self, code: str) -> PaymentSnapshot:
        """The payment as it stands now; ``KeyError`` for an unknown code."""
        with self._lock:
            payment = self._payments[code]
            status, failure_code, _ = payment.state(self._clock(), self._confirm_s)
            payable = payment.payable
            return PaymentSnapshot(
                code=payment.code, status=status, failure_code=failure_code,
                quote_amount=payment.terms.quote_amount,
                quote_asset_id=payment.terms.quote_asset_id,
                payment_asset_id=payment.coin.asset_id if payment.coin else None,
                payable_amount=payable, paid_amount=payment.paid,
                surplus_amount=payment.surplus(status),
                remark=payment.terms.remark, expired_at=payment.terms.expired_at,
                transfers=tuple(payment.transfers))

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/v1/"):
            return self._serve_api(request)
        match = re.fullmatch(r"/code/([^/]+)(/pay)?", request.path)
        if match and request.method == "GET" and not match[2]:
            return self._serve_page(request, match[1])
        if match and request.method == "POST" and match[2]:
            return self._serve_pay(request, match[1])
        return html_response(404, "<h1>404</h1><p>Not found.</p>")

    # -- API ------------------------------------------------------------------------------------

    def _serve_api(self, request: Request) -> Response:
        with self._lock:
            now = self._clock()
            remaining, reset_s = self._window.hit(request.client, now)
            headers = {"x-ratelimit-limit": str(self._window.limit),
                       "x-ratelimit-remaining": str(max(remaining, 0))}
            try:
                if remaining < 0:
                    headers["retry-after"] = str(math.ceil(reset_s))
                    raise ApiError(RATE_LIMITED, "Too Many Attempts.", http_status=429)
                route = self._api.get((request.method, request.path))
                if route is None:
                    raise ApiError(404, "Not found", http_status=404)
                data = route(request, now)
            except ApiError as exc:
                return json_response(exc.http_status, {
                    "code": exc.code, "success": False, "message": exc.message, "data": [],
                    "timestampMs": int(now * 1000)}, headers)
        return json_response(200, {"code": 0, "success": True, "message": "", "data": data,
                                   "timestampMs": int(now * 1000)}, headers)

    def _create(self, request: Request, now: float) -> dict[str, Any]:
        try:
            fields = request.fields()
        except BadBody as exc:
            raise ApiError(BODY_ERROR, str(exc)) from exc
        terms = Terms.parse(fields, now)
        code = terms.trace_id or (terms.order_id and self._by_order.get((terms.payee_id,
                                                                          terms.order_id)))
        existing = self._payments.get(code) if code else None
        if existing is not None:
            if existing.terms != terms:
                raise param("traceId or orderId already used with other parameters")
            return {"code": existing.code}           # idempotent: same request, same code
        code = terms.trace_id or str(uuid.uuid4())    # the code is the traceId when one is given
        coin = COIN_BY_ID.get(terms.payment_asset_id or "")
        self._payments[code] = MixPayment(code, terms, now, coin)
        if terms.order_id:
            self._by_order[(terms.payee_id, terms.order_id)] = code
        return {"code": code}

    def _result(self, request: Request, now: float) -> dict[str, Any]:
        trace_id = request.query.get("traceId")
        order_id, payee_id = request.query.get("orderId"), request.query.get("payeeId")
        if trace_id:
            code: str | None = trace_id.lower()
        elif order_id and payee_id:
            code = self._by_order.get((payee_id, order_id))
        else:
            raise param("traceId, or orderId and payeeId, is required")
        payment = self._payments.get(code or "")
        if payment is None:
            raise ApiError(TRACE_NOT_FOUND, "Trace id does not exist", http_status=404)
        return result_data(payment, now, self._confirm_s)

    def _assets(self, request: Request, now: float) -> list[dict[str, Any]]:
        quote_id, quote_amount = request.query.get("quoteAssetId"), request.query.get("quoteAmount")
        if bool(quote_id) != bool(quote_amount):
            raise param("quoteAssetId and quoteAmount must be given together")
        usd = (checked_quote(quote_id, positive_amount(quote_amount, "quoteAmount"))[1]
               if quote_id else None)
        return [asset_item(coin, usd) for coin in COINS]

    # -- checkout -------------------------------------------------------------------------------

    def _serve_page(self, request: Request, code: str) -> Response:
        with self._lock:
            payment = self._payments.get(code)
            if payment is None:
                return html_response(404, "<h1>404</h1><p>Payment link does not exist.</p>")
            return checkout_page(payment, request.mount, "", 200, self._clock(), self._confirm_s)

    def _serve_pay(self, request: Request, code: str) -> Response:
        with self._lock:
            payment = self._payments.get(code)
            try:
                if payment is None:
                    raise PayRefused(404, "Payment link does not exist.")
                try:
                    fields = request.fields()
                except BadBody as exc:
                    raise PayRefused(400, str(exc)) from exc
                message = payment.pay(fields, self._clock(), self._confirm_s)
                status_code = 200
            except PayRefused as exc:
                message, status_code = exc.message, exc.http_status
            if request.wants_json:
                summary = pay_summary(code, payment, message, self._clock(), self._confirm_s)
                return json_response(status_code, summary)
            if payment is None:
                return html_response(status_code, f"<h1>{status_code}</h1><p>{message}</p>")
            return checkout_page(payment, request.mount, message, status_code, self._clock(),
                                 self._confirm_s)
