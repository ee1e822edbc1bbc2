"""LNbits simulator: the wallet API a kiosk uses, and a funded payer wallet to pay with.

Mounted at ``/lnbits``: ``api_base`` is ``<sandbox>/lnbits``. Paths, keys and shapes follow
reference/gateways.md section 7 (LNbits 1.x), so the production client runs unchanged:

    GET  /api/v1/wallet               invoice or admin key -> {name, balance} (+ id: admin only)
    POST /api/v1/payments             invoice key, {"out": false, amount, memo, expiry, extra}
                                      -> 201 the Payment (payment_hash, bolt11, amount msat...)
                                      admin key, {"out": true, "bolt11"} -> pays it internally
    GET  /api/v1/payments/<hash>      -> {paid, status, preimage, details (owner's key only)}

Two wallets exist: the kiosk's (``KIOSK_WALLET``, keys ``KIOSK_INKEY`` / ``KIOSK_ADMINKEY``) and
a funded payer's (``PAYER_ADMINKEY``), which is how the demo's phone and the tests pay: exactly
as a second wallet of a real LNbits pays. Paying an expired invoice moves nothing and answers
with the invoice, ``status: failed``, as LNbits 1.6.2 does.
The demo's phone pays at ``POST /lnbits/wallet/pay`` (form ``qr=<the QR>``, ``spoof=1`` for a
spoofed success that names another wallet), as at WCT Pay's sandbox wallet. ``received()`` lists
every paid invoice by the kiosk's tx id (its ``extra.tx_id``).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from kiosk.sim.lnbits_state import (
    MSAT_PER_SAT,
    ApiError,
    Invoice,
    Wallet,
    new_id,
    new_invoice,
    payment_json,
    status_json,
)
from kiosk.sim.ratewindow import RateWindow
from kiosk.sim.server import (
    BadBody,
    ReceivedPayment,
    Request,
    Response,
    form_flag,
    json_response,
)

__all__ = ["KIOSK_ADMINKEY", "KIOSK_INKEY", "KIOSK_WALLET", "PAYER_ADMINKEY", "LnbitsSimulator"]

KIOSK_WALLET = "sandbox-wallet"
KIOSK_INKEY = "sandbox-invoice-key"
KIOSK_ADMINKEY = "sandbox-admin-key"
PAYER_ADMINKEY = "sandbox-payer-key"
PAYER_FUNDS_SATS = 100_000_000
MAX_EXPIRY_S = 7 * 24 * 3600

_PAYMENT = re.compile(r"/api/v1/payments/(?P<hash>[^/]+)")


class LnbitsSimulator:
    """Owns the simulated wallets and invoices; ``handle`` serves one request below ``/lnbits``."""

    def __init__(self, *, requests_per_minute: int = 200,
                 clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._window = RateWindow(requests_per_minute)
        self._wallets = {w.id: w for w in (
            Wallet(KIOSK_WALLET, "Sandbox vending", KIOSK_ADMINKEY, KIOSK_INKEY),
            Wallet(new_id(), "Sandbox payer", PAYER_ADMINKEY, "sandbox-payer-invoice-key",
                   PAYER_FUNDS_SATS * MSAT_PER_SAT))}
        self._invoices: dict[str, Invoice] = {}

    def received(self) -> list[ReceivedPayment]:
        """Every paid invoice of the kiosk's wallet, oldest first, by the kiosk's tx id."""
        with self._lock:
            return [ReceivedPayment(str(inv.extra.get("tx_id") or inv.payment_hash),
                                    Decimal(inv.amount_msat // MSAT_PER_SAT), "sats")
                    for inv in self._invoices.values()
                    if inv.paid_at is not None and inv.wallet_id == KIOSK_WALLET]

    def invoices(self) -> tuple[str, ...]:
        """Every payment hash created so far, oldest first."""
        with self._lock:
            return tuple(self._invoices)

    def status_of(self, payment_hash: str) -> str:
        with self._lock:
            return self._invoices[payment_hash].status(self._clock())

    def balance_sats(self, wallet_id: str = KIOSK_WALLET) -> int:
        with self._lock:
            return self._wallets[wallet_id].balance_msat // MSAT_PER_SAT

    def handle(self, request: Request) -> Response:
        if (request.method, request.path) == ("POST", "/wallet/pay"):
            return self._phone_pays(request)
        with self._lock:
            now = self._clock()
            left, reset_s = self._window.hit(request.client, now)
            try:
                if left < 0:
                    raise ApiError(429, "Rate limit exceeded")
                wallet, admin = self._authenticate(request)
                status, body = self._route(request, wallet, admin, now)
                return json_response(status, body)
            except ApiError as exc:
                retry = {"Retry-After": str(math.ceil(reset_s))} if exc.status == 429 else {}
                return exc.response(retry)

    def _authenticate(self, request: Request) -> tuple[Wallet, bool]:
        key = request.headers.get("x-api-key")
        if not key:
            raise ApiError(401, "Missing user ID or access token.")
        for wallet in self._wallets.values():
            if key in (wallet.adminkey, wallet.inkey):
                return wallet, key == wallet.adminkey
        raise ApiError(401, "Invalid key or wallet.")

    def _route(self, request: Request, wallet: Wallet, admin: bool,
               now: float) -> tuple[int, dict[str, Any]]:
        if (request.method, request.path) == ("GET", "/api/v1/wallet"):
            body: dict[str, Any] = {"name": wallet.name, "balance": wallet.balance_msat}
            return 200, ({**body, "id": wallet.id} if admin else body)
        if (request.method, request.path) == ("POST", "/api/v1/payments"):
            fields = _json_object(request)
            if fields.get("out") is True:
                if not admin:
                    raise ApiError(401, "Invoice (or Admin) key required.")
                return 201, self._pay(wallet, fields.get("bolt11"), now)
            return 201, self._create(wallet, fields, now)
        match = _PAYMENT.fullmatch(request.path)
        if match and request.method == "GET":
            invoice = self._invoices.get(unquote(match["hash"]).lower())
            if invoice is None or invoice.wallet_id != wallet.id:
                raise ApiError(404, "Payment does not exist.")
            return 200, status_json(invoice, now, owner=True)
        raise ApiError(404, "Not Found")

    def _create(self, wallet: Wallet, fields: dict[str, Any], now: float) -> dict[str, Any]:
        amount, unit = fields.get("amount"), fields.get("unit", "sat")
        if unit != "sat":
            raise ApiError(400, "Only unit 'sat' works offline in this sandbox.")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ApiError(400, "Amount must be a positive integer of sats.")
        expiry = fields.get("expiry", 3600)
        if isinstance(expiry, bool) or not isinstance(expiry, int) \
                or not 0 < expiry <= MAX_EXPIRY_S:
            raise ApiError(400, "Expiry must be a positive integer of seconds.")
        memo, extra = fields.get("memo", ""), fields.get("extra") or {}
        if not isinstance(memo, str) or not isinstance(extra, dict):
            raise ApiError(400, "memo must be a string and extra an object.")
        invoice = new_invoice(wallet.id, amount, memo, extra, now, expiry)
        self._invoices[invoice.payment_hash] = invoice
        return payment_json(invoice, now)

    def _pay(self, payer: Wallet, bolt11: Any, now: float) -> dict[str, Any]:
        if not isinstance(bolt11, str) or not bolt11:
            raise ApiError(400, "BOLT11 string is invalid or not given")
        wanted = bolt11.lower().removeprefix("lightning:")
        invoice = next((i for i in self._invoices.values() if i.bolt11 == wanted), None)
        if invoice is None:      # no node behind the sandbox: only its own invoices are payable
            raise ApiError(520, "Payment failed: no route to an invoice of another node.")
        invoice.refuse_payment()
        if invoice.status(now) == "failed":   # expired: nothing moves. LNbits 1.6.2 answers
            return payment_json(invoice, now)  # with the invoice itself, status "failed"
        if invoice.wallet_id == payer.id:
            raise ApiError(400, "Cannot pay your own invoice.")
        if payer.balance_msat < invoice.amount_msat:
            raise ApiError(400, "Insufficient balance.")
        payer.balance_msat -= invoice.amount_msat
        self._wallets[invoice.wallet_id].balance_msat += invoice.amount_msat
        invoice.paid_at, invoice.payer_wallet_id = now, payer.id
        return {"payment_hash": invoice.payment_hash, "checking_id": invoice.payment_hash}


    def _phone_pays(self, request: Request) -> Response:
        """The demo's phone: the payer wallet pays the scanned QR (``qr``: the ``LIGHTNING:``
        link). ``spoof=1``: once paid, the status names another wallet (a spoofed success the
        kiosk must not vend for). A Lightning invoice is paid in full or not at all."""
        with self._lock:
            try:
                fields = _json_object(request)
                if fields.get("part") or fields.get("amount"):
                    raise ApiError(400, "A Lightning invoice is paid in full or not at all.")
                payer = next(w for w in self._wallets.values() if w.adminkey == PAYER_ADMINKEY)
                body = self._pay(payer, fields.get("qr"), self._clock())
                invoice = self._invoices.get(str(body.get("payment_hash")))
                if invoice is not None and invoice.paid_at is not None:
                    invoice.spoofed = form_flag(fields.get("spoof"))
                return json_response(201, body)
            except ApiError as exc:
                return exc.response()


def _json_object(request: Request) -> dict[str, Any]:
    try:
        return request.fields()
    except BadBody as exc:
        raise ApiError(400, str(exc)) from exc
