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
    PaymentStatus,
)
from kiosk.payments.http import GatewayHttp, JsonReply, redacted
from kiosk.payments.ratelimit import RateLimiter
from kiosk.payments.wctpay_coins import WctCoin
from kiosk.payments.wctpay_replies import DEFAULT_MEMO_FIELDS, WctReplies

CREATE_PATH = "/payment-pos/post"
UPDATE_PATH = "/payment-pos/getupdate"


@dataclass(frozen=True)
class _Credentials:
    """The terminal's key and secret: they sign requests and are scrubbed from WCT's text."""

    key: str = field(repr=False)
    secret: str = field(repr=False)

    def sign(self, *parts: str) -> str:
        return hashlib.md5((self.key + "".join(parts) + self.secret).encode()).hexdigest()

    def scrub(self, text: str) -> str:
        return redacted(text, self.key, self.secret, mark="***")


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
        coins = {coin.entry: coin for coin in map(WctCoin.parse, assets)}   # dedupe, keep order
        if not coins:
            raise ValueError("wctpay: assets must name at least one coin (WCT has no coin list)")
        self._coins = list(coins.values())
        self._api_base = api_base
        self._settlement = settlement_asset.strip().upper()
        self._credentials = _Credentials(key, api_secret)
        self._form_encoded = form_encoded
        self._replies = WctReplies(self._credentials.scrub, tuple(memo_fields), clock)
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
        payment = self._replies.payment(reply)
        request = self._replies.quote(order, coin, payment, reply.where, previous=None)
        if request is None:
            raise GatewayProtocolError(
                f"{reply.where}: payment_address or payment_amount is missing")
        return request

    def check_reachable(self, amount: Decimal, currency: str) -> str:
        """WCT's "verify credentials" call (``validate``, hash = MD5 of the API secret)."""
        secret_hash = hashlib.md5(self._credentials.secret.encode()).hexdigest()
        reply = self._post("validate", {"key": self._credentials.key, "hash": secret_hash})
        self._replies.payment(reply)   # GatewayRejected on "nok", GatewayProtocolError on junk
        return f"credentials accepted; {len(self.list_assets(amount, currency))} coin(s) set up"

    def request_for(self, order: Order) -> PaymentRequest:
        """getupdate works by our reference, so a lost create reply loses nothing.

        The QR is unknown until the first status, which returns it as a re-quote.
        """
        return PaymentRequest(payment_id=order.tx_id, link="", expires_at=order.expires_at)

    def status(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        reply = self._post(UPDATE_PATH, {"reference": order.tx_id, "key": self._credentials.key,
                                         "hash": self._credentials.sign(order.tx_id)})
        payment = self._replies.payment(reply)
        coin = self._coin_for(order, offered=False)
        return self._replies.status(order, request, coin, payment, reply.where)

    def close(self) -> None:
        self._http.close()

    # -- requests ------------------------------------------------------------------------

    def _check_currency(self, currency: str) -> None:
        """``amount`` is in the settlement asset, so prices must be in it too."""
        if currency.strip().upper() != self._settlement:
            raise GatewayRejected(f"wctpay: orders in {currency} cannot be paid in "
                                  f"{self._settlement} (the settlement asset)", code="local")

    def _coin_for(self, order: Order, *, offered: bool = True) -> WctCoin:
        """The order's coin; ``offered=False`` (polling) also accepts one no longer configured,
        so a payment made before the operator changed the list is still judged."""
        if order.asset is None:
            return self._coins[0]
        for coin in self._coins:
            if coin.entry == order.asset.asset_id.strip().upper():
                return coin
        if not offered:
            with contextlib.suppress(ValueError):
                return WctCoin.parse(order.asset.asset_id)
        raise GatewayRejected(f"wctpay: {order.asset.asset_id} is not an offered coin",
                              code="local")

    def _post(self, path: str, body: Mapping[str, Any]) -> JsonReply:
        if self._form_encoded:
            return self._http.post_form(path, dict(_form_fields(body)))
        return self._http.post_json(path, body)


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
