"""Reading WCT Pay's replies: the envelope, the quote a QR is drawn from, the status, verified.

Pure functions of the reply, the order and the request (plus the clock, for a quote's expiry):
no network here. ``kiosk.payments.wctpay`` (the client) makes the calls and hands the replies
over; its module doc says which of WCT's fields are undocumented and how they are read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kiosk.errors import GatewayProtocolError, GatewayRejected
from kiosk.payments.base import Order, PaymentRequest, PaymentState, PaymentStatus
from kiosk.payments.http import JsonReply, json_decimal
from kiosk.payments.payment_uri import UnusableTarget, invoice_in, payment_uri, plain_decimal
from kiosk.payments.wctpay_coins import WctCoin

DEFAULT_MEMO_FIELDS = ("payment_memo", "payment_tag", "destination_tag", "memo")

CREATED, PARTIAL, COMPLETED, CANCELLED = 0, 2, 3, 4
NO_STATUS = -1                      # the reply carries no status at all
_STATUS_WORDS = {"created": CREATED, "partial": PARTIAL, "completed": COMPLETED,
                 "cancelled": CANCELLED, "canceled": CANCELLED}


@dataclass(frozen=True)
class WctReplies:
    """Reads one terminal's replies.

    :param scrub: removes the terminal's key and secret from WCT's own text.
    :param memo_fields: reply fields that may carry a destination tag or memo, first wins.
    :param clock: the wall clock (seconds), against which a quote's ``expires_at`` is read.
    """

    scrub: Callable[[str], str]
    memo_fields: Sequence[str]
    clock: Callable[[], float]

    def payment(self, reply: JsonReply) -> dict[str, Any]:
        """The payment fields of an ``ok`` reply, flat or nested under ``payment`` (Cliq).

        Nested, the payment's own ``status`` (its text form) is kept; flat, ``status`` is only
        the envelope's ``ok`` and is dropped.
        """
        body = reply.body
        status = body.get("status")
        if status == "nok":
            text = next((v for v in (body.get("error"), body.get("message"))
                         if isinstance(v, str) and v), "no reason given")
            raise GatewayRejected(f"{reply.where}: refused: {self.scrub(text)}", code="nok")
        if status != "ok":
            raise GatewayProtocolError(f'{reply.where}: status is neither "ok" nor "nok"')
        payment = {k: v for k, v in body.items() if k not in ("status", "payment")}
        if "payment" in body:
            nested = body["payment"]
            if not isinstance(nested, dict):
                raise GatewayProtocolError(f"{reply.where}: payment is not an object")
            payment |= nested
        return payment

    def quote(self, order: Order, coin: WctCoin, payment: dict[str, Any], where: str,
              previous: PaymentRequest | None) -> PaymentRequest | None:
        """The request the reply's quote describes (None without address and amount).

        ``previous`` (on a status) fills in what a getupdate may leave out: memo and invoice.
        """
        address = _string(payment, "payment_address", where)
        amount = _number(payment, "payment_amount", where)
        if address is None or amount is None:
            return None
        symbol = _string(payment, "payment_amount_asset", where)
        # Required in a create reply (it names the coin the QR is for), checked when present.
        wrong = symbol is not None and symbol.casefold() != coin.asset.casefold()
        if wrong or (symbol is None and previous is None):
            raise GatewayProtocolError(
                f"{where}: payment_amount_asset is missing or not the requested {coin.asset}")
        # The coin decides how it is paid: an invoice WCT adds to an on-chain coin is not shown.
        payreq = _string(payment, "payment_payreq", where) if coin.lightning else None
        memo = self._memo(payment, where)
        if previous is not None:
            memo = memo or previous.memo
            # A getupdate may omit the invoice: the old one still pays the unchanged amount.
            if coin.lightning and payreq is None and amount == previous.crypto_amount:
                payreq = invoice_in(previous.link)
        if coin.lightning and payreq is None:
            raise GatewayProtocolError(
                f"{where}: payment_payreq is missing: {coin.entry} pays by Lightning")
        try:
            plain_decimal(amount)                      # positive and sane even for a plain QR
            uri = payment_uri(coin.asset, address, amount, payreq=payreq, memo=memo)
        except UnusableTarget as exc:
            field_name = {"address": "payment_address", "amount": "payment_amount",
                          "payreq": "payment_payreq", "memo": "the memo field"}[exc.part]
            raise GatewayProtocolError(f"{where}: {field_name} cannot go into a QR") from exc
        code = _string(payment, "payment_code", where)
        return PaymentRequest(
            payment_id=order.tx_id, link=uri.content, expires_at=order.expires_at,
            crypto_amount=amount, crypto_symbol=coin.asset,
            reference=code or (previous.reference if previous else None), memo=uri.memo)

    def _memo(self, payment: dict[str, Any], where: str) -> str | None:
        for name in self.memo_fields:
            value = payment.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)                      # XRP tags may come as numbers
            if value is not None:
                return _string(payment, name, where)
        return None

    def status(self, order: Order, request: PaymentRequest, coin: WctCoin,
               payment: dict[str, Any], where: str) -> PaymentStatus:
        """What a getupdate's payment says, PAID only if it matches the order."""
        code, raw = self._status_code(payment)
        amount = _number(payment, "payment_amount", where)
        missing = _number(payment, "payment_missing_amount", where)
        overpaid = json_decimal(payment.get("overpaid_amount"))
        seen: dict[str, Any] = {"raw_status": raw, "paid_symbol": coin.asset,
                                "paid_amount": _paid(amount, missing, overpaid)}
        if code == COMPLETED:
            problem = _verification_problem(payment, order, request, coin, missing)
            if problem:
                return PaymentStatus(PaymentState.UNVERIFIED,
                                     reason=f"verification failed: {problem}", **seen)
            return PaymentStatus(PaymentState.PAID, **seen)
        if code == CANCELLED:
            return PaymentStatus(PaymentState.CANCELLED, reason="cancelled at WCT Pay", **seen)
        state, reason = _open_state(code, payment, amount, missing, where)
        if state is PaymentState.UNDERPAID:
            seen["remaining"] = missing
        new_quote = self.quote(order, coin, payment, where, previous=request)
        if new_quote is not None and _shown(new_quote) == _shown(request):
            new_quote = None                           # same QR, amount and memo: no redraw
        if new_quote is None and self._quote_expired(payment):
            reason = reason or "quote expired; waiting for WCT's new price"
        return PaymentStatus(state, reason=reason, request=new_quote, **seen)

    def _status_code(self, payment: dict[str, Any]) -> tuple[int | None, str]:
        """(0, 2, 3, 4 or NO_STATUS; None if unknown or conflicting) and the raw words."""
        values = [v for v in (payment.get("payment_status"), payment.get("status"))
                  if v is not None]
        raw = self.scrub(" ".join(str(v) for v in values))
        codes = {_code(v) for v in values}
        if not codes:
            return NO_STATUS, raw
        return (codes.pop() if len(codes) == 1 else None), raw

    def _quote_expired(self, payment: dict[str, Any]) -> bool:
        expires_at = json_decimal(payment.get("expires_at"))
        return expires_at is not None and expires_at <= self.clock()


