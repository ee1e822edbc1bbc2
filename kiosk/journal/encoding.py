"""How the journal writes values: UTC stamps, JSON details, decimal amounts, assets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

from kiosk.errors import JournalError
from kiosk.money import MINOR_UNITS, decimal_places, format_amount
from kiosk.payments.base import Asset, PaymentRequest


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(detail: Mapping[str, Any]) -> str:
    return json.dumps(dict(detail), default=json_default, ensure_ascii=False,
                      separators=(",", ":"))


def amount_text(amount: Decimal, currency: str) -> str:
    """``Decimal("2.5"), "USD"`` -> ``"2.50"``; never rounds, never accepts a float."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise JournalError(f"amount {amount!r} is not a finite Decimal")
    exponent = MINOR_UNITS.get(currency.upper())
    if exponent is not None and decimal_places(amount) <= exponent:
        return format_amount(amount, currency)
    return f"{amount:f}"


def asset_json(asset: Asset | None) -> str | None:
    if asset is None:
        return None
    return dumps({"symbol": asset.symbol, "name": asset.name, "network": asset.network,
                   "asset_id": asset.asset_id})


def asset_from_json(text: str | None) -> Asset | None:
    if text is None:
        return None
    data = json.loads(text)
    return Asset(symbol=data["symbol"], name=data["name"], network=data["network"],
                 asset_id=data["asset_id"])


def request_detail(request: PaymentRequest) -> dict[str, Any]:
    detail = {"payment_id": request.payment_id, "link": request.link,
              "expires_at": request.expires_at, "crypto_amount": request.crypto_amount,
              "crypto_symbol": request.crypto_symbol, "reference": request.reference,
              "memo": request.memo}
    if request.rate is not None:     # only a converting gateway (LNbits) states a rate
        detail["rate"] = request.rate
    return detail


def optional_decimal(text: object) -> Decimal | None:
    return None if text is None else Decimal(str(text))

