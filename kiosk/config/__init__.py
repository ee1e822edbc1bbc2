"""Strict TOML config loader: ``kiosk.toml`` (+ ``secrets.toml``) -> frozen dataclasses.

Klipper-style: every key is read through a typed, range-checked getter that records the read, and
whatever nobody read is reported as an unknown key. Nothing stops at the first problem: every issue
in both files is collected and raised at once as ``ConfigError``, each naming file, table and key.
Secret values are never echoed in a message.

    config = load_config("/etc/vending-kiosk/kiosk.toml")
    config.slot("A1").price          # Decimal("2.50")

The package, by job:

    reader.py    the one strict reader (typed getters, unknown keys, did-you-mean)
    words.py     how messages speak of values
    files.py     a file as a TOML document
    secrets.py   the secrets file and secret keys
    gateway.py   the reader a gateway's section gets (URLs, secrets, placeholders)
    sections.py  the registry: [payment] with one line per gateway, [vend] one per driver
    machine.py   [machine], [display]
    slots.py     [[slot]]
    fleet.py     [fleet]: the broker and the command key
    schema.py    Config, the order of the tables, the rules between them

Each gateway's and driver's own table is declared beside its code:
``kiosk/payments/<gateway>_config.py`` and ``hardware/<driver>_config.py``.
"""

from __future__ import annotations

from pathlib import Path

from hardware.gpio_config import GpioConfig
from hardware.mdb_config import MdbConfig
from hardware.sim.driver_config import SimulatedConfig
from kiosk.config.files import INT64_MAX, INT64_MIN, load_toml, parse_toml
from kiosk.config.machine import DisplayConfig, MachineConfig
from kiosk.config.reader import Ctx
from kiosk.config.schema import SCHEMA, SECRET_KEYS, Config, OperatorConfig, build
from kiosk.config.secrets import load_secrets
from kiosk.config.sections import DRIVERS, GATEWAYS, PaymentConfig, VendConfig
from kiosk.config.slots import SlotConfig
from kiosk.errors import ConfigError, ConfigIssue
from kiosk.payments.centrapay_config import CentrapayConfig
from kiosk.payments.mixpay_config import MixPayConfig
from kiosk.payments.wctpay_config import WctPayConfig

__all__ = [
    "DRIVERS", "GATEWAYS", "INT64_MAX", "INT64_MIN", "SECRET_KEYS",
    "CentrapayConfig", "Config", "ConfigError", "ConfigIssue", "DisplayConfig", "GpioConfig",
    "MachineConfig", "MdbConfig", "MixPayConfig", "OperatorConfig", "PaymentConfig",
    "SimulatedConfig", "SlotConfig", "VendConfig", "WctPayConfig",
    "load_config", "parse_toml",
]


def load_config(path: Path | str, secrets_path: Path | str | None = None) -> Config:
    """Load and validate ``path`` plus its secrets file; raise ``ConfigError`` listing every issue.

    Without ``secrets_path``, ``secrets.toml`` next to the config is used if it exists. Any
    document gives a ``Config`` or a ``ConfigError``, never another exception. What is worth
    fixing but does not stop the kiosk is in ``Config.warnings``.
    """
    file = str(path)
    issues: list[ConfigIssue] = []
    warnings: list[ConfigIssue] = []
    doc = load_toml(file, issues, redact=False)
    secrets = load_secrets(Path(path), secrets_path, SCHEMA, issues, warnings)
    if doc is None:
        raise ConfigError(issues)
    config = build(Ctx(file, issues, secrets, SCHEMA, warnings=warnings), doc, Path(path))
    if issues:
        raise ConfigError(issues)
    return config
