"""LNbits client: a Lightning invoice per sale, polled by payment hash, verified before PAID.

``POST /api/v1/payments`` (``out: false``) creates the invoice for the price in sats (converted
at the rate source's rate, ``lnbits_rate``) with an expiry that matches the payment window;
``GET /api/v1/payments/<payment_hash>`` is polled. Every call carries the wallet's invoice key in
``X-Api-Key``: it can receive but never spend, and it never reaches a log line, an exception or
``repr``. LNbits cannot push money back to an unknown payer and has no cancel: a failed vend gets
a claim code, an abandoned invoice is watched until it expires (after which Lightning cannot pay
it: the receiving node refuses HTLCs for an expired invoice).

LNbits answers errors as FastAPI does, ``{"detail": ...}`` with a 4xx; 5xx, timeouts, TLS
failures and malformed bodies become ``GatewayError`` subclasses in ``http.py``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from kiosk.errors import GatewayRejected
from kiosk.payments.base import Asset, Gateway, Order, PaymentRequest, PaymentStatus
from kiosk.payments.http import GatewayHttp, JsonReply, redacted
from kiosk.payments.lnbits_rate import RateSource, sats_for
from kiosk.payments.lnbits_replies import LnbitsReplies, WrongWallet, text_of
from kiosk.payments.ratelimit import RateLimiter

PAYMENTS = "/api/v1/payments"
WALLET = "/api/v1/wallet"
MIN_EXPIRY_S = 10            # shorter than this, nobody can scan and pay: refuse locally
REMEMBERED_CREATES = 512     # invoices by tx id, so a repeated create returns the same one
MEMO_MAX = 80


class LnbitsGateway(Gateway):
    """The production LNbits client. Every call may block on the network: not the UI thread."""

    name = "lnbits"
    can_cancel = False
    can_refund = False               # a claim code: LNbits cannot pay an unknown payer back
    offers_asset_choice = False      # Lightning sats only
    wallet_picks_coin = True
    poll_interval_s = 1.0            # Lightning settles in seconds; LNbits allows 200/min

    def __init__(
        self,
        *,
        api_base: str,
        wallet_id: str,
        invoice_key: str,
        rates: RateSource,
        requests_per_minute: int = 120,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._api_base = api_base
        self._wallet_id = wallet_id
        self._key = invoice_key          # kept only to scrub it from LNbits' own texts
        self._rates = rates
        self._clock = clock
        self._replies = LnbitsReplies(wallet_id, self._scrub)
        self._http = GatewayHttp(
            self.name, api_base,
            limiter=limiter or RateLimiter(requests_per_minute, name=self.name),
            transport=transport, timeout=timeout, clock=clock,
            headers={"X-Api-Key": invoice_key},
        )
        self._created_lock = threading.Lock()
        self._created: dict[str, PaymentRequest] = {}   # tx id -> its invoice, oldest first
        # An invoice key cannot read its wallet's id: a first invoice for another wallet is
        # how a wrong key or wallet_id shows; until the config is fixed, no sale can pass.
        self._wrong_wallet = ""

    def __repr__(self) -> str:
        return (f"LnbitsGateway(api_base={self._api_base!r}, wallet_id={self._wallet_id!r}, "
                "invoice_key=<redacted>)")

    # -- Gateway interface ---------------------------------------------------------------

    def list_assets(self, amount: Decimal, currency: str) -> list[Asset]:
        """Always empty: one asset, Lightning sats."""
        return []

    def create(self, order: Order) -> PaymentRequest:
        """The invoice for ``order``: its sats, at the rate stated on screen and journalled.

        LNbits has no idempotency key: a repeat for the same ``tx_id`` in this process returns
        the invoice already made. An invoice whose reply was lost was never shown, so nobody
        can pay it.
        """
        with self._created_lock:
            earlier = self._created.get(order.tx_id)
        if earlier is not None:
            return earlier
        rate = self._rates.rate(order.currency)
        sats = sats_for(order.amount, rate)
        expiry = math.floor(order.expires_at - self._clock())   # the window, to the second
        if expiry < MIN_EXPIRY_S:
            raise GatewayRejected(f"lnbits POST {PAYMENTS}: the invoice would expire in "
                                  f"{expiry} s, less than {MIN_EXPIRY_S} s", code="local")
        reply = self._http.post_json(PAYMENTS, {
            "out": False, "amount": sats, "unit": "sat", "expiry": expiry,
            "memo": order.item_name[:MEMO_MAX],
            "extra": {"tx_id": order.tx_id, "rate": format(rate.sats_per_unit, "f"),
                      "fiat": f"{order.amount:f} {order.currency}"},
        })
        try:
            request = self._replies.invoice(self._ok(reply), order, sats, rate.sats_per_unit,
                                            reply.where)
        except WrongWallet as exc:
            self._wrong_wallet = str(exc)    # every check says so from now on: out of service
            raise
        with self._created_lock:
            self._created[order.tx_id] = request
            while len(self._created) > REMEMBERED_CREATES:
                del self._created[next(iter(self._created))]
        return request

    def request_for(self, order: Order) -> PaymentRequest | None:
        """The invoice made for ``order`` in this process, if its reply reached us."""
        with self._created_lock:
            return self._created.get(order.tx_id)

    def status(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        reply = self._http.get(f"{PAYMENTS}/{quote(request.payment_id, safe='')}", {})
        return self._replies.status(self._ok(reply), order, request, self._clock(),
                                    reply.where)

    def check_reachable(self, amount: Decimal, currency: str) -> str:
        """An authenticated wallet read proves address and key; the rate must be there too."""
        if self._wrong_wallet:
            raise GatewayRejected(self._wrong_wallet, code="local")
        rate = self._rates.rate(currency)
        sats = sats_for(amount, rate)
        body = self._ok(self._http.get(WALLET, {}))
        if "id" in body:      # LNbits names the wallet only to its admin key
            raise GatewayRejected(f"lnbits GET {WALLET}: the key is the wallet's admin key, "
                                  "which can spend; give the kiosk the invoice key", code="local")
        wallet = self._scrub(text_of(body.get("name")))[:40] or "?"
        return (f"reachable; invoice key accepted (wallet {wallet!r}); "
                f"{amount} {currency} = {sats} sats at {rate.describe()}")

    def close(self) -> None:
        self._http.close()

    # -- helpers -------------------------------------------------------------------------

    def _ok(self, reply: JsonReply) -> dict[str, Any]:
        """The body of a 2xx reply; any other reply is refused in LNbits' words."""
        if reply.status_code < 300:
            return reply.body
        detail = reply.body.get("detail")
        text = self._scrub(detail if isinstance(detail, str) else "")
        code = str(reply.status_code)
        raise GatewayRejected(f"{reply.where}: HTTP {code}" + (f": {text}" if text else ""),
                              code=code)

    def _scrub(self, text: str) -> str:
        """LNbits' own text, shortened, and never carrying our key back to a log."""
        return redacted(text, self._key)
