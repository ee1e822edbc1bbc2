"""Centrapay client: payment requests polled once a second, voided, refunded, verified before PAID.

Follows the "next" API (reference/gateways.md section 3): ``POST /api/payment-requests`` creates
a payment request (PR) whose ``url`` the QR encodes, ``GET /api/payment-requests/{id}`` is polled,
``POST .../void`` cancels it and ``POST .../refund`` returns the money after a failed vend. Every
call carries the merchant-terminal API key in ``X-Api-Key``; it never reaches a log line, an
exception or ``repr``.

Centrapay's error-handling checklist, as applied here:

- branch on the error body's ``message``, never on ``reason`` (``reason`` is only shown);
- the PR expires ``EXPIRY_MARGIN_S`` before the kiosk's payment window closes (5-10 s asked);
- the PR status is the source of truth: a void refused with ``REQUEST_PAID`` reads the status;
- 5xx, timeouts, TLS failures and malformed bodies become ``GatewayError`` subclasses (http.py),
  never crashes; retrying and voiding an unknown status is the caller's loop.

Centrapay has no coin list (the patron picks an asset in the Centrapay app) and amounts are
strings of integer minor units.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from kiosk.errors import GatewayError, GatewayProtocolError, GatewayRejected
from kiosk.payments.base import (
    Asset,
    Gateway,
    Order,
    PaymentRequest,
    PaymentState,
    PaymentStatus,
    RefundResult,
)
from kiosk.payments.centrapay_replies import (
    CentrapayReplies,
    error_message,
    minor_units,
    refunded,
    text_of,
    voided,
)
from kiosk.payments.http import GatewayHttp, JsonReply, redacted
from kiosk.payments.ratelimit import RateLimiter

API = "/api/payment-requests"
EXPIRY_MARGIN_S = 8          # the PR expires this long before the kiosk times out (docs: 5-10 s)
MIN_EXPIRY_S = 10            # shorter than this, nobody can scan and pay: refuse locally
RATE_LIMITED = "RATE_LIMIT_EXCEEDED"
REMEMBERED_CREATES = 512     # tx ids whose create we tried, for idempotent repeats


class CentrapayGateway(Gateway):
    """The production Centrapay client. Every call may block on the network: not the UI thread."""

    name = "centrapay"
    can_cancel = True
    can_refund = True
    offers_asset_choice = False
    poll_interval_s = 1.0           # docs: poll the payment request every second

    def __init__(
        self,
        *,
        api_base: str = "https://service.centrapay.com",
        config_id: str,
        api_key: str,
        machine_id: str,
        requests_per_minute: int = 200,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._api_base = api_base
        self._config_id = config_id
        self._api_key = api_key          # kept only to scrub it from Centrapay's own texts
        self._machine_id = machine_id
        self._clock = clock
        self._replies = CentrapayReplies(config_id, self._scrub)
        self._http = GatewayHttp(
            self.name, api_base,
            limiter=limiter or RateLimiter(requests_per_minute, name=self.name),
            transport=transport, timeout=timeout, clock=clock,
            headers={"X-Api-Key": api_key},
        )
        self._attempts_lock = threading.Lock()
        self._attempted: dict[str, None] = {}   # insertion-ordered set of tx ids

    def __repr__(self) -> str:
        return (f"CentrapayGateway(api_base={self._api_base!r}, config_id={self._config_id!r}, "
                f"machine_id={self._machine_id!r}, api_key=<redacted>)")

    # -- Gateway interface ---------------------------------------------------------------

    def list_assets(self, amount: Decimal, currency: str) -> list[Asset]:
        """Always empty: Centrapay has no asset list; the patron chooses in the Centrapay app."""
        return []

    def create(self, order: Order) -> PaymentRequest:
        """Create the PR. Centrapay has no idempotency key here, so a repeated create for the
        same ``tx_id`` (in this process) first looks the PR up by ``externalRef``."""
        minor = minor_units(order)
        expiry = math.floor(order.expires_at - self._clock()) - EXPIRY_MARGIN_S
        if expiry < MIN_EXPIRY_S:
            raise GatewayRejected(
                f"centrapay POST {API}: the payment request would expire in {expiry} s, "
                f"less than {MIN_EXPIRY_S} s", code="local")
        if self._seen_before(order.tx_id):
            existing = self.request_for(order)
            if existing is not None:
                return existing
        reply = self._http.post_json(API, {
            "configId": self._config_id,
            "value": {"amount": str(minor), "currency": order.currency},
            "externalRef": order.tx_id,
            "terminalId": self._machine_id,
            "deviceId": self._machine_id,
            "expirySeconds": expiry,
        })
        request = self._replies.request_from(self._ok(reply), order)
        if request is None:
            raise GatewayProtocolError(f"{reply.where}: reply has no string 'id' and 'url'")
        return request

    def check_reachable(self, amount: Decimal, currency: str) -> str:
        """An authenticated read (a look-up by a reference no sale uses) proves key and path."""
        reply = self._http.get(f"{API}/external-ref/kiosk-selftest", {})
        self._ok(reply)
        return "reachable; API key accepted"

    def request_for(self, order: Order) -> PaymentRequest | None:
        """The newest PR created for ``order`` (by ``externalRef``), or None if there is none.

        Unlike most gateways this is a network call (``GET .../external-ref/{tx_id}``): it may
        block and may raise ``GatewayError``. Only the first page is read; a kiosk creates one PR
        per order (two at most, after a lost create reply).
        """
        reply = self._http.get(f"{API}/external-ref/{quote(order.tx_id, safe='')}", {})
        items = self._ok(reply).get("items")
        if not isinstance(items, list):
            raise GatewayProtocolError(f"{reply.where}: 'items' is not a list")
        found = [(text_of(item.get("createdAt")), request) for item in items
                 if isinstance(item, dict) and (request := self._replies.request_from(item, order))]
        # ISO-8601 UTC timestamps in one format sort as text; max keeps the first of equals.
        return max(found, key=lambda pair: pair[0])[1] if found else None

    def status(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        reply = self._http.get(self._path(request), {})
        return self._replies.status(self._ok(reply), order, request, reply.where)

    def cancel(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        """Void the PR. A ``REQUEST_PAID`` (or ``REQUEST_CANCELLED``) refusal reads the status,
        which is the truth: normally PAID (verified) for a patron who paid just in time."""
        reply = self._http.post_json(self._path(request, "/void"), {})
        if reply.status_code < 300:
            return voided(reply.body)
        message = error_message(reply)
        if message in ("REQUEST_PAID", "REQUEST_CANCELLED"):
            return self.status(order, request)
        if message == "REQUEST_EXPIRED":
            return PaymentStatus(PaymentState.EXPIRED, raw_status="expired", reason=message)
        raise self._refusal(reply, message)

    def refund(self, order: Order, request: PaymentRequest, reference: str) -> RefundResult:
        """Refund the whole amount; ``reference`` is the refund's ``externalRef`` (idempotency).

        Refunds settle asynchronously: ``done`` is True only when the reply says so.
        """
        reply = self._http.post_json(self._path(request, "/refund"), {
            "value": {"amount": str(minor_units(order)), "currency": order.currency},
            "externalRef": reference,
        })
        if reply.status_code < 300:
            return refunded(reply.body, reference)
        message = error_message(reply)
        if message == "ALREADY_REFUNDED":
            return RefundResult(done=True, reference=reference, detail="already refunded")
        if message == "REPEAT_REFERENCE":       # this reference was already used: requested
            return RefundResult(done=False, reference=reference, detail="already requested")
        raise self._refusal(reply, message)

    def close(self) -> None:
        self._http.close()

    # -- helpers -------------------------------------------------------------------------

    def _path(self, request: PaymentRequest, action: str = "") -> str:
        return f"{API}/{quote(request.payment_id, safe='')}{action}"

    def _seen_before(self, tx_id: str) -> bool:
        """Record a create attempt for ``tx_id``; True if one was made before."""
        with self._attempts_lock:
            seen = tx_id in self._attempted
            self._attempted[tx_id] = None
            while len(self._attempted) > REMEMBERED_CREATES:
                del self._attempted[next(iter(self._attempted))]
        return seen

    def _ok(self, reply: JsonReply) -> dict[str, Any]:
        """The body of a 2xx reply; any other reply becomes the error its ``message`` names."""
        if reply.status_code < 300:
            return reply.body
        raise self._refusal(reply, error_message(reply))

    def _refusal(self, reply: JsonReply, message: str) -> GatewayError:
        if message == RATE_LIMITED:      # the budget is per account: pause every caller
            return self._http.rate_limited(reply.where, reply.headers)
        code = self._scrub(message)[:80]
        reason = self._scrub(text_of(reply.body.get("reason")))
        text = f"{reply.where}: HTTP {reply.status_code} {code}" + (f": {reason}" if reason else "")
        return GatewayRejected(text, code=code)

    def _scrub(self, text: str) -> str:
        """Centrapay's own text, shortened, and never carrying our API key back to a log."""
        return redacted(text, self._api_key)
