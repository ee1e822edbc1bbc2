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
import html
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from string import Template
from typing import Any
from urllib.parse import parse_qs

from kiosk.payments.http import json_decimal
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

CREATED, PARTIAL, COMPLETED, CANCELLED = 0, 2, 3, 4
STATUS_WORDS = {CREATED: "created", PARTIAL: "partial", COMPLETED: "completed",
                CANCELLED: "cancelled"}
RATE_STEP = Decimal("0.01")          # each new quote prices the coin 1 % lower: more crypto due
MAX_AMOUNT = Decimal(10000)
SETTLEMENT_USD = {"USD": Decimal(1), "EUR": Decimal("1.08"), "GBP": Decimal("1.27"),
                  "AUD": Decimal("0.66")}
ASSET_REFUSED = "The asset not allow for POS create payment"      # WCT's own wording
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_HEX = "0123456789abcdef"


def _chars(seed: str, alphabet: str, count: int) -> str:
    """``count`` characters of ``alphabet``, deterministic in ``seed``."""
    return "".join(alphabet[b % len(alphabet)]
                   for b in hashlib.shake_256(seed.encode()).digest(count))


def _fmt(value: Decimal) -> str:
    return "0" if value == 0 else format(value, "f")


@dataclass(frozen=True)
class Coin:
    """A coin the simulated WCT accepts, with a demo USD rate and its address shape."""

    code: str                        # the kiosk's allow-list notation: "USDT-TRC20"
    asset: str                       # requested_asset / payment_amount_asset: "USDT"
    network: str | None              # requested_asset_network (Tether only): "TRC20"
    usd_rate: Decimal
    places: int
    prefix: str                      # address shape: prefix + length chars of alphabet
    alphabet: str
    length: int
    tagged: bool = False             # XRP: one shared address, a destination tag per payment
    lightning: bool = False          # BTC: a BOLT11 invoice per quote as well

    def address(self, seed: str) -> str:
        return self.prefix + _chars(seed, self.alphabet, self.length)

    def units(self, value: Decimal, rounding: str) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.places), rounding=rounding)


COINS: tuple[Coin, ...] = (   # made-up rates
    Coin("BTC", "BTC", None, Decimal(60000), 8, "bc1q", _BECH32, 38, lightning=True),
    Coin("LTC", "LTC", None, Decimal(80), 8, "ltc1q", _BECH32, 38),
    Coin("DOGE", "DOGE", None, Decimal("0.15"), 8, "D", _BASE58, 33),
    Coin("ETH", "ETH", None, Decimal(3000), 8, "0x", _HEX, 40),
    Coin("USDT-TRC20", "USDT", "TRC20", Decimal(1), 6, "T", _BASE58, 33),
    Coin("USDT-ERC20", "USDT", "ERC20", Decimal(1), 6, "0x", _HEX, 40),
    Coin("XRP", "XRP", None, Decimal("0.5"), 6, "r", _BASE58, 33, tagged=True),
)
_COIN_BY_REQUEST = {(c.asset, c.network): c for c in COINS}
XRP_MERCHANT_ADDRESS = COINS[-1].address("xrp-merchant")


class ApiError(Exception):
    """A request the simulated API refuses with ``{"status": "nok", "error": ...}``."""

    def __init__(self, error: str, http_status: int = 400, **extra: Any) -> None:
        super().__init__(error)
        self.error, self.http_status, self.extra = error, http_status, extra


