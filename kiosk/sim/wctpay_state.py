"""WCT Pay's simulated payments: coins, quotes that refresh, transfers, what is still due.

Statuses and quotes come from timestamps (no timers) under ``Rules``; the simulator
(``kiosk.sim.wctpay``) holds the lock and serves the API, ``kiosk.sim.wctpay_wallet`` the wallet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from kiosk.payments.http import json_decimal
from kiosk.sim.refusal import PayRefused
from kiosk.sim.server import form_flag

CREATED, PARTIAL, COMPLETED, CANCELLED = 0, 2, 3, 4
STATUS_WORDS = {CREATED: "created", PARTIAL: "partial", COMPLETED: "completed",
                CANCELLED: "cancelled"}
RATE_STEP = Decimal("0.01")          # each new quote prices the coin 1 % lower: more crypto due
MAX_AMOUNT = Decimal(10000)
SETTLEMENT_USD = {"USD": Decimal(1), "EUR": Decimal("1.08"), "GBP": Decimal("1.27"),
                  "AUD": Decimal("0.66")}
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
HEX = "0123456789abcdef"


def chars(seed: str, alphabet: str, count: int) -> str:
    """``count`` characters of ``alphabet``, deterministic in ``seed``."""
    return "".join(alphabet[b % len(alphabet)]
                   for b in hashlib.shake_256(seed.encode()).digest(count))


def fmt(value: Decimal) -> str:
    return "0" if value == 0 else format(value, "f")


@dataclass(frozen=True)
class Coin:
    """A coin the simulated WCT accepts, with a demo USD rate and its address shape."""

    code: str                        # the kiosk's allow-list notation: "USDT-TRC20"
    asset: str                       # requested_asset / payment_amount_asset: "USDT"
    network: str | None              # requested_asset_network (Tether only): "TRC20"
    usd_rate: Decimal
    places: int
    prefix: str                      # address shape: prefix + length chars of alphabet
    alphabet: str
    length: int
    tagged: bool = False             # XRP: one shared address, a destination tag per payment
    lightning: bool = False          # BTC: a BOLT11 invoice per quote as well

    def address(self, seed: str) -> str:
        return self.prefix + chars(seed, self.alphabet, self.length)

    def units(self, value: Decimal, rounding: str) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.places), rounding=rounding)


COINS: tuple[Coin, ...] = (   # made-up rates
    Coin("BTC", "BTC", None, Decimal(60000), 8, "bc1q", BECH32, 38, lightning=True),
    Coin("LTC", "LTC", None, Decimal(80), 8, "ltc1q", BECH32, 38),
    Coin("DOGE", "DOGE", None, Decimal("0.15"), 8, "D", BASE58, 33),
    Coin("ETH", "ETH", None, Decimal(3000), 8, "0x", HEX, 40),
    Coin("USDT-TRC20", "USDT", "TRC20", Decimal(1), 6, "T", BASE58, 33),
    Coin("USDT-ERC20", "USDT", "ERC20", Decimal(1), 6, "0x", HEX, 40),
    Coin("XRP", "XRP", None, Decimal("0.5"), 6, "r", BASE58, 33, tagged=True),
)
COIN_BY_REQUEST = {(c.asset, c.network): c for c in COINS}
XRP_MERCHANT_ADDRESS = COINS[-1].address("xrp-merchant")


@dataclass(frozen=True)
class Transfer:
    amount: Decimal                  # crypto
    at: float
    usd_rate: Decimal                # the quote's rate when it was paid: its USD value


@dataclass(frozen=True)
class Rules:
    confirm_s: float
    quote_ttl_s: float
    order_ttl_s: float


@dataclass
class WctPayment:
    reference: str
    code: str
    payment_id: str
    coin: Coin
    terms: tuple[str, str, str]      # (asset, coin, amount) as sent: a repeat must match them
    amount: Decimal                  # in the settlement asset
    settlement: str
    description: str
    created_at: float
    address: str
    tag: str | None
    transfers: list[Transfer] = field(default_factory=list)
    cancelled: float | None = None   # when the payer cancelled
    settled: float | None = None     # when the transfers first covered the price
    spoofed: bool = False            # reads completed once anything is confirmed

    @property
    def paid(self) -> Decimal:
        """Every transfer, confirmed or not, in the coin."""
        return sum((t.amount for t in self.transfers), Decimal(0))

    @property
    def usd(self) -> Decimal:
        return self.amount * SETTLEMENT_USD[self.settlement]

    def cancelled_at(self, rules: Rules) -> float | None:
        if self.cancelled is not None:
            return self.cancelled
        return None if self.transfers else self.created_at + rules.order_ttl_s

    def state(self, now: float, rules: Rules) -> int:
        cancelled = self.cancelled_at(rules)
        if cancelled is not None and now >= cancelled:
            return CANCELLED
        confirmed = [t for t in self.transfers if t.at + rules.confirm_s <= now]
        if _usd(confirmed) >= self.usd or (self.spoofed and confirmed):
            return COMPLETED
        return PARTIAL if confirmed else CREATED

    def quote(self, now: float, rules: Rules) -> int:
        """Which quote is current: it stops refreshing once paid in full or cancelled."""
        stops = [t for t in (self.settled, self.cancelled_at(rules)) if t is not None]
        at = min([now, *stops])
        return max(0, int((at - self.created_at) // rules.quote_ttl_s))

    def rate(self, quote: int) -> Decimal:
        return self.coin.usd_rate * max(1 - RATE_STEP * quote, Decimal("0.5"))

    def crypto(self, usd: Decimal, quote: int, rounding: str = ROUND_UP) -> Decimal:
        """``usd`` in the coin at ``quote``'s rate; rounded up, a payer never pays too little."""
        return self.coin.units(max(usd, Decimal(0)) / self.rate(quote), rounding)

    def payreq(self, quote: int) -> str | None:
        if not self.coin.lightning:
            return None
        nano_btc = int(self.crypto(self.usd, quote) * 10**9)   # BOLT11's "n" multiplier
        return f"lnbc{nano_btc}n1p" + chars(f"{self.reference}/{quote}", BECH32, 180)

    def quote_fields(self, quote: int, rules: Rules) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "paymentId": self.payment_id, "payment_code": self.code,
            "payment_address": self.address, "payment_amount": fmt(self.crypto(self.usd, quote)),
            "payment_amount_asset": self.coin.asset,
            "exchange_rate": fmt(self.rate(quote) / SETTLEMENT_USD[self.settlement]),
            "expires_at": self.expires_at(quote, rules)}
        if self.coin.lightning:
            fields["payment_payreq"] = self.payreq(quote)
        if self.tag is not None:
            fields["payment_memo"] = self.tag
        return fields

    def transfer_fields(self, now: float, quote: int, status: int,
                        rules: Rules) -> dict[str, Any]:
        """[sandbox] how the unconfirmed state and an overpayment show in getupdate."""
        if not self.transfers:
            return {}
        pending = [t for t in self.transfers if now < t.at + rules.confirm_s]
        fields: dict[str, Any] = {"confirmations": 0 if pending else 1}
        if pending:
            fields["unconfirmed_amount"] = fmt(sum((t.amount for t in pending), Decimal(0)))
        surplus = self.crypto(_usd(self.transfers) - self.usd, quote, ROUND_DOWN)
        if status == COMPLETED and surplus > 0:
            fields["overpaid_amount"] = fmt(surplus)
        return fields

    def missing(self, now: float, quote: int, rules: Rules) -> Decimal:
        """Still due in the coin at ``quote``, counting confirmed funds only."""
        confirmed = [t for t in self.transfers if t.at + rules.confirm_s <= now]
        return self.crypto(self.usd - _usd(confirmed), quote)

    def expires_at(self, quote: int, rules: Rules) -> int:
        return int(self.created_at + (quote + 1) * rules.quote_ttl_s)

    def pay(self, fields: Mapping[str, Any], now: float, rules: Rules) -> str:
        """Record one transfer from the wallet; returns what the payer is told."""
        status = self.state(now, rules)
        if status == CANCELLED:
            raise PayRefused(410, "This payment was cancelled; nothing was sent.")
        if status == COMPLETED:
            raise PayRefused(409, "This payment is already complete.")
        quote = self.quote(now, rules)
        due = self.crypto(self.usd - _usd(self.transfers), quote)
        if due == 0:
            raise PayRefused(409, "Paid in full; waiting for confirmations.")
        amount = _amount_to_pay(self, fields, due, self.crypto(self.usd, quote))
        self.transfers.append(Transfer(amount, now, self.rate(quote)))
        self.spoofed = self.spoofed or form_flag(fields.get("spoof"))
        if self.settled is None and _usd(self.transfers) >= self.usd:
            self.settled = now
        return f"Sent {fmt(amount)} {self.coin.asset}."

    def cancel(self, fields: Mapping[str, Any], now: float, rules: Rules) -> str:
        status = self.state(now, rules)
        if status in (COMPLETED, CANCELLED):
            raise PayRefused(409, f"This payment is already {STATUS_WORDS[status]}.")
        self.cancelled = now
        return "Payment cancelled."


