from decimal import Decimal

import pytest

from kiosk.money import format_amount, from_minor, parse_decimal, to_minor


def test_minor_units_round_trip() -> None:
    assert to_minor(Decimal("2.50"), "USD") == 250
    assert to_minor(Decimal("300"), "JPY") == 300
    assert from_minor(250, "USD") == Decimal("2.50")
    assert to_minor(Decimal("1.234"), "KWD") == 1234


def test_finer_than_the_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="more than 2 decimals"):
        to_minor(Decimal("2.505"), "USD")
    with pytest.raises(ValueError):
        to_minor(Decimal("1.5"), "JPY")


def test_format_pads_to_the_currency() -> None:
    assert format_amount(Decimal("2.5"), "USD") == "2.50"
    assert format_amount(Decimal("300"), "JPY") == "300"


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", ""])
def test_parse_refuses_non_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_decimal(text)