class PayRefused(Exception):
    """The wallet refuses a payment or cancel (unknown QR, cancelled, already paid...)."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status, self.message = http_status, message


@dataclass(frozen=True)
class Transfer:
    amount: Decimal                  # crypto
    at: float
    usd_rate: Decimal                # the quote's rate when it was paid: its USD value


@dataclass(frozen=True)
class _Rules:
    confirm_s: float
    quote_ttl_s: float
    order_ttl_s: float


@dataclass
class _Payment:
    reference: str
    code: str
    payment_id: str
    coin: Coin
    terms: tuple[str, str, str]      # (asset, coin, amount) as sent: a repeat must match them
    amount: Decimal                  # in the settlement asset
    settlement: str
    description: str
    created_at: float
    address: str
    tag: str | None
    transfers: list[Transfer] = field(default_factory=list)
    cancelled: float | None = None   # when the payer cancelled
    settled: float | None = None     # when the transfers first covered the price
    spoofed: bool = False            # reads completed once anything is confirmed

    @property
    def usd(self) -> Decimal:
        return self.amount * SETTLEMENT_USD[self.settlement]

    def cancelled_at(self, rules: _Rules) -> float | None:
        if self.cancelled is not None:
            return self.cancelled
        return None if self.transfers else self.created_at + rules.order_ttl_s

    def state(self, now: float, rules: _Rules) -> int:
        cancelled = self.cancelled_at(rules)
        if cancelled is not None and now >= cancelled:
            return CANCELLED
        confirmed = [t for t in self.transfers if t.at + rules.confirm_s <= now]
        if _usd(confirmed) >= self.usd or (self.spoofed and confirmed):
            return COMPLETED
        return PARTIAL if confirmed else CREATED

    def quote(self, now: float, rules: _Rules) -> int:
        """Which quote is current: it stops refreshing once paid in full or cancelled."""
        stops = [t for t in (self.settled, self.cancelled_at(rules)) if t is not None]
        at = min([now, *stops])
        return max(0, int((at - self.created_at) // rules.quote_ttl_s))

    def rate(self, quote: int) -> Decimal:
        return self.coin.usd_rate * max(1 - RATE_STEP * quote, Decimal("0.5"))

    def crypto(self, usd: Decimal, quote: int, rounding: str = ROUND_UP) -> Decimal:
        """``usd`` in the coin at ``quote``'s rate; rounded up, a payer never pays too little."""
        return self.coin.units(max(usd, Decimal(0)) / self.rate(quote), rounding)

    def payreq(self, quote: int) -> str | None:
        if not self.coin.lightning:
            return None
        nano_btc = int(self.crypto(self.usd, quote) * 10**9)   # BOLT11's "n" multiplier
        return f"lnbc{nano_btc}n1p" + _chars(f"{self.reference}/{quote}", _BECH32, 180)


def _usd(transfers: list[Transfer]) -> Decimal:
    return sum((t.amount * t.usd_rate for t in transfers), Decimal(0))


@dataclass(frozen=True)
class WctPaymentSnapshot:
    """A read-only view of one simulated payment, for tests and scripts."""

    reference: str
    payment_code: str
    coin: str                        # allow-list notation, "USDT-TRC20"
    amount: Decimal                  # in the settlement asset
    settlement: str
    payment_status: int              # 0 created, 2 partial, 3 completed, 4 cancelled
    quote: int                       # 0 for the first quote, 1 after the first refresh...
    payment_amount: Decimal
    payment_missing_amount: Decimal  # confirmed funds only, as getupdate reports it
    paid: Decimal                    # every transfer, confirmed or not
    address: str
    payreq: str | None
    memo: str | None
    expires_at: int
    transfers: tuple[Transfer, ...]


