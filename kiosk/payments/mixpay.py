"""MixPay client: one-time payment links, polled by ``traceId``, verified before PAID.

Follows the public API (reference/gateways.md section 1): ``POST /one_time_payment`` creates a
hosted checkout (``<checkout_base>/code/<code>``), ``GET /payments_result`` is polled (a kiosk
behind NAT cannot take callbacks) and ``GET /setting/payment_assets`` lists coins. MixPay needs
no credentials; money is routed by ``payeeId`` alone, so a ``success`` reply only becomes PAID
after payee, amount, quote asset and trace id match the order. MixPay has no cancel or refund
call: an abandoned payment is watched until its ``expiredTimestamp`` passes.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from kiosk.errors import GatewayProtocolError, GatewayRejected
from kiosk.payments.base import (
    Asset,
    Gateway,
    Order,
    PaymentRequest,
    PaymentState,
    PaymentStatus,
)
from kiosk.payments.http import GatewayHttp, JsonReply, json_decimal
from kiosk.payments.ratelimit import RateLimiter

ASSET_CACHE_S = 300.0              # coin lists rarely change and the 60/min budget is precious
MIN_LEAD_S = 10                    # expiredTimestamp must be more than 10 s ...
MAX_LEAD_S = 2880 * 60             # ... and less than 2880 minutes in the future
REMARK_MAX = 50
RATE_LIMITED_CODE = "1429"

_UNDERWAY = frozenset({"confirming", "pending", "processing"})   # newer docs: pending != success
_EXPIRED_CODES = frozenset({"40000", "40024"})                    # deadline passed (un/under-paid)
_CANCELLED_CODES = frozenset({"40032"})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _usable_asset(item: Any) -> Asset | None:
    """The coin in one ``payment_assets`` item, if it can pay this amount; None otherwise."""
    if not isinstance(item, dict):
        return None
    symbol, name = _text(item.get("symbol")), _text(item.get("name"))
    asset_id = _text(item.get("assetId"))
    low = json_decimal(item.get("minPaymentAmount"))
    high = json_decimal(item.get("maxPaymentAmount"))
    # maxPaymentAmount 0 is MixPay's way of saying "not usable for this quote amount".
    if not (symbol and asset_id) or low is None or high is None or high <= 0 or low > high:
        return None
    return Asset(symbol=symbol, name=name or symbol, network=_text(item.get("network")),
                 asset_id=asset_id)


class MixPayGateway(Gateway):
    """The production MixPay client. Every call may block on the network: not on the UI thread."""

    name = "mixpay"
    can_cancel = False
    can_refund = False

    def __init__(
        self,
        *,
        payee_id: str,
        settlement_asset_id: str,
        quote_asset_id: str = "usd",
        api_base: str = "https://api.mixpay.me/v1",
        checkout_base: str = "https://mixpay.me",
        asset_allow_list: Sequence[str] = (),
        # MixPay allows 60 a minute per address; a tenth is left for whatever else shares it
        # (a phone on the kiosk's network) and for their window not starting with ours.
        requests_per_minute: int = 54,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._payee_id = payee_id
        self._settlement_asset_id = settlement_asset_id
        self._quote_asset_id = quote_asset_id
        self._checkout_base = checkout_base.rstrip("/")
        self._allow_list = [symbol.casefold() for symbol in asset_allow_list]
        self._clock = clock
        self._http = GatewayHttp(
            self.name, api_base,
            limiter=limiter or RateLimiter(requests_per_minute, name=self.name),
            transport=transport, timeout=timeout, clock=clock,
        )
        self._cache_lock = threading.Lock()
        self._asset_cache: dict[Decimal, tuple[float, list[Asset]]] = {}

    # -- Gateway interface ---------------------------------------------------------------

    def list_assets(self, amount: Decimal, currency: str) -> list[Asset]:
        self._check_currency(currency)
        # Keyed by amount alone (quoteAssetId is fixed per client); Decimal("2.5") and
        # Decimal("2.50") hash alike, so they share an entry.
        now = self._clock()
        with self._cache_lock:
            self._asset_cache = {k: v for k, v in self._asset_cache.items()
                                 if 0 <= now - v[0] < ASSET_CACHE_S}
            if amount in self._asset_cache:
                return list(self._asset_cache[amount][1])
        assets = self._fetch_assets(amount)
        with self._cache_lock:
            self._asset_cache[amount] = (now, assets)
        return list(assets)

    def check_reachable(self, amount: Decimal, currency: str) -> str:
        """The coin list, fetched now (never the cache): proves the gateway answers today."""
        self._check_currency(currency)
        return f"{len(self._fetch_assets(amount))} coin(s) offered for {amount} {currency}"

    def _fetch_assets(self, amount: Decimal) -> list[Asset]:
        reply = self._http.get("/setting/payment_assets", {
            "payeeId": self._payee_id,
            "quoteAssetId": self._quote_asset_id,
            "quoteAmount": format(amount, "f"),
        })
        data = self._unwrap(reply)
        if not isinstance(data, list):
            raise GatewayProtocolError(f"{reply.where}: data is not a list")
        return self._allowed([a for a in map(_usable_asset, data) if a is not None])

    def create(self, order: Order) -> PaymentRequest:
        self._check_currency(order.currency)
        lead = order.expires_at - self._clock()
        if not MIN_LEAD_S < lead < MAX_LEAD_S:
            raise GatewayRejected(
                f"mixpay POST /one_time_payment: expiredTimestamp must be more than {MIN_LEAD_S} s "
                f"and less than {MAX_LEAD_S // 60} min ahead, not {lead:.0f} s", code="local")
        body: dict[str, Any] = {
            "payeeId": self._payee_id,
            "quoteAmount": format(order.amount, "f"),
            "quoteAssetId": self._quote_asset_id,
            "settlementAssetId": self._settlement_asset_id,
            "traceId": order.tx_id,
            "expiredTimestamp": int(order.expires_at),
            "remark": order.item_name[:REMARK_MAX],
        }
        if order.asset is not None:
            body["paymentAssetId"] = order.asset.asset_id
        reply = self._http.post_json("/one_time_payment", body)
        data = self._unwrap(reply)
        code = data.get("code") if isinstance(data, dict) else None
        if not isinstance(code, str) or not code:
            raise GatewayProtocolError(f"{reply.where}: data.code is missing or not a string")
        # Poll by our traceId; the link carries MixPay's code (the same value in practice).
        return self._request(order, code)

    def request_for(self, order: Order) -> PaymentRequest:
        """Results are looked up by our traceId, so a lost create reply loses nothing."""
        return self._request(order, order.tx_id)

    def _request(self, order: Order, code: str) -> PaymentRequest:
        return PaymentRequest(payment_id=order.tx_id,
                              link=f"{self._checkout_base}/code/{quote(code, safe='')}",
                              expires_at=order.expires_at)

    def status(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        reply = self._http.get("/payments_result", {"traceId": order.tx_id})
        data = self._unwrap(reply)
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise GatewayProtocolError(f"{reply.where}: data.status is missing or not a string")
        return self._interpret(data, order, reply.where)

    def close(self) -> None:
        self._http.close()

    # -- helpers -------------------------------------------------------------------------

    def _check_currency(self, currency: str) -> None:
        """A fiat quote asset must be the order's currency, or the customer pays the wrong sum."""
        quote_id = self._quote_asset_id
        if re.fullmatch(r"[A-Za-z]{3}", quote_id) and quote_id.casefold() != currency.casefold():
            raise GatewayRejected(f"mixpay: orders in {currency} cannot be quoted in {quote_id}",
                                  code="local")

    def _allowed(self, assets: list[Asset]) -> list[Asset]:
        """Only allow-listed symbols, in the allow-list's order (the operator's preference)."""
        if not self._allow_list:
            return assets
        return [a for symbol in self._allow_list for a in assets if a.symbol.casefold() == symbol]

    def _unwrap(self, reply: JsonReply) -> Any:
        """``data`` from a ``{code, success, message, data}`` envelope, or the matching error."""
        body = reply.body
        success = body.get("success")
        if not isinstance(success, bool):
            raise GatewayProtocolError(f"{reply.where}: envelope has no boolean 'success'")
        if not success:
            code = str(body.get("code", ""))
            if code == RATE_LIMITED_CODE:
                raise self._http.rate_limited(reply.where, reply.headers)
            message = _text(body.get("message"))[:200]
            raise GatewayRejected(f"{reply.where}: rejected, code {code}: {message}", code=code)
        if "data" not in body:
            raise GatewayProtocolError(f"{reply.where}: envelope has no 'data'")
        return body["data"]

    def _interpret(self, data: dict[str, Any], order: Order, where: str) -> PaymentStatus:
        raw = data["status"]
        seen: dict[str, Any] = {
            "raw_status": raw,
            "paid_amount": json_decimal(data.get("paymentAmount")),
            "paid_symbol": _text(data.get("paymentSymbol")) or None,
        }
        if raw == "success":
            problem = self._verification_problem(data, order)
            if problem:
                return PaymentStatus(PaymentState.UNVERIFIED,
                                     reason=f"verification failed: {problem}",
                                     **seen)
            return PaymentStatus(PaymentState.PAID, **seen)
        if raw == "unpaid":
            return PaymentStatus(PaymentState.AWAITING, **seen)
        if raw == "paid_less" or (raw == "pending" and _legacy_underpaid(data)):
            return PaymentStatus(PaymentState.UNDERPAID, remaining=_remaining(data, where), **seen)
        if raw in _UNDERWAY:
            return PaymentStatus(PaymentState.CONFIRMING, **seen)
        if raw == "auditing":
            return PaymentStatus(PaymentState.UNDER_REVIEW, **seen)
        if raw == "failed":
            return _failure(data, seen)
        # Docs: an unknown status is not success. Keep watching, never vend.
        return PaymentStatus(PaymentState.CONFIRMING, reason=f"unknown status {raw!r}", **seen)

    def _verification_problem(self, data: dict[str, Any], order: Order) -> str | None:
        """The first field of a ``success`` reply that does not match the order, if any."""
        # UUIDs and asset ids compare case-insensitively: same id, different spelling.
        expected = {"payeeId": self._payee_id, "quoteAssetId": self._quote_asset_id,
                    "traceId": order.tx_id}
        for field, want in expected.items():
            got = data.get(field)
            if not isinstance(got, str):
                return f"{field} missing or not a string"
            if got.casefold() != want.casefold():
                return f"{field} mismatch"
        amount = json_decimal(data.get("quoteAmount"))
        if amount is None:
            return "quoteAmount missing or not a number"
        if amount != order.amount:             # as decimals: "2.500" equals "2.50"
            return "quoteAmount mismatch"
        return None


def _legacy_underpaid(data: dict[str, Any]) -> bool:
    """Older deployments report an underpayment as ``pending`` + multi-pay + not fully paid."""
    payment = data.get("payment")
    return (isinstance(payment, dict) and payment.get("isMultiPay") is True
            and payment.get("isFullyPaid") is False)


def _remaining(data: dict[str, Any], where: str) -> Decimal:
    payable = json_decimal(data.get("payableAmount"))
    paid = json_decimal(data.get("paymentAmount"))
    if payable is None or paid is None:
        raise GatewayProtocolError(
            f"{where}: underpaid without numeric payableAmount and paymentAmount")
    return max(payable - paid, Decimal(0))


def _failure(data: dict[str, Any], seen: dict[str, Any]) -> PaymentStatus:
    code = data.get("failureCode")
    code_text = str(code) if isinstance(code, (str, int)) and not isinstance(code, bool) else ""
    reason = f"{code_text} {_text(data.get('failureReason'))}".strip()
    if code_text in _EXPIRED_CODES:
        state = PaymentState.EXPIRED
    elif code_text in _CANCELLED_CODES:
        state = PaymentState.CANCELLED
    else:
        state = PaymentState.FAILED
    return PaymentStatus(state, reason=reason, **seen)