def _usd(transfers: list[Transfer]) -> Decimal:
    return sum((t.amount * t.usd_rate for t in transfers), Decimal(0))


@dataclass(frozen=True)
class WctPaymentSnapshot:
    """A read-only view of one simulated payment, for tests and scripts."""

    reference: str
    payment_code: str
    coin: str                        # allow-list notation, "USDT-TRC20"
    amount: Decimal                  # in the settlement asset
    settlement: str
    payment_status: int              # 0 created, 2 partial, 3 completed, 4 cancelled
    quote: int                       # 0 for the first quote, 1 after the first refresh...
    payment_amount: Decimal
    payment_missing_amount: Decimal  # confirmed funds only, as getupdate reports it
    paid: Decimal                    # every transfer, confirmed or not
    address: str
    payreq: str | None
    memo: str | None
    expires_at: int
    transfers: tuple[Transfer, ...]


def _amount_to_pay(p: WctPayment, fields: Mapping[str, Any], due: Decimal,
                   quoted: Decimal) -> Decimal:
    """The wallet's transfer: ``amount`` as given, half the due, due plus 10 %, or the due."""
    given = fields.get("amount")
    if given not in (None, ""):
        amount = json_decimal(given)
        if amount is None or amount <= 0 or p.coin.units(amount, ROUND_DOWN) <= 0:
            raise PayRefused(400, "amount must be a positive number.")
        return p.coin.units(amount, ROUND_DOWN)
    part = fields.get("part")
    smallest = Decimal(1).scaleb(-p.coin.places)
    if part == "half":
        return max(p.coin.units(due / 2, ROUND_DOWN), smallest)
    if part == "more":
        return due + max(p.coin.units(quoted / 10, ROUND_DOWN), smallest)
    return due
