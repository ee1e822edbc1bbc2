"""MixPay's simulated terms: coins and quote assets, the API's errors, a validated create.

What ``POST /one_time_payment`` and ``GET /setting/payment_assets`` accept and refuse
(reference/gateways.md section 1), apart from the payments made under them
(``kiosk.sim.mixpay_state``) and the routes (``kiosk.sim.mixpay``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation
from typing import Any

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

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{6,36}")


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


def fmt(value: Decimal) -> str:
    return format(value, "f")


def q8(value: Decimal, rounding: str) -> Decimal:
    return value.quantize(EIGHT_PLACES, rounding=rounding)


class ApiError(Exception):
    """A request the simulated API refuses with its documented error envelope."""

    def __init__(self, code: int, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status


# -- validation of POST /one_time_payment -------------------------------------------------------

def param(message: str) -> ApiError:
    return ApiError(PARAMETER_ERROR, message)


def _string(fields: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise param(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise param(f"{name} must be a string")
    return value


def positive_amount(value: Any, name: str) -> Decimal:
    """A positive finite number given as a JSON number or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise param(f"{name} must be numeric")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as exc:
        raise param(f"{name} must be numeric") from exc
    if not amount.is_finite() or amount <= 0:
        raise param(f"{name} must be greater than 0")
    return amount


def checked_quote(quote_asset_id: str, amount: Decimal) -> tuple[str, Decimal]:
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
        raise param("expiredTimestamp must be an integer unix timestamp")
    if not now + MIN_LEAD_S < value < now + MAX_LEAD_S:
        raise param("expiredTimestamp must be more than 10 seconds and less than 2880 minutes "
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
        return q8(self.quote_usd / coin.usd_rate, ROUND_UP)

    @classmethod
    def parse(cls, fields: Mapping[str, Any], now: float) -> Terms:
        payee_id = _string(fields, "payeeId")
        settlement = _string(fields, "settlementAssetId")
        for name, value in (("payeeId", payee_id), ("settlementAssetId", settlement)):
            if not _UUID.fullmatch(value or ""):
                raise param(f"{name} must be a UUID")
        quote_amount = positive_amount(fields.get("quoteAmount"), "quoteAmount")
        quote_id, _ = checked_quote(_string(fields, "quoteAssetId") or "", quote_amount)
        trace_id = _string(fields, "traceId", required=False)
        order_id = _string(fields, "orderId", required=False)
        if trace_id is None and order_id is None:
            raise param("traceId or orderId is required")
        if trace_id is not None and not _UUID.fullmatch(trace_id):
            raise param("traceId must be a UUID")
        if order_id is not None and not _ORDER_ID.fullmatch(order_id):
            raise param("orderId must be 6-36 characters of A-Z, a-z, 0-9, _ and -")
        asset_id = _string(fields, "paymentAssetId", required=False)
        if asset_id is not None and asset_id not in COIN_BY_ID:
            raise param("paymentAssetId is not a supported payment asset")
        remark = _string(fields, "remark", required=False) or ""
        if len(remark) > REMARK_MAX:
            raise param(f"remark must be at most {REMARK_MAX} characters")
        return cls(payee_id or "", quote_amount, quote_id, settlement or "",
                   trace_id.lower() if trace_id else None, order_id,
                   _deadline(fields.get("expiredTimestamp"), now), asset_id, remark)


def asset_item(coin: Coin, quote_usd: Decimal | None) -> dict[str, Any]:
    """One ``payment_assets`` item; ``maxPaymentAmount`` "0" when the quote is out of its limits."""
    usable = quote_usd is None or coin.min_usd <= quote_usd <= MAX_QUOTE_USD
    chain_id, chain_symbol, chain_name = coin.chain
    most = q8(MAX_QUOTE_USD / coin.usd_rate, ROUND_DOWN)
    return {
        "name": coin.name, "symbol": coin.symbol, "iconUrl": "", "assetId": coin.asset_id,
        "network": coin.network, "onChainSupported": True,
        "minPaymentAmount": fmt(q8(coin.min_usd / coin.usd_rate, ROUND_UP)),
        "maxPaymentAmount": fmt(most) if usable else "0",
        "chainAsset": {"id": chain_id, "name": chain_name, "symbol": chain_symbol, "iconUrl": ""},
    }
