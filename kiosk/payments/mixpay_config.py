"""``[payment.mixpay]``: the MixPay client's (``mixpay.py``) config section.

Free of httpx, like every section: ``kiosk check-config`` and the first-boot import read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.config.gateway import GatewayReader


@dataclass(frozen=True)
class MixPayConfig:
    payee_id: str
    settlement_asset_id: str
    quote_asset_id: str = "usd"
    api_base: str = "https://api.mixpay.me/v1"
    checkout_base: str = "https://mixpay.me"


def read_mixpay_config(r: GatewayReader) -> MixPayConfig:
    config = MixPayConfig(
        payee_id=r.str_("payee_id"),
        settlement_asset_id=r.str_("settlement_asset_id"),
        quote_asset_id=r.nonblank("quote_asset_id", "usd", shape="an asset id such as \"usd\""),
        api_base=r.url("api_base", "https://api.mixpay.me/v1"),
        checkout_base=r.url("checkout_base", "https://mixpay.me"),
    )
    if r.selected:
        why = 'payment.gateway = "mixpay" needs it'
        r.require("payee_id", config.payee_id, f"{why} (the MixPay account that receives payments)")
        r.require("settlement_asset_id", config.settlement_asset_id, why)
        r.refuse_placeholders(
            config.api_base,
            ids=(("payee_id", config.payee_id, "your MixPay payee id"),
                 ("settlement_asset_id", config.settlement_asset_id,
                  "the MixPay asset id you are paid in")),
            urls=(("api_base", config.api_base, "MixPay's API (https://api.mixpay.me/v1)"),
                  ("checkout_base", config.checkout_base,
                   "MixPay's checkout (https://mixpay.me)")))
    return config
