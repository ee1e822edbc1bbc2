"""``[payment.lnbits]``: the LNbits client's (``lnbits.py``) config section.

Free of httpx, like every section. The wallet's *invoice* key belongs in the secrets file: it
can create invoices and read their status but never spend, and the kiosk never holds more.
``wallet_id`` names the wallet that key opens: a payment is PAID only into that wallet.
``fixed_rate`` (sats per unit of the machine's currency, as text) is the only rate source so far,
so it is required while LNbits is in use: without a rate there is no price, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from kiosk.money import parse_decimal
from kiosk.payments.lnbits_rate import rate_problem

if TYPE_CHECKING:
    from kiosk.config.gateway import GatewayReader

_WALLET_ID = re.compile(r"[0-9A-Za-z_-]{8,64}")


@dataclass(frozen=True)
class LnbitsConfig:
    api_base: str = ""
    wallet_id: str = ""
    fixed_rate: Decimal | None = None       # sats per unit of [machine] currency
    invoice_key: str = field(default="", repr=False)


def read_lnbits_config(r: GatewayReader) -> LnbitsConfig:
    config = LnbitsConfig(
        api_base=r.url("api_base", ""),
        wallet_id=r.str_("wallet_id", pattern=_WALLET_ID,
                         shape="the LNbits wallet id (8 to 64 letters, digits, - or _)"),
        fixed_rate=_rate(r, "fixed_rate"),
        invoice_key=r.secret("invoice_key"),
    )
    if r.selected:
        why = 'payment.gateway = "lnbits" needs it'
        r.require("api_base", config.api_base, f"{why}: your LNbits server's address")
        r.require("wallet_id", config.wallet_id, why)
        r.require("fixed_rate", config.fixed_rate,
                  f'{why}: sats per unit of the machine\'s currency, e.g. fixed_rate = "1000"')
        r.require_secret("invoice_key", config.invoice_key, why)
        r.refuse_placeholders(
            config.api_base,
            ids=(("wallet_id", config.wallet_id, "your LNbits wallet id"),
                 ("invoice_key", config.invoice_key, "the wallet's invoice/read key")),
            urls=(("api_base", config.api_base, "your LNbits server's address"),))
    return config


def _rate(r: GatewayReader, key: str) -> Decimal | None:
    """A rate as TOML text ("1000", "2.5"): never through a float."""
    value = r.raw(key)
    if value is None:
        return None
    if not isinstance(value, str):
        r.wrong(key, 'a number as text, e.g. "1000"', value)
        return None
    try:
        rate = parse_decimal(value)
    except ValueError:
        r.wrong(key, 'a number as text, e.g. "1000"', value)
        return None
    problem = rate_problem(rate)
    if problem:
        r.error(key, f"{problem}, found {value}")
        return None
    return rate
