"""WCT Pay's coins as the operator writes them: ``BTC``, ``BTC-LN``, ``USDT-TRC20``.

One allow-list entry is a coin and maybe a network; ``LN`` is the kiosk's own suffix for
Bitcoin paid by Lightning (WCT is asked for plain ``BTC`` either way). The client's module doc,
``kiosk.payments.wctpay``, says more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiosk.payments.base import Asset

_ENTRY = re.compile(r"[A-Z0-9]{1,16}(-[A-Z0-9]{1,16})?")
_NAMES = {   # display names only; an unknown coin shows its symbol
    # Bitcoin is named by how it pays: a Lightning wallet cannot pay an address, nor the reverse.
    "BTC": ("Bitcoin", "Bitcoin (on-chain)"), "LTC": ("Litecoin", "Litecoin"),
    "DOGE": ("Dogecoin", "Dogecoin"), "BCH": ("Bitcoin Cash", "Bitcoin Cash"),
    "ETH": ("Ether", "Ethereum"), "XRP": ("XRP", "XRP Ledger"), "XLM": ("Stellar", "Stellar"),
    "SOL": ("Solana", "Solana"), "TRX": ("TRON", "Tron"), "USDT": ("Tether USD", "Ethereum"),
    "USDC": ("USD Coin", "Ethereum"),
}
LIGHTNING = "LN"                    # the network suffix of Bitcoin paid by Lightning: "BTC-LN"
_NETWORKS = {"TRC20": "Tron", "ERC20": "Ethereum", "BEP20": "BNB Smart Chain", "SPL": "Solana",
             "POLYGON": "Polygon"}


@dataclass(frozen=True)
class WctCoin:
    """One allow-list entry: ``USDT-TRC20`` -> requested_asset USDT, network TRC20."""

    entry: str
    asset: str
    network: str | None

    @classmethod
    def parse(cls, entry: str) -> WctCoin:
        entry = entry.strip().upper()
        if not _ENTRY.fullmatch(entry):
            raise ValueError(f"wctpay: {entry!r} is not a coin such as BTC or USDT-TRC20")
        asset, _, network = entry.partition("-")
        if network == LIGHTNING and asset != "BTC":
            raise ValueError(f"wctpay: {entry!r}: only BTC pays by Lightning (BTC-LN)")
        return cls(entry, asset, network or None)

    @property
    def lightning(self) -> bool:
        return self.network == LIGHTNING

    @property
    def requested_network(self) -> str | None:
        """What WCT is told in ``requested_asset_network``: Lightning is not a WCT network."""
        return None if self.lightning else self.network

    def as_asset(self) -> Asset:
        name, network = _NAMES.get(self.asset, (self.asset, self.asset))
        if self.lightning:
            network = "Lightning"
        elif self.network is not None:
            network = _NETWORKS.get(self.network, self.network)
        return Asset(symbol=self.asset, name=name, network=network, asset_id=self.entry)
