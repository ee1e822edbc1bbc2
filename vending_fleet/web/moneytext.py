"""Amounts as text: in the currency's decimals where that changes no digit, else exactly as
stored (a CSV or a page must never round money)."""

from __future__ import annotations

from decimal import Decimal

from kiosk.money import MINOR_UNITS, format_amount


def money_text(amount: Decimal, currency: str) -> str:
    if currency.upper() in MINOR_UNITS:
        shown = format_amount(amount, currency)
        if Decimal(shown) == amount:
            return shown
    return f"{amount:f}"
