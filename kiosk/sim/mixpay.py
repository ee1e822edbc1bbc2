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

import html
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation
from importlib import resources
from string import Template
from typing import Any

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

PARAMETER_ERROR = 10011
BODY_ERROR = 1017
QUOTE_NOT_SUPPORTED = 10003
AMOUNT_TOO_HIGH = 10006
TRACE_NOT_FOUND = 40022
RATE_LIMITED = 1429
MAX_QUOTE_USD = Decimal(1000)          # "amount exceeds 1000 USDT"
MIN_LEAD_S, MAX_LEAD_S = 10, 2880 * 60
REMARK_MAX = 50
EIGHT_PLACES = Decimal("0.00000001")
SPOOF_PAYEE_ID = "0badc0de-0000-4000-8000-5b00f0000000"   # who a spoofed success names as payee

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{6,36}")
_PAGE = Template(resources.files("kiosk.sim").joinpath("checkout.html")
                 .read_text("utf-8"))


@dataclass(frozen=True)
class Coin:
    """A payment asset with a demo USD rate and per-payment USD limits."""

    symbol: str
    name: str
    network: str
    asset_id: str
    version: str                        # "ERC20" / "TRC20" for tokens, as paymentAssetVersion
    usd_rate: Decimal
    min_usd: Decimal
    chain: tuple[str, str, str]         # chainAsset id, symbol, name


_BTC = ("c6d0c728-2624-429b-8e0d-d9d19b6592fa", "BTC", "Bitcoin")
_ETH = ("43d61dcd-e413-450d-80b8-101d5e903357", "ETH", "Ether")
_TRX = ("25dabac5-056a-48ff-b9f9-f67395dc407c", "TRX", "TRON")
_LTC = ("76c802a2-7c88-447f-a93e-c29c9e5dd9c8", "LTC", "Litecoin")
_DOGE = ("6770a1e5-6086-44d5-b60f-545f9d9e8ffd", "DOGE", "Dogecoin")
COINS: tuple[Coin, ...] = (   # real asset ids (reference table 1.3), made-up rates
    Coin("BTC", "Bitcoin", "Bitcoin", _BTC[0], "", Decimal(60000), Decimal(1), _BTC),
    Coin("ETH", "Ether", "Ethereum", _ETH[0], "", Decimal(3000), Decimal("0.5"), _ETH),
    Coin("USDT", "Tether USD", "Ethereum", "4d8c508b-91c5-375b-92b0-ee702ed2dac5", "ERC20",
         Decimal(1), Decimal(5), _ETH),
    Coin("USDT", "Tether USD", "Tron", "b91e18ff-a9ae-3dc7-8679-e935d9a4b34b", "TRC20",
         Decimal(1), Decimal(1), _TRX),
    Coin("LTC", "Litecoin", "Litecoin", _LTC[0], "", Decimal(80), Decimal("0.5"), _LTC),
    Coin("DOGE", "Dogecoin", "Dogecoin", _DOGE[0], "", Decimal("0.15"), Decimal(1), _DOGE),
)
COIN_BY_ID = {coin.asset_id: coin for coin in COINS}
QUOTES: Mapping[str, tuple[str, Decimal]] = {        # quoteAssetId -> (symbol, USD value)
    "usd": ("USD", Decimal(1)), "eur": ("EUR", Decimal("1.08")), "gbp": ("GBP", Decimal("1.27")),
}


def _fmt(value: Decimal) -> str:
    return format(value, "f")


def _q8(value: Decimal, rounding: str) -> Decimal:
    return value.quantize(EIGHT_PLACES, rounding=rounding)


