"""The QR content built from an address and an amount: BIP21, Lightning, plain, XRP tags."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.payments.payment_uri import (
    PaymentUri,
    UnusableTarget,
    coin_of,
    invoice_in,
    payment_uri,
    plain_decimal,
)

BTC_ADDRESS = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"
LTC_ADDRESS = "ltc1qg82tlk2xnk4hw2spvyzu6j8e7vd6aedr4dw5ug"
DOGE_ADDRESS = "DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L"
ETH_ADDRESS = "0x62ba1ef84aac42c6b34d8c03b83f5951ccce29b9"
TRX_ADDRESS = "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"
XRP_ADDRESS = "rEb8TK3gBgk5auZkwc6sHnwrGVJH8DuaLh"
INVOICE = "lntb393040n1ps670qqpp5fxsgm7qy0cvpxqk6az3tnv9h0rn3xp9y8cuzqqyqs5yqjykp4y3qdq"


@pytest.mark.parametrize(("symbol", "address", "amount", "content"), [
    ("BTC", BTC_ADDRESS, Decimal("0.00039304"), f"bitcoin:{BTC_ADDRESS}?amount=0.00039304"),
    ("LTC", LTC_ADDRESS, Decimal("0.03125"), f"litecoin:{LTC_ADDRESS}?amount=0.03125"),
    ("DOGE", DOGE_ADDRESS, Decimal("16.66666667"), f"dogecoin:{DOGE_ADDRESS}?amount=16.66666667"),
    ("BCH", "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", Decimal("0.01"),
     "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a?amount=0.01"),
    ("btc", BTC_ADDRESS, Decimal("1E-8"), f"bitcoin:{BTC_ADDRESS}?amount=0.00000001"),
    ("BTC", BTC_ADDRESS, Decimal("0.00100000"), f"bitcoin:{BTC_ADDRESS}?amount=0.001"),
    ("BTC", BTC_ADDRESS, None, f"bitcoin:{BTC_ADDRESS}"),
])
def test_bitcoin_family_coins_get_a_bip21_uri(symbol: str, address: str,
                                              amount: Decimal | None, content: str) -> None:
    assert payment_uri(symbol, address, amount) == PaymentUri(content)


def test_a_cash_address_that_already_carries_its_scheme_is_not_doubled() -> None:
    uri = payment_uri("BCH", "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
                      Decimal("0.5"))
    assert uri.content == "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a?amount=0.5"


@pytest.mark.parametrize("payreq", [INVOICE, INVOICE.upper(), f"lightning:{INVOICE}"])
def test_an_invoice_wins_and_is_upper_cased_for_a_denser_qr(payreq: str) -> None:
    uri = payment_uri("BTC", BTC_ADDRESS, Decimal("0.00039304"), payreq=payreq)
    assert uri == PaymentUri(f"lightning:{INVOICE.upper()}")
    assert invoice_in(uri.content) == INVOICE.upper()


@pytest.mark.parametrize("payreq", ["lnbc1", "bitcoin:abc", INVOICE[:20] + "B" + INVOICE[21:],
                                    INVOICE + "o"])
def test_a_malformed_invoice_is_refused(payreq: str) -> None:
    with pytest.raises(UnusableTarget) as caught:
        payment_uri("BTC", BTC_ADDRESS, Decimal("0.001"), payreq=payreq)
    assert caught.value.part == "payreq"


@pytest.mark.parametrize(("symbol", "address"), [
    ("ETH", ETH_ADDRESS), ("TRX", TRX_ADDRESS), ("USDT-TRC20", TRX_ADDRESS),
    ("USDT-ERC20", ETH_ADDRESS), ("SOL", "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"),
])
def test_other_coins_get_the_plain_address(symbol: str, address: str) -> None:
    assert payment_uri(symbol, address, Decimal("2.5")) == PaymentUri(address)


def test_xrp_carries_its_destination_tag_in_the_qr_and_beside_it() -> None:
    assert payment_uri("XRP", XRP_ADDRESS, Decimal("5"), memo="100004") == PaymentUri(
        f"{XRP_ADDRESS}?dt=100004", memo="100004")
    assert payment_uri("XRP", XRP_ADDRESS, Decimal("5")) == PaymentUri(XRP_ADDRESS)


@pytest.mark.parametrize("tag", ["abc", "4294967296", "-1", "1.5"])
def test_an_xrp_tag_must_be_a_32_bit_number(tag: str) -> None:
    with pytest.raises(UnusableTarget) as caught:
        payment_uri("XRP", XRP_ADDRESS, Decimal("5"), memo=tag)
    assert caught.value.part == "memo"


@pytest.mark.parametrize(("symbol", "address", "memo"), [
    ("XLM", "GAHK7EEG2WWHVKDNT4CEQFZGKF2LGDSW2IVM4S5DP42RBW3K6BTODB4A", "1234567"),
    ("EOS", "binancecleos", "order 42"),
])
def test_xlm_and_eos_memos_are_returned_beside_a_plain_address(symbol: str, address: str,
                                                              memo: str) -> None:
    assert payment_uri(symbol, address, Decimal("3"), memo=f" {memo} ") == PaymentUri(address,
                                                                                      memo)


@pytest.mark.parametrize("memo", ["x" * 257, "line\nbreak"])
def test_unprintable_or_huge_memos_are_refused(memo: str) -> None:
    with pytest.raises(UnusableTarget, match="memo"):
        payment_uri("XLM", "GAHK7EEG2WWHVKDNT4CEQFZGKF2LGDSW2IVM4S5DP42RBW3K6BTODB4A",
                    memo=memo)


@pytest.mark.parametrize(("symbol", "address"), [
    ("BTC", ""), ("BTC", "   "), ("BTC", f"{BTC_ADDRESS}?amount=9"), ("BTC", "bc1q&x"),
    ("ETH", "0x a"), ("ETH", "0x" + "a" * 128), ("ETH", "ethereum:0xabc"),
    ("LTC", f"bitcoin:{BTC_ADDRESS}"),       # only a coin's own scheme is taken off
])
def test_addresses_with_uri_syntax_in_them_are_refused(symbol: str, address: str) -> None:
    with pytest.raises(UnusableTarget) as caught:
        payment_uri(symbol, address, Decimal("1"))
    assert caught.value.part == "address" and str(caught.value).startswith("address ")


@pytest.mark.parametrize(("amount", "text"), [
    (Decimal("0.00039304"), "0.00039304"), (Decimal("1E-8"), "0.00000001"),
    (Decimal("2.50"), "2.5"), (Decimal("1E+2"), "100"), (Decimal("100"), "100"),
    (Decimal("0.000000000000000001"), "0.000000000000000001"),
    (Decimal("123456789012345.123456789012345678"), "123456789012345.123456789012345678"),
])
def test_amounts_are_plain_decimals_without_exponent(amount: Decimal, text: str) -> None:
    assert plain_decimal(amount) == text


@pytest.mark.parametrize("amount", [Decimal(0), Decimal("-1"), Decimal("NaN"),
                                    Decimal("Infinity"), Decimal("1E-19"), Decimal("1E+15"),
                                    Decimal("1E+999999"), Decimal("1.0000000000000000001")])
def test_amounts_no_wallet_could_take_are_refused(amount: Decimal) -> None:
    with pytest.raises(UnusableTarget) as caught:
        plain_decimal(amount)
    assert caught.value.part == "amount"


@given(st.decimals(min_value=Decimal("1E-18"), max_value=Decimal("999999999999999"),
                   places=18, allow_nan=False, allow_infinity=False))
def test_every_formatted_amount_reads_back_as_the_same_number(amount: Decimal) -> None:
    text = plain_decimal(amount)
    assert "E" not in text.upper() and Decimal(text) == amount
    assert not text.endswith("0") or "." not in text


def test_network_suffixes_do_not_change_the_coin() -> None:
    assert [coin_of(s) for s in ("usdt-trc20", "BTC", " eth ")] == ["USDT", "BTC", "ETH"]
    assert invoice_in(f"bitcoin:{BTC_ADDRESS}") is None