def _open_state(code: int | None, payment: dict[str, Any], amount: Decimal | None,
                missing: Decimal | None, where: str) -> tuple[PaymentState, str]:
    """The state of a payment that is neither completed nor cancelled, and why."""
    if code is None:                                   # unknown or conflicting: never paid
        return PaymentState.CONFIRMING, "unknown WCT Pay status"
    if _unconfirmed(payment):
        return PaymentState.CONFIRMING, ""
    if code == PARTIAL:
        if missing is None:
            raise GatewayProtocolError(f"{where}: partial without payment_missing_amount")
        if missing <= 0:                               # paid up, not yet marked completed
            return PaymentState.CONFIRMING, ""
        return PaymentState.UNDERPAID, ""
    if code == CREATED or missing is None or amount is None or missing >= amount:
        return PaymentState.AWAITING, ""
    # No status at all (as in WCT's own example): judge by the amounts, never PAID.
    if missing > 0:
        return PaymentState.UNDERPAID, ""
    return PaymentState.CONFIRMING, "paid in full, waiting for WCT to complete it"


def _verification_problem(payment: dict[str, Any], order: Order, request: PaymentRequest,
                          coin: WctCoin, missing: Decimal | None) -> str | None:
    """The first field of a completed payment that does not match the order, if any."""
    for name in ("reference", "payment_reference"):
        if payment.get(name) not in (None, order.tx_id):         # null reads as absent
            return f"{name} mismatch"
    code = payment.get("payment_code")
    if request.reference and code is not None and code != request.reference:
        return "payment_code mismatch"
    if missing is None:
        return "payment_missing_amount missing"
    if missing > 0:
        return "payment_missing_amount is not 0"
    symbol = payment.get("payment_amount_asset")
    if symbol is not None and (not isinstance(symbol, str)
                               or symbol.casefold() != coin.asset.casefold()):
        return "payment_amount_asset mismatch"
    return None


def _string(payment: dict[str, Any], name: str, where: str) -> str | None:
    value = payment.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise GatewayProtocolError(f"{where}: {name} is not a string")
    return value


def _number(payment: dict[str, Any], name: str, where: str) -> Decimal | None:
    value = payment.get(name)
    if value is None or value == "":
        return None
    number = json_decimal(value)
    if number is None:
        raise GatewayProtocolError(f"{where}: {name} is not a number")
    return number


def _shown(request: PaymentRequest) -> tuple[str, Decimal | None, str | None]:
    """What the payer sees of a request: a change in any of it means redrawing the QR."""
    return request.link, request.crypto_amount, request.memo


def _code(value: Any) -> int | None:
    """``3``, ``"3"`` or ``"completed"`` -> 3; anything else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value in _STATUS_WORDS.values() else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word.isdigit() and len(word) < 4:
            return _code(int(word))
        return _STATUS_WORDS.get(word)
    return None


def _unconfirmed(payment: dict[str, Any]) -> bool:
    """Does the reply say a transaction is seen but not yet confirmed?"""
    for name in ("confirmations", "block_confirmations"):
        count = payment.get(name)
        if not isinstance(count, bool) and count in (0, "0"):
            return True
    pending = json_decimal(payment.get("unconfirmed_amount"))
    return pending is not None and pending > 0


def _paid(amount: Decimal | None, missing: Decimal | None,
          overpaid: Decimal | None) -> Decimal | None:
    """What has been paid, valued in the current quote; None if nothing or not told."""
    if amount is None or missing is None:
        return None
    try:
        paid = amount - missing + (overpaid if overpaid is not None and overpaid > 0 else 0)
    except ArithmeticError:                            # absurd exponents: not worth a crash
        return None
    return paid if paid > 0 else None