class ApiError(Exception):
    """A request the simulated API refuses with its documented error envelope."""

    def __init__(self, code: int, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status


class PayRefused(Exception):
    """The checkout refuses a payment (unknown code, deadline passed, already paid, bad amount)."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status, self.message = http_status, message


# -- validation of POST /one_time_payment -------------------------------------------------------

def _param(message: str) -> ApiError:
    return ApiError(PARAMETER_ERROR, message)


def _string(fields: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise _param(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise _param(f"{name} must be a string")
    return value


def _amount(value: Any, name: str) -> Decimal:
    """A positive finite number given as a JSON number or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _param(f"{name} must be numeric")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as exc:
        raise _param(f"{name} must be numeric") from exc
    if not amount.is_finite() or amount <= 0:
        raise _param(f"{name} must be greater than 0")
    return amount


def _quote(quote_asset_id: str, amount: Decimal) -> tuple[str, Decimal]:
    """The quote asset id (lower case) and the amount's USD value; refuses what MixPay refuses."""
    quote_id = quote_asset_id.lower()
    if quote_id not in QUOTES:
        raise ApiError(QUOTE_NOT_SUPPORTED, "Quote asset not supported")
    usd = amount * QUOTES[quote_id][1]
    if usd > MAX_QUOTE_USD:
        raise ApiError(AMOUNT_TOO_HIGH, "Amount exceeds 1000 USDT")
    return quote_id, usd


def _deadline(value: Any, now: float) -> int | None:
    if value is None or value == "":
        return None                           # the docs allow an open-ended payment
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _param("expiredTimestamp must be an integer unix timestamp")
    if not now + MIN_LEAD_S < value < now + MAX_LEAD_S:
        raise _param("expiredTimestamp must be more than 10 seconds and less than 2880 minutes "
                     "in the future")
    return value


@dataclass(frozen=True)
class Terms:
    """A validated one-time payment request; equal terms make a repeated create idempotent."""

    payee_id: str
    quote_amount: Decimal
    quote_asset_id: str
    settlement_asset_id: str
    trace_id: str | None
    order_id: str | None
    expired_at: int | None
    payment_asset_id: str | None
    remark: str

    @property
    def quote_usd(self) -> Decimal:
        return self.quote_amount * QUOTES[self.quote_asset_id][1]

    def payable_in(self, coin: Coin) -> Decimal:
        """The crypto amount due in ``coin``, rounded up: never less than the quote is worth."""
        return _q8(self.quote_usd / coin.usd_rate, ROUND_UP)

    @classmethod
    def parse(cls, fields: Mapping[str, Any], now: float) -> Terms:
        payee_id = _string(fields, "payeeId")
        settlement = _string(fields, "settlementAssetId")
        for name, value in (("payeeId", payee_id), ("settlementAssetId", settlement)):
            if not _UUID.fullmatch(value or ""):
                raise _param(f"{name} must be a UUID")
        quote_amount = _amount(fields.get("quoteAmount"), "quoteAmount")
        quote_id, _ = _quote(_string(fields, "quoteAssetId") or "", quote_amount)
        trace_id = _string(fields, "traceId", required=False)
        order_id = _string(fields, "orderId", required=False)
        if trace_id is None and order_id is None:
            raise _param("traceId or orderId is required")
        if trace_id is not None and not _UUID.fullmatch(trace_id):
            raise _param("traceId must be a UUID")
        if order_id is not None and not _ORDER_ID.fullmatch(order_id):
            raise _param("orderId must be 6-36 characters of A-Z, a-z, 0-9, _ and -")
        asset_id = _string(fields, "paymentAssetId", required=False)
        if asset_id is not None and asset_id not in COIN_BY_ID:
            raise _param("paymentAssetId is not a supported payment asset")
        remark = _string(fields, "remark", required=False) or ""
        if len(remark) > REMARK_MAX:
            raise _param(f"remark must be at most {REMARK_MAX} characters")
        return cls(payee_id or "", quote_amount, quote_id, settlement or "",
                   trace_id.lower() if trace_id else None, order_id,
                   _deadline(fields.get("expiredTimestamp"), now), asset_id, remark)


# -- payment state --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Transfer:
    amount: Decimal
    at: float
    txid: str


@dataclass
class _Payment:
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


_STATUS_WORDS = {
    "unpaid": "Waiting for payment",
    "confirming": "Payment seen, confirming on the network…",
    "paid_less": "Part paid: please pay the rest",
    "success": "Paid. Thank you!",
}


class MixPaySimulator:
    """Owns the simulated MixPay payments; ``handle`` serves one request below ``/mixpay``."""

    def __init__(self, *, confirm_s: float = 2.0, requests_per_minute: int = 60,
                 clock: Callable[[], float] = time.time) -> None:
        self._confirm_s = confirm_s
        self._clock = clock
        self._lock = threading.Lock()
        self._window = RateWindow(requests_per_minute)
        self._payments: dict[str, _Payment] = {}
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
                raise _param("traceId or orderId already used with other parameters")
            return {"code": existing.code}           # idempotent: same request, same code
        code = terms.trace_id or str(uuid.uuid4())    # the code is the traceId when one is given
        coin = COIN_BY_ID.get(terms.payment_asset_id or "")
        self._payments[code] = _Payment(code, terms, now, coin)
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
            raise _param("traceId, or orderId and payeeId, is required")
        payment = self._payments.get(code or "")
        if payment is None:
            raise ApiError(TRACE_NOT_FOUND, "Trace id does not exist", http_status=404)
        return self._result_data(payment, now)

    def _assets(self, request: Request, now: float) -> list[dict[str, Any]]:
        quote_id, quote_amount = request.query.get("quoteAssetId"), request.query.get("quoteAmount")
        if bool(quote_id) != bool(quote_amount):
            raise _param("quoteAssetId and quoteAmount must be given together")
        usd = _quote(quote_id, _amount(quote_amount, "quoteAmount"))[1] if quote_id else None
        return [_asset_item(coin, usd) for coin in COINS]

    # -- checkout -------------------------------------------------------------------------------

    def _serve_page(self, request: Request, code: str) -> Response:
        with self._lock:
            payment = self._payments.get(code)
            if payment is None:
                return html_response(404, "<h1>404</h1><p>Payment link does not exist.</p>")
            return self._page(payment, request.mount, "", 200)

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
                message, status_code = self._pay(payment, fields, self._clock()), 200
            except PayRefused as exc:
                message, status_code = exc.message, exc.http_status
            if request.wants_json:
                return json_response(status_code, self._pay_summary(code, payment, message))
            if payment is None:
                return html_response(status_code, f"<h1>{status_code}</h1><p>{message}</p>")
            return self._page(payment, request.mount, message, status_code)

    def _pay(self, payment: _Payment, fields: Mapping[str, Any], now: float) -> str:
        """Record one transfer from the checkout; returns what the payer is told."""
        status, _, _ = payment.state(now, self._confirm_s)
        deadline = payment.terms.expired_at
        if status == "failed" or (deadline is not None and now >= deadline):
            raise PayRefused(410, "This payment has expired; nothing was charged.")
        if status == "success":
            raise PayRefused(409, "This payment is already complete.")
        chosen = fields.get("assetId") or None
        coin = payment.coin
        if coin is None:       # the first payment picks the coin (default: the first one listed)
            coin = COIN_BY_ID.get(chosen) if isinstance(chosen, str) else COINS[0]
            if coin is None:
                raise PayRefused(400, "Unknown assetId.")
        elif chosen is not None and chosen != coin.asset_id:
            raise PayRefused(409, f"This payment is in {coin.symbol}.")
        due = max(payment.terms.payable_in(coin) - payment.paid, Decimal(0))
        if due == 0:
            raise PayRefused(409, "Paid in full; waiting for confirmations.")
        amount = self._pay_amount(fields, due)
        payment.coin = coin
        payment.transfers.append(Transfer(amount, now, uuid.uuid4().hex))
        payment.spoofed = payment.spoofed or form_flag(fields.get("spoof"))
        return f"Sent {_fmt(amount)} {coin.symbol}."

    @staticmethod
    def _pay_amount(fields: Mapping[str, Any], due: Decimal) -> Decimal:
        given = fields.get("amount")
        if given not in (None, ""):
            try:
                return _q8(_amount(given, "amount"), ROUND_DOWN)
            except ApiError as exc:
                raise PayRefused(400, exc.message) from exc
        if fields.get("part") == "half":
            return max(_q8(due / 2, ROUND_DOWN), EIGHT_PLACES)
        return due

    def _pay_summary(self, code: str, payment: _Payment | None, message: str) -> dict[str, Any]:
        if payment is None:
            return {"code": code, "status": None, "message": message}
        status, failure_code, _ = payment.state(self._clock(), self._confirm_s)
        payable = payment.payable
        return {"code": code, "status": status, "failureCode": failure_code,
                "paidAmount": _fmt(payment.paid),
                "payableAmount": _fmt(payable) if payable is not None else "",
                "paymentSymbol": payment.coin.symbol if payment.coin else "", "message": message}

    def _page(self, payment: _Payment, mount: str, message: str, status_code: int) -> Response:
        now = self._clock()
        status, _, reason = payment.state(now, self._confirm_s)
        terms = payment.terms
        page = f"{mount}/code/{payment.code}"
        due = payment.due
        coin = payment.coin
        can_pay = status not in ("success", "failed") and (due is None or due > 0)
        return html_response(status_code, _PAGE.substitute(
            refresh=(f'<meta http-equiv="refresh" content="2;url={page}">'
                     if status == "confirming" else ""),
            remark=html.escape(terms.remark or "Payment"),
            quote=f"{_fmt(terms.quote_amount)} {QUOTES[terms.quote_asset_id][0]}",
            due=(f'<p class="due">Pay <b>{_fmt(due)} {html.escape(coin.symbol)}</b> '
                 f'({html.escape(coin.network)})</p>' if coin and due else ""),
            status_class=status,
            status=html.escape(_STATUS_WORDS.get(status, f"Failed: {reason}")),
            message=f'<div class="message">{html.escape(message)}</div>' if message else "",
            form=_pay_form(page, payment, can_pay),
            page=page,
        ))

    # -- payments_result ------------------------------------------------------------------------

    def _result_data(self, payment: _Payment, now: float) -> dict[str, Any]:
        """The documented ``payments_result`` data: every amount a string, failureCode a string."""
        status, failure_code, failure_reason = payment.state(now, self._confirm_s)
        terms, payable = payment.terms, payment.payable
        symbol, asset_id, version = _coin_ids(payment.coin)
        settle = COIN_BY_ID.get(terms.settlement_asset_id)
        settle_amount = _q8(terms.quote_usd / settle.usd_rate, ROUND_DOWN) if settle else Decimal(0)
        surplus = payment.surplus(status)
        last = payment.transfers[-1] if payment.transfers else None
        spoofed = payment.spoofed and status == "success"
        payee_id = SPOOF_PAYEE_ID if spoofed else terms.payee_id
        return {
            "status": status,
            "quoteAmount": _fmt(terms.quote_amount),
            "quoteSymbol": QUOTES[terms.quote_asset_id][0],
            "quoteAssetId": terms.quote_asset_id, "quoteAssetVersion": "",
            "paymentAmount": _fmt(payment.paid), "paymentSymbol": symbol,
            "paymentAssetId": asset_id, "paymentAssetVersion": version,
            "payee": "Sandbox Vending", "payeeId": payee_id,
            "payeeMixinNumber": "", "payeeAvatarUrl": "",
            "txid": last.txid if last else "", "blockExplorerUrl": "",
            "date": int(payment.created_at),
            "surplusAmount": _fmt(surplus), "surplusStatus": "pending" if surplus > 0 else "no",
            "confirmations": 0 if status == "confirming" else -1,
            "payableAmount": _fmt(payable if payable is not None else Decimal(0)),
            "payableSymbol": symbol, "payableAssetId": asset_id, "payableAssetVersion": version,
            "failureCode": failure_code, "failureReason": failure_reason,
            "returnTo": "", "traceId": payment.code, "orderId": terms.order_id or "",
            "expiredAt": terms.expired_at or 0,
            "settleStatus": "success" if status == "success" else "pending",
            "settleAmount": _fmt(settle_amount),
            "settleSymbol": _coin_ids(settle)[0], "settleAsset": terms.settlement_asset_id,
            "settleAssetVersion": _coin_ids(settle)[2],
            "transactions": [{
                "paymentAmount": _fmt(t.amount), "paymentAssetId": asset_id,
                "paymentAssetSymbol": symbol, "paymentAssetVersion": version,
                "requiredConfirms": 1,
                "confirmations": 0 if now < t.at + self._confirm_s else 1,
                "txid": t.txid, "blockExplorerUrl": "",
                "broadcastAt": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t.at)),
                "confirmSeconds": int(self._confirm_s),
            } for t in payment.transfers],
            "payment": {"isMultiPay": len(payment.transfers) > 1,
                        "isFullyPaid": payable is not None and payment.paid >= payable,
                        "totalTransactionsAmount": _fmt(payment.paid)},
        }


