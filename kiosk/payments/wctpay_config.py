"""``[payment.wctpay]``: the WCT Pay client's (``wctpay.py``) config section.

Free of httpx, like every section: ``kiosk check-config`` and the first-boot import read it.
The key and the API secret belong in the secrets file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.config.gateway import GatewayReader


@dataclass(frozen=True)
class WctPayConfig:
    api_base: str = ""
    settlement_asset: str = "USD"
    key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)


def read_wctpay_config(r: GatewayReader) -> WctPayConfig:
    config = WctPayConfig(
        api_base=r.url("api_base", ""),
        settlement_asset=r.nonblank("settlement_asset", "USD",
                                    shape='an asset symbol such as "USD"'),
        key=r.secret("key"),
        api_secret=r.secret("api_secret"),
    )
    if r.selected:
        why = 'payment.gateway = "wctpay" needs it'
        r.require("api_base", config.api_base, f"{why} (the URL WCT Pay gave you at onboarding)")
        r.require_secret("key", config.key, why)
        r.require_secret("api_secret", config.api_secret, why)
        r.refuse_placeholders(
            config.api_base,
            ids=(("key", config.key, "your WCT Pay terminal API key"),
                 ("api_secret", config.api_secret, "your WCT Pay API secret")),
            urls=(("api_base", config.api_base, "the URL WCT Pay gave you at onboarding"),))
    return config


def wctpay_currency_problems(config: WctPayConfig, currency: str) -> list[tuple[str, str]]:
    """WCT Pay charges ``amount`` in its settlement asset: it must be the price currency."""
    if config.settlement_asset.upper() == currency:
        return []
    return [("settlement_asset", f'must be the machine currency "{currency}" (prices are '
                                 f'charged in it), found "{config.settlement_asset}"')]
