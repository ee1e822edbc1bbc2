"""LNbits' simulated wallets and invoices: keys, balances, BOLT11-looking invoices, JSON.

An invoice's status comes from timestamps and the clock (no timers): ``pending`` until paid or
expired, then ``success`` or ``failed``. The simulator (``kiosk.sim.lnbits``) holds the lock and
routes the API. Refusals are ``ApiError`` with FastAPI's body, ``{"detail": ...}``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.sim.server import Response, json_response

MSAT_PER_SAT = 1000
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
SPOOF_WALLET_ID = "someone-elses-wallet"   # what a spoofed paid invoice names as its wallet


class ApiError(Exception):
    """A request refused with LNbits' (FastAPI's) error body."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        return json_response(self.status, {"detail": self.detail}, headers)


@dataclass
class Wallet:
    id: str
    name: str
    adminkey: str
    inkey: str
    balance_msat: int = 0


@dataclass
class Invoice:
    payment_hash: str
    preimage: str
    bolt11: str
    wallet_id: str
    amount_msat: int
    memo: str
    extra: dict[str, Any]
    created_at: float
    expiry_s: int
    paid_at: float | None = None
    payer_wallet_id: str | None = None
    spoofed: bool = False              # once paid, the status names another wallet

    @property
    def expires_at(self) -> float:
        return self.created_at + self.expiry_s

    def status(self, now: float) -> str:
        if self.paid_at is not None:
            return "success"
        return "failed" if now >= self.expires_at else "pending"

    def refuse_payment(self) -> None:
        """What LNbits 1.6.2 answers a payer for an invoice it already settled."""
        if self.paid_at is not None:
            raise ApiError(520, "Internal invoice already paid.")


def new_id() -> str:
    return secrets.token_hex(16)


def new_invoice(wallet_id: str, sats: int, memo: str, extra: dict[str, Any], now: float,
                expiry_s: int) -> Invoice:
    """An invoice with a real hash of a real preimage and a regtest BOLT11 look (no decode)."""
    preimage = secrets.token_hex(32)
    payment_hash = hashlib.sha256(bytes.fromhex(preimage)).hexdigest()
    data = "".join(secrets.choice(BECH32) for _ in range(280))
    bolt11 = f"lnbcrt{sats * 10}n1p{data}"        # 10 nano-BTC per sat
    return Invoice(payment_hash, preimage, bolt11, wallet_id, sats * MSAT_PER_SAT, memo,
                   extra, now, expiry_s)


def iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + "+00:00"


def payment_json(invoice: Invoice, now: float) -> dict[str, Any]:
    """LNbits 1.x's Payment object of the receiving side."""
    status = invoice.status(now)
    return {
        "checking_id": invoice.payment_hash, "payment_hash": invoice.payment_hash,
        "wallet_id": SPOOF_WALLET_ID if invoice.spoofed and status == "success"
        else invoice.wallet_id, "amount": invoice.amount_msat, "fee": 0,
        "bolt11": invoice.bolt11, "payment_request": invoice.bolt11, "fiat_provider": None,
        "status": status, "memo": invoice.memo, "labels": ["expired"] if status == "failed" else [],
        "external_id": None,
        "expiry": iso(invoice.expires_at), "webhook": None,
        "preimage": invoice.preimage if status == "success" else None,
        "tag": None, "extension": None, "time": iso(invoice.created_at),
        "created_at": iso(invoice.created_at), "updated_at": iso(invoice.paid_at or now),
        "extra": invoice.extra,
    }


def status_json(invoice: Invoice, now: float, owner: bool) -> dict[str, Any]:
    """``GET /api/v1/payments/<hash>``: ``details`` only for the owning wallet's key."""
    status = invoice.status(now)
    # As LNbits 1.6.2 answers: a settled payment has no top-level "status", only "details".
    body: dict[str, Any] = {"paid": status == "success"} | (
        {"preimage": invoice.preimage} if status == "success"
        else {"status": status, "preimage": None})
    if owner:
        body["details"] = payment_json(invoice, now)
    return body
