"""Reading form fields: each reader either returns a clean value or raises ``FormError`` naming
the field and what is wrong with it, which the page shows above the form it came from."""

from __future__ import annotations

from decimal import Decimal

from starlette.datastructures import FormData

from kiosk.money import MINOR_UNITS, parse_decimal, price_problem


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def text(form: FormData, field: str, *, required: bool = True, max_len: int = 200) -> str:
    value = form.get(field)
    if value is not None and not isinstance(value, str):
        raise FormError(field, "expected text, not a file")
    value = (value or "").strip()
    if required and not value:
        raise FormError(field, "is required")
    if len(value) > max_len:
        raise FormError(field, f"is too long ({len(value)} characters, at most {max_len})")
    return value


def choice(form: FormData, field: str, choices: tuple[str, ...]) -> str:
    value = text(form, field)
    if value not in choices:
        raise FormError(field, f"must be one of {', '.join(choices)}, not {value!r}")
    return value


def price(form: FormData, field: str, currency: str | None) -> Decimal:
    """A price as the kiosk will accept it (``kiosk.money.price_problem``: positive, not too
    large, no more decimals than the currency has)."""
    shown = text(form, field, max_len=40)
    try:
        value = parse_decimal(shown)
    except ValueError:
        raise FormError(field, f"{shown!r} is not a decimal amount like 2.50") from None
    known = currency.upper() if currency and currency.upper() in MINOR_UNITS else None
    problem = price_problem(value, shown, known)
    if problem:
        raise FormError(field, problem)
    return value


def integer(form: FormData, field: str, low: int, high: int) -> int:
    shown = text(form, field, max_len=20)
    try:
        value = int(shown)
    except ValueError:
        raise FormError(field, f"{shown!r} is not a whole number") from None
    if value < low:
        raise FormError(field, f"must not be negative, found {value}" if low == 0
                        else f"must be at least {low}, found {value}")
    if value > high:
        raise FormError(field, f"must be at most {high}, found {value}")
    return value


def flag(form: FormData, field: str) -> bool:
    """A checkbox or a yes/no choice: absent or false-like is False."""
    value = text(form, field, required=False, max_len=10).lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise FormError(field, f"must be true or false, not {value!r}")

