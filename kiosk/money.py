"""Money as ``Decimal`` and integer minor units. A float never holds an amount."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents for the currencies a kiosk is likely to price in.
MINOR_UNITS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SGD": 2,
    "HKD": 2, "AED": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "MXN": 2,
    "BRL": 2, "ZAR": 2, "INR": 2, "CNY": 2, "TRY": 2, "JPY": 0, "KRW": 0, "VND": 0,
    "KWD": 3, "BHD": 3,
}


def minor_exponent(currency: str) -> int:
    """Decimal places of ``currency``; raises ``KeyError`` for a currency we do not know."""
    return MINOR_UNITS[currency.upper()]


def parse_decimal(text: str) -> Decimal:
    """A finite decimal from text such as ``"2.50"``; raises ``ValueError`` otherwise."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise ValueError(f"{text!r} is not a number") from exc
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return value


def decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only
    return max(0, -exponent)


def to_minor(amount: Decimal, currency: str) -> int:
    """``Decimal("2.50"), "USD"`` -> ``250``; refuses amounts finer than the currency allows."""
    exponent = minor_exponent(currency)
    if decimal_places(amount) > exponent:
        raise ValueError(f"{amount} has more than {exponent} decimals for {currency}")
    return int(amount.scaleb(exponent))


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_exponent(currency))


def format_amount(amount: Decimal, currency: str) -> str:
    """Fixed to the currency's decimals: ``Decimal("2.5"), "USD"`` -> ``"2.50"``."""
    exponent = minor_exponent(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-exponent)):f}"