def _coin_ids(coin: Coin | None) -> tuple[str, str, str]:
    """(symbol, assetId, version) as the result shows them; empty until a coin is chosen."""
    return (coin.symbol, coin.asset_id, coin.version) if coin else ("", "", "")


def _asset_item(coin: Coin, quote_usd: Decimal | None) -> dict[str, Any]:
    """One ``payment_assets`` item; ``maxPaymentAmount`` "0" when the quote is out of its limits."""
    usable = quote_usd is None or coin.min_usd <= quote_usd <= MAX_QUOTE_USD
    chain_id, chain_symbol, chain_name = coin.chain
    most = _q8(MAX_QUOTE_USD / coin.usd_rate, ROUND_DOWN)
    return {
        "name": coin.name, "symbol": coin.symbol, "iconUrl": "", "assetId": coin.asset_id,
        "network": coin.network, "onChainSupported": True,
        "minPaymentAmount": _fmt(_q8(coin.min_usd / coin.usd_rate, ROUND_UP)),
        "maxPaymentAmount": _fmt(most) if usable else "0",
        "chainAsset": {"id": chain_id, "name": chain_name, "symbol": chain_symbol, "iconUrl": ""},
    }


def _pay_form(page: str, payment: _Payment, can_pay: bool) -> str:
    """The Pay form: a coin selector until a coin is fixed, an optional amount, Pay / Pay part."""
    if not can_pay:
        return ""
    terms = payment.terms
    coin_control = ""
    if payment.coin is None:
        options = "".join(
            f'<option value="{c.asset_id}">{html.escape(c.symbol)} ({html.escape(c.network)}) '
            f'&middot; {_fmt(terms.payable_in(c))}</option>'
            for c in COINS if c.min_usd <= terms.quote_usd)
        coin_control = f'<label>Coin<select name="assetId">{options}</select></label>'
    return (f'<form method="post" action="{page}/pay">{coin_control}'
            '<label>Amount (optional, default: all that is due)'
            '<input name="amount" inputmode="decimal" autocomplete="off"></label>'
            '<button class="pay" type="submit">Pay</button>'
            '<button class="part" type="submit" name="part" value="half">Pay part</button>'
            '</form>')
