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

# The most digits an amount may have in minor units. Every money path then stays exact: a
# JSON number (a double in most gateways' parsers) holds integers up to 2**53 (15 full digits),
# SQLite's INTEGER is 64-bit, and Decimal's default context (28 digits) keeps ample headroom for
# quantize, scaleb and the sums of many sales.
MAX_MINOR_DIGITS = 15


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
    """Decimals that matter: ``2.50`` has 1. Counted on the digits themselves, because
    ``normalize()`` first rounds to the context's 28 digits and would hide a long tail."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite values only
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant:
        return 0
    return max(0, -(exponent + len(digits) - len(significant)))


def max_amount(currency: str) -> Decimal:
    """The largest amount every money path handles exactly: ``MAX_MINOR_DIGITS`` nines in minor
    units (USD: 9999999999999.99)."""
    return Decimal(10 ** MAX_MINOR_DIGITS - 1).scaleb(-minor_exponent(currency))


def price_problem(price: Decimal, shown: str, currency: str | None) -> str:
    """Why ``price`` cannot be an item's price in ``currency`` (None: not known yet), or "".
    ``shown`` is how the operator wrote it."""
    if price <= 0:
        return f"must be greater than zero, found {shown}"
    if price > max_amount(currency or "USD"):
        # Beyond it quantize, scaleb and the gateways' JSON numbers lose digits or fail.
        who = f"a {currency} price" if currency else "a price"
        return f"{shown} is too large: {who} goes up to {max_amount(currency or 'USD')}"
    if currency is not None and decimal_places(price) > MINOR_UNITS[currency]:
        allowed = MINOR_UNITS[currency]
        rule = "whole numbers" if allowed == 0 else f"at most {allowed} decimals"
        return f"{shown} has {decimal_places(price)} decimals but {currency} prices take {rule}"
    return ""


def to_minor(amount: Decimal, currency: str) -> int:
    """``Decimal("2.50"), "USD"`` -> ``250``; refuses amounts finer than the currency allows,
    and amounts beyond ``max_amount``, which ``scaleb`` would silently round."""
    exponent = minor_exponent(currency)
    if decimal_places(amount) > exponent:
        raise ValueError(f"{amount} has more than {exponent} decimals for {currency}")
    if abs(amount) > max_amount(currency):
        raise ValueError(f"{amount} is beyond the largest {currency} amount, "
                         f"{max_amount(currency)}")
    return int(amount.scaleb(exponent))


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_exponent(currency))


def format_amount(amount: Decimal, currency: str) -> str:
    """Fixed to the currency's decimals: ``Decimal("2.5"), "USD"`` -> ``"2.50"``."""
    exponent = minor_exponent(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-exponent)):f}"
