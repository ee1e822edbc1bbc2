"""The machine's currency in sats: where the rate comes from and how a price becomes sats.

The rule: ``sats = ceil(price * rate)``, exactly (Decimal, no float), where ``rate`` is sats per
one unit of the machine's currency. Rounding is always UP to the next whole sat so the operator
is never short; the customer pays at most one sat more than the exact product. A rate source
that cannot give a fresh rate raises ``GatewayUnavailable``: the kiosk goes out of service
rather than guess a price.

Only a fixed rate (``[payment.lnbits] fixed_rate``) exists today: operators who price in sats,
and tests. A live source (an exchange feed) would be one more ``RateSource`` with a maximum age.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, Inexact, localcontext

from kiosk.errors import GatewayRejected

SATS_PER_BTC = 100_000_000
MAX_SATS = 21_000_000 * SATS_PER_BTC      # more than this can never be paid
MAX_RATE_DIGITS = 24                      # a rate's significant digits (keeps the product exact)
_EXACT_PRECISION = 64                     # price (<= 15 digits) x rate (<= 24): always exact


@dataclass(frozen=True)
class Rate:
    """Sats per one unit of ``currency``, and where that number came from."""

    sats_per_unit: Decimal
    currency: str
    source: str                           # "fixed": the operator's own number

    def describe(self) -> str:
        """``2500 sats/USD (fixed)``: what the screen, journal and self-test say."""
        return f"{self.sats_per_unit:f} sats/{self.currency} ({self.source})"


class RateSource(abc.ABC):
    @abc.abstractmethod
    def rate(self, currency: str) -> Rate:
        """A fresh rate for ``currency``; ``GatewayUnavailable`` when there is none."""


class FixedRate(RateSource):
    """The operator's own number: never stale, the same for every sale."""

    def __init__(self, sats_per_unit: Decimal) -> None:
        if not (sats_per_unit.is_finite() and sats_per_unit > 0):
            raise ValueError("a fixed rate must be a positive number")
        self._sats_per_unit = sats_per_unit

    def rate(self, currency: str) -> Rate:
        return Rate(self._sats_per_unit, currency.upper(), "fixed")


def rate_problem(rate: Decimal) -> str:
    """Why ``rate`` cannot be a rate, or ""."""
    if not rate.is_finite() or rate <= 0:
        return "must be a number greater than 0"
    if len(rate.as_tuple().digits) > MAX_RATE_DIGITS:
        return f"has more than {MAX_RATE_DIGITS} digits"
    if rate > MAX_SATS:
        return f"is more than all the sats there are ({MAX_SATS})"
    return ""


def sats_for(amount: Decimal, rate: Rate) -> int:
    """The price in whole sats, rounded up; refused locally when it cannot be an invoice."""
    problem = rate_problem(rate.sats_per_unit)
    if problem:
        raise GatewayRejected(f"lnbits: the rate {problem}", code="local")
    try:
        with localcontext() as ctx:
            ctx.prec = _EXACT_PRECISION
            ctx.traps[Inexact] = True     # a rounded product would be a guess: refuse it
            sats = int((amount * rate.sats_per_unit).to_integral_value(rounding=ROUND_CEILING))
    except (ArithmeticError, ValueError) as exc:   # an amount no price can be
        raise GatewayRejected(f"lnbits: {amount} {rate.currency} has no exact sats value",
                              code="local") from exc
    if not 0 < sats <= MAX_SATS:
        raise GatewayRejected(f"lnbits: {amount} {rate.currency} is {sats} sats, which cannot "
                              "be invoiced", code="local")
    return sats
