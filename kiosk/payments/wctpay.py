"""WCT Pay client: point-of-sale payments polled by our reference, verified before PAID.

Follows reference/gateways.md section 2. ``POST payment-pos/post`` creates a payment and answers
with a deposit address and a crypto amount valid until the quote expires; the kiosk builds the
QR itself (``kiosk.payments.payment_uri``). ``POST payment-pos/getupdate`` is polled by our
``reference`` (the order's tx id) and is also WCT's documented "price update request": after a
quote expires it returns the new amount (and maybe address), which this client hands back as
``PaymentStatus.request`` so the kiosk redraws the QR for the same order.

Authentication is in the body: ``key`` plus ``hash`` = MD5 hex of ``key + asset + amount +
api_secret`` (create) or ``key + reference + api_secret`` (getupdate). The key and the secret
never appear in an exception, a status, a log line or ``repr``: any text WCT sends back is
scrubbed of them first.

Coins (``assets``): WCT has no coin-list endpoint, so the operator's allow-list is the offer, in
its order. Notation: ``<COIN>`` or ``<COIN>-<NETWORK>``, e.g. ``BTC``, ``XRP``, ``USDT-TRC20``,
``USDT-ERC20``. A network suffix is sent verbatim as ``requested_asset_network`` (WCT requires it
for Tether; its exact spelling is not in the docs, so write what WCT onboarding says), and the
entry itself is the ``Asset.asset_id``. WCT needs a coin for every payment, so the wallet cannot
pick one (``wallet_picks_coin``): an order without one (``choose_asset = false``) is paid in the
first configured coin.

Bitcoin comes two ways, and the coin button says which: ``BTC-LN`` pays by Lightning (the QR is
the BOLT11 invoice WCT returns with a BTC payment; a reply without one is a protocol error) and
``BTC`` pays on-chain (the QR is the BIP21 address, even when WCT adds an invoice). The ``LN``
suffix is the kiosk's own: WCT is asked for plain ``BTC`` either way.

Unknown in WCT's public docs, so configurable or handled defensively here:

- the content type: JSON by default, ``form_encoded=True`` posts a form (nested
  ``cart_items`` as ``cart_items[0][item_name]``, the PHP/qs convention);
- the field carrying an XRP destination tag / XLM or EOS memo: the first of ``memo_fields``;
- the unconfirmed state: ``confirmations`` / ``block_confirmations`` 0 or a positive
  ``unconfirmed_amount`` on a created or partial payment reads as CONFIRMING;
- a getupdate without any status (the documented example has none): judged from the amounts,
  never PAID;
- refunds and cancellation: none via API (``can_refund``/``can_cancel`` are False).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from kiosk.errors import GatewayProtocolError, GatewayRejected
from kiosk.payments.base import (
    Asset,
    Gateway,
    Order,
    PaymentRequest,
    PaymentState,
    PaymentStatus,
)
from kiosk.payments.http import GatewayHttp, JsonReply, json_decimal
from kiosk.payments.payment_uri import UnusableTarget, invoice_in, payment_uri, plain_decimal
from kiosk.payments.ratelimit import RateLimiter

CREATE_PATH = "/payment-pos/post"
UPDATE_PATH = "/payment-pos/getupdate"
DEFAULT_MEMO_FIELDS = ("payment_memo", "payment_tag", "destination_tag", "memo")
TEXT_MAX = 200                      # how much of WCT's own error text goes into a message

CREATED, PARTIAL, COMPLETED, CANCELLED = 0, 2, 3, 4
NO_STATUS = -1                      # the reply carries no status at all
_STATUS_WORDS = {"created": CREATED, "partial": PARTIAL, "completed": COMPLETED,
                 "cancelled": CANCELLED, "canceled": CANCELLED}
_ENTRY = re.compile(r"[A-Z0-9]{1,16}(-[A-Z0-9]{1,16})?")
_NAMES = {   # display names only; an unknown coin shows its symbol
    # Bitcoin is named by how it pays: a Lightning wallet cannot pay an address, nor the reverse.
    "BTC": ("Bitcoin", "Bitcoin (on-chain)"), "LTC": ("Litecoin", "Litecoin"),
    "DOGE": ("Dogecoin", "Dogecoin"), "BCH": ("Bitcoin Cash", "Bitcoin Cash"),
    "ETH": ("Ether", "Ethereum"), "XRP": ("XRP", "XRP Ledger"), "XLM": ("Stellar", "Stellar"),
    "SOL": ("Solana", "Solana"), "TRX": ("TRON", "Tron"), "USDT": ("Tether USD", "Ethereum"),
    "USDC": ("USD Coin", "Ethereum"),
}
LIGHTNING = "LN"                    # the network suffix of Bitcoin paid by Lightning: "BTC-LN"
_NETWORKS = {"TRC20": "Tron", "ERC20": "Ethereum", "BEP20": "BNB Smart Chain", "SPL": "Solana",
             "POLYGON": "Polygon"}


@dataclass(frozen=True)
class _Coin:
    """One allow-list entry: ``USDT-TRC20`` -> requested_asset USDT, network TRC20."""

    entry: str
    asset: str
    network: str | None

    @classmethod
    def parse(cls, entry: str) -> _Coin:
        entry = entry.strip().upper()
        if not _ENTRY.fullmatch(entry):
            raise ValueError(f"wctpay: {entry!r} is not a coin such as BTC or USDT-TRC20")
        asset, _, network = entry.partition("-")
        if network == LIGHTNING and asset != "BTC":
            raise ValueError(f"wctpay: {entry!r}: only BTC pays by Lightning (BTC-LN)")
        return cls(entry, asset, network or None)

    @property
    def lightning(self) -> bool:
        return self.network == LIGHTNING

    @property
    def requested_network(self) -> str | None:
        """What WCT is told in ``requested_asset_network``: Lightning is not a WCT network."""
        return None if self.lightning else self.network

    def as_asset(self) -> Asset:
        name, network = _NAMES.get(self.asset, (self.asset, self.asset))
        if self.lightning:
            network = "Lightning"
        elif self.network is not None:
            network = _NETWORKS.get(self.network, self.network)
        return Asset(symbol=self.asset, name=name, network=network, asset_id=self.entry)


@dataclass(frozen=True)
class _Credentials:
    """The terminal's key and secret: they sign requests and are scrubbed from WCT's text."""

    key: str = field(repr=False)
    secret: str = field(repr=False)

    def sign(self, *parts: str) -> str:
        return hashlib.md5((self.key + "".join(parts) + self.secret).encode()).hexdigest()

    def scrub(self, text: str) -> str:
        for secret in (self.key, self.secret):
            if secret:
                text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
        return text[:TEXT_MAX]


class WctPayGateway(Gateway):
    """The production WCT Pay client. Every call may block on the network: not on the UI thread.

    :param api_base: the API root WCT gives at onboarding (paths ``payment-pos/...`` below it).
    :param settlement_asset: what WCT credits (``asset``); must be the machine's currency.
    :param assets: the coins offered, in order (see the module doc for the notation).
    :param form_encoded: post forms instead of JSON (WCT's content type is undocumented).
    :param memo_fields: reply fields that may carry a destination tag or memo, first wins.
    """

    name = "wctpay"
    can_cancel = False
    can_refund = False              # WCT's refund API is undocumented: failed vends get a claim
    offers_asset_choice = True
    wallet_picks_coin = False       # every payment names its coin: no "any coin" button
    poll_interval_s = 2.0

    def __init__(
        self,
        *,
        api_base: str,
        key: str,
        api_secret: str,
        settlement_asset: str = "USD",
        assets: Sequence[str],
        requests_per_minute: int = 54,   # WCT publishes no limit: MixPay's, with its headroom
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
        form_encoded: bool = False,
        memo_fields: Sequence[str] = DEFAULT_MEMO_FIELDS,
    ) -> None:
        coins = {coin.entry: coin for coin in map(_Coin.parse, assets)}   # dedupe, keep order
        if not coins:
            raise ValueError("wctpay: assets must name at least one coin (WCT has no coin list)")
        self._coins = list(coins.values())
        self._api_base = api_base
        self._settlement = settlement_asset.strip().upper()
        self._credentials = _Credentials(key, api_secret)
        self._form_encoded = form_encoded
        self._memo_fields = tuple(memo_fields)
        self._clock = clock
        self._http = GatewayHttp(
            self.name, api_base,
            limiter=limiter or RateLimiter(requests_per_minute, name=self.name),
            transport=transport, timeout=timeout, clock=clock,
        )

    def __repr__(self) -> str:
        return (f"WctPayGateway(api_base={self._api_base!r}, "
                f"settlement_asset={self._settlement!r}, "
                f"assets={[coin.entry for coin in self._coins]!r})")

    # -- Gateway interface ---------------------------------------------------------------

    def list_assets(self, amount: Decimal, currency: str) -> list[Asset]:
        """The configured coins; no network call (WCT has no coin list or quote endpoint)."""
        self._check_currency(currency)
        return [coin.as_asset() for coin in self._coins]

    def create(self, order: Order) -> PaymentRequest:
        """Create the POS payment; the QR is built from the address, amount and invoice."""
        self._check_currency(order.currency)
        coin = self._coin_for(order)
        amount = format(order.amount, "f")
        body: dict[str, Any] = {"asset": self._settlement, "requested_asset": coin.asset}
        if coin.requested_network is not None:
            body["requested_asset_network"] = coin.requested_network
        body |= {
            "amount": amount,
            "description": order.item_name,
            "reference": order.tx_id,
            "cart_items": [{"item_name": order.item_name, "item_desc": order.item_name,
                            "item_quantity": 1, "unit_price": amount}],
            "key": self._credentials.key,
            # The very strings sent: the hash covers "2.50", not "2.5".
            "hash": self._credentials.sign(self._settlement, amount),
        }
        reply = self._post(CREATE_PATH, body)
        request = self._quote(order, coin, self._payment(reply), reply.where, previous=None)
        if request is None:
            raise GatewayProtocolError(
                f"{reply.where}: payment_address or payment_amount is missing")
        return request

    def check_reachable(self, amount: Decimal, currency: str) -> str:
        """WCT's "verify credentials" call (``validate``, hash = MD5 of the API secret)."""
        secret_hash = hashlib.md5(self._credentials.secret.encode()).hexdigest()
        reply = self._post("validate", {"key": self._credentials.key, "hash": secret_hash})
        self._payment(reply)  # raises GatewayRejected on "nok", GatewayProtocolError on junk
        return f"credentials accepted; {len(self.list_assets(amount, currency))} coin(s) set up"

    def request_for(self, order: Order) -> PaymentRequest:
        """getupdate works by our reference, so a lost create reply loses nothing.

        The QR is unknown until the first status, which returns it as a re-quote.
        """
        return PaymentRequest(payment_id=order.tx_id, link="", expires_at=order.expires_at)

    def status(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        reply = self._post(UPDATE_PATH, {"reference": order.tx_id, "key": self._credentials.key,
                                         "hash": self._credentials.sign(order.tx_id)})
        return self._interpret(order, request, self._payment(reply), reply.where)

    def close(self) -> None:
        self._http.close()

    # -- requests ------------------------------------------------------------------------

    def _check_currency(self, currency: str) -> None:
        """``amount`` is in the settlement asset, so prices must be in it too."""
        if currency.strip().upper() != self._settlement:
            raise GatewayRejected(f"wctpay: orders in {currency} cannot be paid in "
                                  f"{self._settlement} (the settlement asset)", code="local")

    def _coin_for(self, order: Order, *, offered: bool = True) -> _Coin:
        """The order's coin; ``offered=False`` (polling) also accepts one no longer configured,
        so a payment made before the operator changed the list is still judged."""
        if order.asset is None:
            return self._coins[0]
        for coin in self._coins:
            if coin.entry == order.asset.asset_id.strip().upper():
                return coin
        if not offered:
            with contextlib.suppress(ValueError):
                return _Coin.parse(order.asset.asset_id)
        raise GatewayRejected(f"wctpay: {order.asset.asset_id} is not an offered coin",
                              code="local")

    def _post(self, path: str, body: Mapping[str, Any]) -> JsonReply:
        if self._form_encoded:
            return self._http.post_form(path, dict(_form_fields(body)))
        return self._http.post_json(path, body)

    def _payment(self, reply: JsonReply) -> dict[str, Any]:
        """The payment fields of an ``ok`` reply, flat or nested under ``payment`` (Cliq).

        Nested, the payment's own ``status`` (its text form) is kept; flat, ``status`` is only
        the envelope's ``ok`` and is dropped.
        """
        body = reply.body
        status = body.get("status")
        if status == "nok":
            text = next((v for v in (body.get("error"), body.get("message"))
                         if isinstance(v, str) and v), "no reason given")
            raise GatewayRejected(f"{reply.where}: refused: {self._credentials.scrub(text)}",
                                  code="nok")
        if status != "ok":
            raise GatewayProtocolError(f'{reply.where}: status is neither "ok" nor "nok"')
        payment = {k: v for k, v in body.items() if k not in ("status", "payment")}
        if "payment" in body:
            nested = body["payment"]
            if not isinstance(nested, dict):
                raise GatewayProtocolError(f"{reply.where}: payment is not an object")
            payment |= nested
        return payment

    def _quote(self, order: Order, coin: _Coin, payment: dict[str, Any], where: str,
               previous: PaymentRequest | None) -> PaymentRequest | None:
        """The request the reply's quote describes (None without address and amount).

        ``previous`` (on a status) fills in what a getupdate may leave out: memo and invoice.
        """
        address = self._string(payment, "payment_address", where)
        amount = self._number(payment, "payment_amount", where)
        if address is None or amount is None:
            return None
        symbol = self._string(payment, "payment_amount_asset", where)
        # Required in a create reply (it names the coin the QR is for), checked when present.
        wrong = symbol is not None and symbol.casefold() != coin.asset.casefold()
        if wrong or (symbol is None and previous is None):
            raise GatewayProtocolError(
                f"{where}: payment_amount_asset is missing or not the requested {coin.asset}")
        # The coin decides how it is paid: an invoice WCT adds to an on-chain coin is not shown.
        payreq = self._string(payment, "payment_payreq", where) if coin.lightning else None
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
        code = self._string(payment, "payment_code", where)
        return PaymentRequest(
            payment_id=order.tx_id, link=uri.content, expires_at=order.expires_at,
            crypto_amount=amount, crypto_symbol=coin.asset,
            reference=code or (previous.reference if previous else None), memo=uri.memo)

    def _memo(self, payment: dict[str, Any], where: str) -> str | None:
        for name in self._memo_fields:
            value = payment.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)                      # XRP tags may come as numbers
            if value is not None:
                return self._string(payment, name, where)
        return None

    # -- statuses ------------------------------------------------------------------------

    def _interpret(self, order: Order, request: PaymentRequest, payment: dict[str, Any],
                   where: str) -> PaymentStatus:
        coin = self._coin_for(order, offered=False)
        code, raw = self._status_code(payment)
        amount = self._number(payment, "payment_amount", where)
        missing = self._number(payment, "payment_missing_amount", where)
        overpaid = json_decimal(payment.get("overpaid_amount"))
        seen: dict[str, Any] = {"raw_status": raw, "paid_symbol": coin.asset,
                                "paid_amount": _paid(amount, missing, overpaid)}
        if code == COMPLETED:
            problem = self._verification_problem(payment, order, request, coin, missing)
            if problem:
                return PaymentStatus(PaymentState.UNVERIFIED,
                                     reason=f"verification failed: {problem}", **seen)
            return PaymentStatus(PaymentState.PAID, **seen)
        if code == CANCELLED:
            return PaymentStatus(PaymentState.CANCELLED, reason="cancelled at WCT Pay", **seen)
        state, reason = self._open_state(code, payment, amount, missing, where)
        if state is PaymentState.UNDERPAID:
            seen["remaining"] = missing
        new_quote = self._quote(order, coin, payment, where, previous=request)
        if new_quote is not None and _shown(new_quote) == _shown(request):
            new_quote = None                           # same QR, amount and memo: no redraw
        if new_quote is None and self._quote_expired(payment):
            reason = reason or "quote expired; waiting for WCT's new price"
        return PaymentStatus(state, reason=reason, request=new_quote, **seen)

    def _open_state(self, code: int | None, payment: dict[str, Any], amount: Decimal | None,
                    missing: Decimal | None, where: str) -> tuple[PaymentState, str]:
        """The state of a payment that is neither completed nor cancelled, and why."""
        if code is None:                               # unknown or conflicting: never paid
            return PaymentState.CONFIRMING, "unknown WCT Pay status"
        if _unconfirmed(payment):
            return PaymentState.CONFIRMING, ""
        if code == PARTIAL:
            if missing is None:
                raise GatewayProtocolError(f"{where}: partial without payment_missing_amount")
            if missing <= 0:                           # paid up, not yet marked completed
                return PaymentState.CONFIRMING, ""
            return PaymentState.UNDERPAID, ""
        if code == CREATED or missing is None or amount is None or missing >= amount:
            return PaymentState.AWAITING, ""
        # No status at all (as in WCT's own example): judge by the amounts, never PAID.
        if missing > 0:
            return PaymentState.UNDERPAID, ""
        return PaymentState.CONFIRMING, "paid in full, waiting for WCT to complete it"

    def _status_code(self, payment: dict[str, Any]) -> tuple[int | None, str]:
        """(0, 2, 3, 4 or NO_STATUS; None if unknown or conflicting) and the raw words."""
        values = [v for v in (payment.get("payment_status"), payment.get("status"))
                  if v is not None]
        raw = self._credentials.scrub(" ".join(str(v) for v in values))
        codes = {_code(v) for v in values}
        if not codes:
            return NO_STATUS, raw
        return (codes.pop() if len(codes) == 1 else None), raw

    def _verification_problem(self, payment: dict[str, Any], order: Order,
                              request: PaymentRequest, coin: _Coin,
                              missing: Decimal | None) -> str | None:
        """The first field of a completed payment that does not match the order, if any."""
        for name in ("reference", "payment_reference"):
            if payment.get(name) not in (None, order.tx_id):     # null reads as absent
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

    def _quote_expired(self, payment: dict[str, Any]) -> bool:
        expires_at = json_decimal(payment.get("expires_at"))
        return expires_at is not None and expires_at <= self._clock()

    # -- field readers -------------------------------------------------------------------

    @staticmethod
    def _string(payment: dict[str, Any], name: str, where: str) -> str | None:
        value = payment.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise GatewayProtocolError(f"{where}: {name} is not a string")
        return value

    @staticmethod
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


def _form_fields(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Flatten nested fields the PHP/qs way: ``cart_items[0][item_name]``."""
    if isinstance(value, Mapping):
        items: Iterator[tuple[Any, Any]] = iter(value.items())
    elif isinstance(value, list):
        items = iter(enumerate(value))
    else:
        yield prefix, str(value)
        return
    for key, item in items:
        yield from _form_fields(item, f"{prefix}[{key}]" if prefix else str(key))