class WctPaySimulator:
    """Owns the simulated WCT Pay payments; ``handle`` serves one request below ``/wctpay``."""

    def __init__(self, *, confirm_s: float = 2.0, quote_ttl_s: float = 900,
                 order_ttl_s: float = 1800, requests_per_minute: int = 60,
                 clock: Callable[[], float] = time.time, key: str = "sandbox-key",
                 api_secret: str = "sandbox-secret", nested: bool = False,
                 numeric_status: bool = True) -> None:
        self._rules = _Rules(confirm_s, quote_ttl_s, order_ttl_s)
        self._clock = clock
        self._key, self._secret = key, api_secret
        self._nested, self._numeric = nested, numeric_status
        self._lock = threading.Lock()
        self._window = RateWindow(requests_per_minute)
        self._payments: dict[str, _Payment] = {}            # by reference, oldest first
        self._api = {"/payment-pos/post": self._create, "/payment-pos/getupdate": self._update,
                     "/validate": self._validate}
        self._wallet = {"/wallet/pay": self._pay, "/wallet/cancel": self._cancel}

    def codes(self) -> tuple[str, ...]:
        """The reference of every payment created so far, oldest first."""
        with self._lock:
            return tuple(self._payments)

    def received(self) -> list[ReceivedPayment]:
        """Every payment some crypto arrived for, oldest first, by its reference: the kiosk's
        tx id."""
        with self._lock:
            return [ReceivedPayment(p.reference, sum((t.amount for t in p.transfers), Decimal(0)),
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
                payment_missing_amount=self._missing(p, now, quote),
                paid=sum((t.amount for t in p.transfers), Decimal(0)), address=p.address,
                payreq=p.payreq(quote), memo=p.tag, expires_at=self._expires_at(p, quote),
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
                **self._quote_fields(payment, quote)}

    def _new_payment(self, reference: str, coin: Coin, terms: tuple[str, str, str],
                     amount: Decimal, settlement: str, description: str,
                     now: float) -> _Payment:
        seed = f"{reference}/{len(self._payments)}"
        tag = str(100_000 + len(self._payments)) if coin.tagged else None
        payment = _Payment(
            reference=reference, code=_chars(seed, _BASE58, 10),
            payment_id=_chars(seed, _HEX, 24), coin=coin, terms=terms, amount=amount,
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
                  **self._quote_fields(payment, quote),
                  "payment_missing_amount": _fmt(self._missing(payment, now, quote)),
                  "payment_status": status if self._numeric else str(status)}
        update |= self._transfer_fields(payment, now, quote, status)
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

    def _quote_fields(self, p: _Payment, quote: int) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "paymentId": p.payment_id, "payment_code": p.code, "payment_address": p.address,
            "payment_amount": _fmt(p.crypto(p.usd, quote)), "payment_amount_asset": p.coin.asset,
            "exchange_rate": _fmt(p.rate(quote) / SETTLEMENT_USD[p.settlement]),
            "expires_at": self._expires_at(p, quote)}
        if p.coin.lightning:
            fields["payment_payreq"] = p.payreq(quote)
        if p.tag is not None:
            fields["payment_memo"] = p.tag
        return fields

    def _transfer_fields(self, p: _Payment, now: float, quote: int,
                         status: int) -> dict[str, Any]:
        """[sandbox] how the unconfirmed state and an overpayment show in getupdate."""
        if not p.transfers:
            return {}
        pending = [t for t in p.transfers if now < t.at + self._rules.confirm_s]
        fields: dict[str, Any] = {"confirmations": 0 if pending else 1}
        if pending:
            fields["unconfirmed_amount"] = _fmt(sum((t.amount for t in pending), Decimal(0)))
        surplus = p.crypto(_usd(p.transfers) - p.usd, quote, ROUND_DOWN)
        if status == COMPLETED and surplus > 0:
            fields["overpaid_amount"] = _fmt(surplus)
        return fields

    def _missing(self, p: _Payment, now: float, quote: int) -> Decimal:
        confirmed = [t for t in p.transfers if t.at + self._rules.confirm_s <= now]
        return p.crypto(p.usd - _usd(confirmed), quote)

    def _expires_at(self, p: _Payment, quote: int) -> int:
        return int(p.created_at + (quote + 1) * self._rules.quote_ttl_s)

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
                message, status_code = self._wallet[request.path](payment, fields, now), 200
            except PayRefused as exc:
                message, status_code = exc.message, exc.http_status
            if request.wants_json:
                return json_response(status_code, self._summary(payment, message, now))
            return self._wallet_page(request.mount, message, status_code)

    def _find(self, fields: Mapping[str, Any], now: float) -> _Payment:
        reference, qr = fields.get("reference"), fields.get("qr")
        if isinstance(reference, str) and reference:
            if reference not in self._payments:
                raise PayRefused(404, "No payment has this reference.")
            return self._payments[reference]
        if isinstance(qr, str) and qr.strip():
            return self._by_qr(qr.strip(), now)
        raise PayRefused(400, "Give qr (the QR code's text) or reference.")

    def _by_qr(self, qr: str, now: float) -> _Payment:
        """The payment a scanned QR pays: by address (and XRP tag) or by Lightning invoice."""
        target, _, query = qr.partition("?")
        scheme, colon, rest = target.partition(":")
        target = rest if colon else target
        tag = parse_qs(query).get("dt", [None])[0]
        for payment in reversed(self._payments.values()):       # the newest first
            if payment.address.casefold() == target.casefold() and payment.tag in (None, tag):
                return payment
            if scheme.casefold() == "lightning" and payment.coin.lightning:
                current = payment.quote(now, self._rules)
                for quote in range(current, -1, -1):
                    if (payment.payreq(quote) or "").casefold() == target.casefold():
                        if quote < current:
                            raise PayRefused(410, "This Lightning invoice has expired; "
                                                  "scan the new QR code.")
                        return payment
        raise PayRefused(404, "No payment matches this QR code.")

    def _pay(self, p: _Payment, fields: Mapping[str, Any], now: float) -> str:
        """Record one transfer from the wallet; returns what the payer is told."""
        status = p.state(now, self._rules)
        if status == CANCELLED:
            raise PayRefused(410, "This payment was cancelled; nothing was sent.")
        if status == COMPLETED:
            raise PayRefused(409, "This payment is already complete.")
        quote = p.quote(now, self._rules)
        due = p.crypto(p.usd - _usd(p.transfers), quote)
        if due == 0:
            raise PayRefused(409, "Paid in full; waiting for confirmations.")
        amount = _amount_to_pay(p, fields, due, p.crypto(p.usd, quote))
        p.transfers.append(Transfer(amount, now, p.rate(quote)))
        p.spoofed = p.spoofed or form_flag(fields.get("spoof"))
        if p.settled is None and _usd(p.transfers) >= p.usd:
            p.settled = now
        return f"Sent {_fmt(amount)} {p.coin.asset}."

    def _cancel(self, p: _Payment, fields: Mapping[str, Any], now: float) -> str:
        status = p.state(now, self._rules)
        if status in (COMPLETED, CANCELLED):
            raise PayRefused(409, f"This payment is already {STATUS_WORDS[status]}.")
        p.cancelled = now
        return "Payment cancelled."

    def _summary(self, p: _Payment | None, message: str, now: float) -> dict[str, Any]:
        if p is None:
            return {"reference": None, "payment_status": None, "message": message}
        status, quote = p.state(now, self._rules), p.quote(now, self._rules)
        return {"reference": p.reference, "payment_code": p.code, "payment_status": status,
                "status": STATUS_WORDS[status], "asset": p.coin.asset,
                "payment_amount": _fmt(p.crypto(p.usd, quote)),
                "payment_missing_amount": _fmt(self._missing(p, now, quote)),
                "paid": _fmt(sum((t.amount for t in p.transfers), Decimal(0))),
                "message": message}

    def _wallet_page(self, mount: str, message: str, status_code: int) -> Response:
        now = self._clock()
        rows = "".join(self._wallet_row(mount, p, now) for p in reversed(self._payments.values())
                       if p.state(now, self._rules) in (CREATED, PARTIAL))
        return html_response(status_code, _PAGE.substitute(
            mount=mount, message=(f'<p class="message">{html.escape(message)}</p>'
                                  if message else ""),
            rows=rows or "<p>No open payments. Start a sale on the kiosk.</p>"))

    def _wallet_row(self, mount: str, p: _Payment, now: float) -> str:
        quote = p.quote(now, self._rules)
        pending = any(now < t.at + self._rules.confirm_s for t in p.transfers)
        state = "confirming" if pending else STATUS_WORDS[p.state(now, self._rules)]
        tag = f" &middot; destination tag <b>{p.tag}</b>" if p.tag else ""
        reference = html.escape(p.reference, quote=True)
        return (
            f'<div class="card"><h2>{html.escape(p.description)} &middot; '
            f'{_fmt(p.amount)} {p.settlement}</h2>'
            f'<p>Pay <b>{_fmt(self._missing(p, now, quote))} {p.coin.asset}</b> '
            f'({html.escape(p.coin.code)}) to <code>{p.address}</code>{tag}</p>'
            f'<p class="state">{state}</p>'
            f'<form method="post" action="{mount}/wallet/pay">'
            f'<input type="hidden" name="reference" value="{reference}">'
            '<input name="amount" inputmode="decimal" placeholder="amount (optional)">'
            '<button name="part" value="">Pay</button>'
            '<button name="part" value="half">Pay part</button>'
            '<button name="part" value="more">Pay more</button></form>'
            f'<form method="post" action="{mount}/wallet/cancel">'
            f'<input type="hidden" name="reference" value="{reference}">'
            '<button class="cancel">Cancel payment</button></form></div>')


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
    coin = _COIN_BY_REQUEST.get(key)
    if coin is None:
        raise ApiError(ASSET_REFUSED)
    return coin


