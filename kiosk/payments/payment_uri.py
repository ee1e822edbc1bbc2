"""What a payment QR encodes, built from a deposit address and an amount. Gateway-neutral.

Gateways that hand out an address instead of a hosted page (WCT Pay) leave the QR to us::

    bitcoin:<address>?amount=0.00039304     BTC (BIP21); LTC litecoin:, DOGE dogecoin:,
                                            BCH bitcoincash:
    lightning:LNBC393040N1PS...             whenever a BOLT11 invoice is given (any coin)
    <address>?dt=<tag>                      XRP: the destination tag rides in the QR as well
    <address>                               everything else (ETH, USDT, TRX, SOL, XLM, EOS ...)

A memo or destination tag is always returned separately as well (``PaymentUri.memo``) so the
screen can show it in text: most wallets drop it from a scanned address, and a payment without
it cannot be matched to the order. Symbols may carry a network suffix (``USDT-TRC20``); only the
part before the hyphen chooses the format. Amounts are written from ``Decimal`` in plain
notation, never with an exponent and never through a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

BIP21_SCHEMES = {"BTC": "bitcoin", "LTC": "litecoin", "DOGE": "dogecoin", "BCH": "bitcoincash"}
TAG_PARAMETERS = {"XRP": "dt"}      # coins whose numeric tag goes into the QR, and its name
MAX_PLACES = 18                     # ETH's 18 decimals is the finest unit a wallet takes
MAX_INTEGER_DIGITS = 15             # anything larger is a broken reply, not a price
MAX_MEMO = 256                      # EOS memos; XLM and XRP are shorter
LIGHTNING = "lightning:"

_ADDRESS = re.compile(r"[A-Za-z0-9._-]{1,128}")          # base58, bech32, hex, EOS names
_BOLT11 = re.compile(r"ln[a-z0-9]{2,}1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{6,7000}")
_TAG = re.compile(r"[0-9]{1,10}")


class UnusableTarget(ValueError):
    """A part of the payment target cannot go into a QR; ``part`` names it, never its value."""

    def __init__(self, part: str, problem: str) -> None:
        super().__init__(f"{part} {problem}")
        self.part = part                # "address" | "amount" | "payreq" | "memo"


@dataclass(frozen=True)
class PaymentUri:
    """The QR content and the memo / destination tag to show beside it in text."""

    content: str
    memo: str | None = None


def coin_of(symbol: str) -> str:
    """``"usdt-trc20"`` -> ``"USDT"``: the coin, without the network suffix."""
    return symbol.partition("-")[0].strip().upper()


def plain_decimal(amount: Decimal) -> str:
    """``Decimal("1E-8")`` -> ``"0.00000001"``; trailing zeros dropped, never an exponent."""
    if not amount.is_finite() or amount <= 0:
        raise UnusableTarget("amount", "must be a positive finite number")
    # Bounded before formatting (1E+999999 would be a million digits) and done on the text,
    # since normalize() rounds to the context's 28 digits.
    if not -MAX_PLACES <= amount.adjusted() < MAX_INTEGER_DIGITS:
        raise UnusableTarget("amount", "is out of any coin's range")
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if len(text.partition(".")[2]) > MAX_PLACES:
        raise UnusableTarget("amount", f"has more than {MAX_PLACES} decimals")
    return text


def invoice_in(content: str) -> str | None:
    """The BOLT11 invoice a ``lightning:`` QR carries, else None."""
    return content[len(LIGHTNING):] if content.lower().startswith(LIGHTNING) else None


def payment_uri(symbol: str, address: str, amount: Decimal | None = None, *,
                payreq: str | None = None, memo: str | None = None) -> PaymentUri:
    """The QR content for paying ``amount`` of ``symbol`` to ``address`` (see the module doc).

    Raises ``UnusableTarget`` for anything a wallet could misread: an address with URI syntax
    in it, an amount with an exponent-sized scale, a malformed invoice or tag.
    """
    memo = _checked_memo(memo)
    if payreq:
        return PaymentUri(LIGHTNING + _checked_invoice(payreq).upper(), memo)
    coin = coin_of(symbol)
    scheme = BIP21_SCHEMES.get(coin)
    address = _checked_address(address, scheme)
    if scheme is not None:
        query = "" if amount is None else f"?amount={plain_decimal(amount)}"
        return PaymentUri(f"{scheme}:{address}{query}", memo)
    parameter = TAG_PARAMETERS.get(coin)
    if parameter is not None and memo is not None:
        if not _TAG.fullmatch(memo) or int(memo) >= 2**32:
            raise UnusableTarget("memo", "is not a destination tag (0 to 4294967295)")
        return PaymentUri(f"{address}?{parameter}={memo}", memo)
    return PaymentUri(address, memo)


def _checked_address(address: str, scheme: str | None) -> str:
    address = address.strip()
    # Cash-address style replies may already carry the scheme ("bitcoincash:qp...").
    if scheme is not None and address.lower().startswith(f"{scheme}:"):
        address = address[len(scheme) + 1:]
    if not _ADDRESS.fullmatch(address):
        raise UnusableTarget("address", "is empty, too long or has characters no address has")
    return address


def _checked_invoice(payreq: str) -> str:
    invoice = payreq.strip()
    if invoice.lower().startswith(LIGHTNING):
        invoice = invoice[len(LIGHTNING):]
    # bech32 is case-insensitive but never mixed-case.
    if invoice not in (invoice.lower(), invoice.upper()) or not _BOLT11.fullmatch(invoice.lower()):
        raise UnusableTarget("payreq", "is not a BOLT11 invoice")
    return invoice


def _checked_memo(memo: str | None) -> str | None:
    if memo is None or memo.strip() == "":
        return None
    memo = memo.strip()
    if len(memo) > MAX_MEMO or not memo.isprintable():
        raise UnusableTarget("memo", f"is longer than {MAX_MEMO} characters or not printable")
    return memo
