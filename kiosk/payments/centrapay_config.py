"""``[payment.centrapay]``: the Centrapay client's (``centrapay.py``) config section.

Free of httpx, like every section: ``kiosk check-config`` and the first-boot import read it.
The API key belongs in the secrets file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.config.gateway import GatewayReader


@dataclass(frozen=True)
class CentrapayConfig:
    api_base: str = "https://service.centrapay.com"
    config_id: str = ""
    api_key: str = field(default="", repr=False)


def read_centrapay_config(r: GatewayReader) -> CentrapayConfig:
    config = CentrapayConfig(
        api_base=r.url("api_base", "https://service.centrapay.com"),
        config_id=r.str_("config_id"),
        api_key=r.secret("api_key"),
    )
    if r.selected:
        why = 'payment.gateway = "centrapay" needs it'
        r.require("config_id", config.config_id, why)
        r.require_secret("api_key", config.api_key, why)
        r.refuse_placeholders(
            config.api_base,
            ids=(("config_id", config.config_id, "your Centrapay payment config id"),
                 ("api_key", config.api_key, "your Centrapay API key")),
            urls=(("api_base", config.api_base,
                   "Centrapay's API (https://service.centrapay.com)"),))
    return config