def _amount_to_pay(p: _Payment, fields: Mapping[str, Any], due: Decimal,
                   quoted: Decimal) -> Decimal:
    """The wallet's transfer: ``amount`` as given, half the due, due plus 10 %, or the due."""
    given = fields.get("amount")
    if given not in (None, ""):
        amount = json_decimal(given)
        if amount is None or amount <= 0 or p.coin.units(amount, ROUND_DOWN) <= 0:
            raise PayRefused(400, "amount must be a positive number.")
        return p.coin.units(amount, ROUND_DOWN)
    part = fields.get("part")
    smallest = Decimal(1).scaleb(-p.coin.places)
    if part == "half":
        return max(p.coin.units(due / 2, ROUND_DOWN), smallest)
    if part == "more":
        return due + max(p.coin.units(quoted / 10, ROUND_DOWN), smallest)
    return due


_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WCT Pay sandbox wallet</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f3f5f9; color: #1c2330; }
  main { max-width: 30rem; margin: 0 auto; padding: 1.5rem 1rem; }
  .card { background: #fff; border-radius: 1rem; padding: 1rem; margin: 1rem 0;
          box-shadow: 0 2px 10px #0002; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
  code { word-break: break-all; } .state { color: #7a8599; }
  .message { padding: .6rem .8rem; border-radius: .6rem; background: #fff5d6; }
  input, textarea { width: 100%; box-sizing: border-box; font-size: 1rem; padding: .5rem;
                    margin: .3rem 0; }
  button { font-size: 1rem; padding: .5rem .8rem; margin: .2rem .2rem 0 0; border: 0;
           border-radius: .5rem; background: #3b5bfd; color: #fff; cursor: pointer; }
  button.cancel { background: #e3e8f4; color: #1c2330; }
</style></head>
<body><main>
<h1>WCT Pay sandbox wallet &middot; no real money</h1>
$message
<form class="card" method="post" action="$mount/wallet/pay">
  <label>Scanned QR text<textarea name="qr" rows="2"></textarea></label>
  <input name="amount" inputmode="decimal" placeholder="amount (optional)">
  <button>Pay</button>
</form>
$rows
<p><a href="$mount/wallet">Refresh</a></p>
</main></body></html>
""")
