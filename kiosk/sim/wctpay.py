"""WCT Pay simulator: the POS payments API a kiosk uses, plus a stand-in phone wallet.

Mounted at ``/wctpay``. Paths, fields, statuses and error strings follow reference/gateways.md
section 2; where WCT's docs are silent the choice is marked [sandbox]::

    POST /wctpay/payment-pos/post        create (JSON or form); key and MD5 hash checked
    POST /wctpay/payment-pos/getupdate   status and current quote, by reference or payment_code
    GET  /wctpay/wallet                  open payments with Pay / Pay part / Pay more / Cancel
    POST /wctpay/wallet/pay              qr (the QR text the kiosk showed) or reference;
                                         optional amount (crypto) or part=half|more
    POST /wctpay/wallet/cancel           reference: the payer cancels on WCT's hosted side

Lifecycle, computed from timestamps when asked (no timers), with the injected clock::

    0 created --pay--> unconfirmed for confirm_s --> 2 partial (payment_missing_amount > 0)
                                                 \\-> 3 completed (missing 0, overpaid_amount)
    unconfirmed [sandbox]: payment_status stays 0 / 2 and the missing amount counts confirmed
        funds only, plus "confirmations": 0 and "unconfirmed_amount" (1 once confirmed)
    every quote_ttl_s until paid in full: a new quote, the coin priced RATE_STEP lower, so a new
        payment_amount, expires_at and Lightning invoice; the missing amount is re-priced
    nothing paid order_ttl_s after creation [sandbox], or a wallet cancel -> 4 cancelled
    paid with spoof=1 [sandbox]: 3 completed as soon as any of it is confirmed, whatever is
        still missing: a spoofed success whose amount does not match the order

Every payment gets its own fake but well-formed-looking address, except XRP: one shared
merchant address told apart by a destination tag (``payment_memo`` [sandbox field name]).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from kiosk.payments.http import json_decimal
from kiosk.sim.ratewindow import RateWindow
from kiosk.sim.refusal import PayRefused
from kiosk.sim.server import BadBody, ReceivedPayment, Request, Response, json_response
from kiosk.sim.wctpay_state import (
    BASE58,
    COIN_BY_REQUEST,
    HEX,
    MAX_AMOUNT,
    SETTLEMENT_USD,
    STATUS_WORDS,
    XRP_MERCHANT_ADDRESS,
    Coin,
    Rules,
    WctPayment,
    WctPaymentSnapshot,
    chars,
    fmt,
)
from kiosk.sim.wctpay_wallet import by_qr, summary, wallet_page

ASSET_REFUSED = "The asset not allow for POS create payment"      # WCT's own wording


class ApiError(Exception):
    """A request the simulated API refuses with ``{"status": "nok", "error": ...}``."""

    def __init__(self, error: str, http_status: int = 400, **extra: Any) -> None:
        super().__init__(error)
        self.error, self.http_status, self.extra = error, http_status, extra


class WctPaySimulator:
    """Owns the simulated WCT Pay payments; ``handle`` serves one request below ``/wctpay``."""

    def __init__(self, *, confirm_s: float = 2.0, quote_ttl_s: float = 900,
                 order_ttl_s: float = 1800, requests_per_minute: int = 60,
                 clock: Callable[[], float] = time.time, key: str = "sandbox-key",
                 api_secret: str = "sandbox-secret", nested: bool = False,
                 numeric_status: bool = True) -> None:
        self._rules = Rules(confirm_s, quote_ttl_s, order_ttl_s)
        self._clock = clock
        self._key, self._secret = key, api_secret
        self._nested, self._numeric = nested, numeric_status
        self._lock = threading.Lock()
        self._window = RateWindow(requests_per_minute)
        self._payments: dict[str, WctPayment] = {}            # by reference, oldest first
        self._api = {"/payment-pos/post": self._create, "/payment-pos/getupdate": self._update,
                     "/validate": self._validate}
        self._wallet = {"/wallet/pay": WctPayment.pay, "/wallet/cancel": WctPayment.cancel}

    def codes(self) -> tuple[str, ...]:
        """The reference of every payment created so far, oldest first."""
        with self._lock:
            return tuple(self._payments)

    def received(self) -> list[ReceivedPayment]:
        """Every payment some crypto arrived for, oldest first, by its reference: the kiosk's
        tx id."""
        with self._lock:
            return [ReceivedPayment(p.reference, p.paid,
                                    p.coin.asset)
                    for p in self._payments.values() if p.transfers]

    def snapshot(self, reference: str) -> WctPaymentSnapshot:
        """The payment as it stands now; ``KeyError`` for an unknown reference."""
        with self._lock:
            p, now = self._payments[reference], self._clock()
            quote = p.quote(now, self._rules)
            return WctPaymentSnapshot(
                reference=p.reference, payment_code=p.code, coin=p.coin.code, amount=p.amount,
                settlement=p.settlement, payment_status=p.state(now, self._rules), quote=quote,
                payment_amount=p.crypto(p.usd, quote),
                payment_missing_amount=p.missing(now, quote, self._rules),
                paid=p.paid, address=p.address,
                payreq=p.payreq(quote), memo=p.tag, expires_at=p.expires_at(quote, self._rules),
                transfers=tuple(p.transfers))

    def handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path in self._api:
            return self._serve_api(request)
        if request.method == "GET" and request.path == "/wallet":
            with self._lock:
                return self._wallet_page(request.mount, "", 200)
        if request.method == "POST" and request.path in self._wallet:
            return self._serve_wallet(request)
        return json_response(404, {"status": "nok", "error": "Not found"})

    # -- API ------------------------------------------------------------------------------------

    def _serve_api(self, request: Request) -> Response:
        with self._lock:
            now = self._clock()
            left, reset_s = self._window.hit(request.client, now)
            if left < 0:
                return json_response(429, {"status": "nok", "error": "Too many requests"},
                                     {"Retry-After": str(math.ceil(reset_s))})
            try:
                try:
                    fields = request.fields()
                except BadBody as exc:
                    raise ApiError(str(exc)) from exc
                return json_response(200, self._api[request.path](fields, now))
            except ApiError as exc:
                return json_response(exc.http_status,
                                     {"status": "nok", "error": exc.error, **exc.extra})

    def _create(self, fields: Mapping[str, Any], now: float) -> dict[str, Any]:
        values = {name: _required(fields, name) for name in
                  ("asset", "requested_asset", "amount", "description", "reference")}
        self._authenticate(fields, values["asset"] + values["amount"])
        settlement = values["asset"].upper()
        if settlement not in SETTLEMENT_USD:
            raise ApiError("Settlement asset not supported")
        coin = _coin(values["requested_asset"], fields.get("requested_asset_network"))
        amount = json_decimal(values["amount"])
        if amount is None or not 0 < amount <= MAX_AMOUNT:
            raise ApiError(f"amount must be a number above 0 and at most {MAX_AMOUNT}")
        reference = values["reference"]
        terms = (settlement, coin.code, values["amount"])
        payment = self._payments.get(reference)
        if payment is not None and payment.terms != terms:
            raise ApiError("Reference already used for another payment", 409)
        if payment is None:           # a repeated create is answered with the same payment
            payment = self._new_payment(reference, coin, terms, amount, settlement,
                                        values["description"], now)
        quote = payment.quote(now, self._rules)
        return {"status": "ok", "message": "Create POS Payment Successfully",
                **payment.quote_fields(quote, self._rules)}

    def _new_payment(self, reference: str, coin: Coin, terms: tuple[str, str, str],
                     amount: Decimal, settlement: str, description: str,
                     now: float) -> WctPayment:
        seed = f"{reference}/{len(self._payments)}"
        tag = str(100_000 + len(self._payments)) if coin.tagged else None
        payment = WctPayment(
            reference=reference, code=chars(seed, BASE58, 10),
            payment_id=chars(seed, HEX, 24), coin=coin, terms=terms, amount=amount,
            settlement=settlement, description=description, created_at=now,
            address=XRP_MERCHANT_ADDRESS if coin.tagged else coin.address(seed), tag=tag)
        self._payments[reference] = payment
        return payment

    def _update(self, fields: Mapping[str, Any], now: float) -> dict[str, Any]:
        reference, code = fields.get("reference") or None, fields.get("payment_code") or None
        if (reference is None) == (code is None):
            raise ApiError("Payment Reference or Payment Code is required",
                           message="Could not get payment!", validated=False)
        handle = _required(fields, "reference" if reference is not None else "payment_code")
        self._authenticate(fields, handle)
        payment = (self._payments.get(handle) if reference is not None else
                   next((p for p in self._payments.values() if p.code == handle), None))
        if payment is None:
            raise ApiError("Payment not found", 404, message="Could not get payment!")
        status = payment.state(now, self._rules)
        quote = payment.quote(now, self._rules)
        update = {"payment_code": payment.code, "reference": payment.reference,
                  **payment.quote_fields(quote, self._rules),
                  "payment_missing_amount": fmt(payment.missing(now, quote, self._rules)),
                  "payment_status": status if self._numeric else str(status)}
        update |= payment.transfer_fields(now, quote, status, self._rules)
        message = "Get pos payment update successfully"
        if self._nested:
            return {"status": "ok", "message": message,
                    "payment": {**update, "status": STATUS_WORDS[status]}}
        return {"status": "ok", "message": message, **update}

    def _validate(self, fields: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Verify Credentials: ``hash`` is the MD5 of the terminal's API secret alone."""
        key, given = _required(fields, "key"), _required(fields, "hash")
        want = hashlib.md5(self._secret.encode()).hexdigest()
        if not (hmac.compare_digest(key, self._key) and hmac.compare_digest(given.lower(), want)):
            raise ApiError("Invalid credentials", 401, validated=False)
        return {"status": "ok", "validated": True, "message": "Credentials are valid"}

    def _authenticate(self, fields: Mapping[str, Any], signed: str) -> None:
        key, given = _required(fields, "key"), _required(fields, "hash")
        if not hmac.compare_digest(key, self._key):
            raise ApiError("Invalid API key", 401)
        want = hashlib.md5((key + signed + self._secret).encode()).hexdigest()
        if not hmac.compare_digest(given.lower(), want):
            raise ApiError("Invalid hash", 401)

    # -- wallet ---------------------------------------------------------------------------------

    def _serve_wallet(self, request: Request) -> Response:
        with self._lock:
            now, payment = self._clock(), None
            try:
                try:
                    fields = request.fields()
                except BadBody as exc:
                    raise PayRefused(400, str(exc)) from exc
                payment = self._find(fields, now)
                action = self._wallet[request.path]
                message, status_code = action(payment, fields, now, self._rules), 200
            except PayRefused as exc:
                message, status_code = exc.message, exc.http_status
            if request.wants_json:
                return json_response(status_code, summary(payment, message, now, self._rules))
            return self._wallet_page(request.mount, message, status_code)

    def _find(self, fields: Mapping[str, Any], now: float) -> WctPayment:
        reference, qr = fields.get("reference"), fields.get("qr")
        if isinstance(reference, str) and reference:
            if reference not in self._payments:
                raise PayRefused(404, "No payment has this reference.")
            return self._payments[reference]
        if isinstance(qr, str) and qr.strip():
            return by_qr(self._payments.values(), qr.strip(), now, self._rules)
        raise PayRefused(400, "Give qr (the QR code's text) or reference.")

    def _wallet_page(self, mount: str, message: str, status_code: int) -> Response:
        return wallet_page(self._payments.values(), mount, message, status_code, self._clock(),
                           self._rules)


def _required(fields: Mapping[str, Any], name: str) -> str:
    """A required field as the text that was sent (a JSON number keeps its digits)."""
    value = fields.get(name)
    if value is None or value == "":
        raise ApiError(f"{name} is required")
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ApiError(f"{name} must be a string")
    return value


def _coin(requested: str, network: Any) -> Coin:
    asset = requested.strip().upper()
    if asset == "USDT":
        if not isinstance(network, str) or not network:
            raise ApiError("requested_asset_network is required for Tether")
        key: tuple[str, str | None] = (asset, network.strip().upper())
    else:
        key = (asset, None)
    coin = COIN_BY_REQUEST.get(key)
    if coin is None:
        raise ApiError(ASSET_REFUSED)
    return coin
