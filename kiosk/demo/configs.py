"""The demo's config files: one catalogue, a payment table per gateway, all on the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

from kiosk.sim import Sandbox

CURRENCY = {"mixpay": "USD", "wctpay": "USD", "centrapay": "NZD", "lnbits": "USD"}

MACHINE = """\
# Written by `kiosk demo`: the {gateway} sandbox on loopback and a simulated machine.
[machine]
id = "demo-0001"
currency = "{currency}"
locale = "en"
data_dir = "{data_dir}"
# The demo runs on this computer's clock, synchronised or not.
wait_for_time_sync = false

[display]
fullscreen = false

[payment]
gateway = "{gateway}"
timeout_s = {window_s}
choose_asset = true
assets = {assets}
poll_interval_s = 1.0
"""

PAYMENT = {
    "mixpay": """
[payment.mixpay]
payee_id = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"
settlement_asset_id = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
quote_asset_id = "usd"
api_base = "{api_base}/v1"
checkout_base = "{public_base}"
""",
    "wctpay": """
[payment.wctpay]
api_base = "{api_base}"
settlement_asset = "USD"
""",
    "centrapay": """
[payment.centrapay]
api_base = "{api_base}"
config_id = "sandbox-config"
""",
    "lnbits": """
[payment.lnbits]
api_base = "{api_base}"
wallet_id = "sandbox-wallet"
fixed_rate = "1000"          # sats per USD: a demo's round figure, not a market rate
""",
}

ASSETS = {"mixpay": '["BTC", "ETH", "USDT", "LTC"]', "wctpay": '["BTC", "LTC", "USDT-TRC20"]',
          "centrapay": "[]", "lnbits": "[]"}

# The sandbox's own demo credentials; real ones never leave secrets.toml (mode 0600).
SECRETS = {
    "mixpay": "",
    "wctpay": '[payment.wctpay]\nkey = "sandbox-key"\napi_secret = "sandbox-secret"\n',
    "centrapay": '[payment.centrapay]\napi_key = "sandbox-key"\n',
    "lnbits": '[payment.lnbits]\ninvoice_key = "sandbox-invoice-key"\n',
}

SLOTS = (("A1", "Sparkling water", "2.50", "water.png"),
         ("A2", "Cola", "2.00", "cola.png"),
         ("A3", "Sea salt crisps", "1.75", "crisps.png"),
         ("A4", "Dark chocolate bar", "1.50", "chocolate.png"),
         ("B1", "Cold brew coffee", "3.20", "coffee.png"),
         ("B2", "Orange juice", "2.80", "juice.png"))
FAULTY_SLOT = "A4"   # the demo's broken slot: every driver fails its vend
MDB_ITEM_BASE = 11   # slot n (1-based) is item 10 + n on the simulated machine's keypad

# How each demo driver is configured; "{port}" is the simulated MDB bridge's sim:// URL.
VEND = {
    "simulated": """
[vend]
driver = "simulated"

[vend.simulated]
faults = {{ A4 = "jam" }}
turn_time_s = 0.5
""",
    "gpio-mock": """
[vend]
driver = "gpio"

[vend.gpio]
wiring = "direct"
motor_pins = [5, 6, 13, 19, 26, 12]
home_pin = 20
drop_pin = 21
turn_timeout_s = 1.5
drop_timeout_s = 0.5
""",
    "mdb-sim": """
[vend]
driver = "mdb"

[vend.mdb]
port = "{port}"
patience_s = 60
""",
}


def _slots(driver: str) -> str:
    wiring = {"gpio-mock": "motor = {n}\n", "mdb-sim": "mdb_item = {item}\n"}.get(driver, "")
    return "".join(
        f'\n[[slot]]\nid = "{slot}"\nname = "{name}"\nprice = "{price}"\nstock = 8\n'
        f'image = "{image}"\n' + wiring.format(n=n, item=MDB_ITEM_BASE + n - 1)
        for n, (slot, name, price, image) in enumerate(SLOTS, 1))


def write_demo_config(data_dir: Path, gateway: str, driver: str, sandbox: Sandbox,
                      window_s: int, mdb_port: str = "", fleet: str = "") -> Path:
    """Write ``kiosk.toml`` (and ``secrets.toml``) into ``data_dir``; return the config path.
    ``fleet``: a ``[fleet]`` table to add (the demo console's broker and key), or nothing."""
    text = MACHINE.format(gateway=gateway, currency=CURRENCY[gateway], data_dir=data_dir,
                          window_s=window_s, assets=ASSETS[gateway])
    text += PAYMENT[gateway].format(api_base=sandbox.base(gateway),
                                    public_base=sandbox.base(gateway, public=True))
    text += VEND[driver].format(port=mdb_port) + _slots(driver) + fleet
    path = data_dir / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    secrets = data_dir / "secrets.toml"
    secrets.write_text(SECRETS[gateway], encoding="utf-8")
    os.chmod(secrets, 0o600)
    return path
