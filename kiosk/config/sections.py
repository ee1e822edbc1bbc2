"""The registry: ``[payment]`` with one line per gateway, ``[vend]`` with one line per driver.

Each gateway and driver declares its own section beside its code, as Klipper's modules read
their own config sections: ``kiosk/payments/<gateway>_config.py`` and
``hardware/<driver>_config.py`` hold its frozen dataclass and the function that reads its
table. ``PaymentConfig`` and ``VendConfig`` below are the one place that lists them: a field per
gateway (``[payment.<name>]``) or driver (``[vend.<name>]``), naming that dataclass and that
function. The field's name is the table's and the name ``payment.gateway`` or ``vend.driver``
selects; the fields' order is the order their tables are read and their problems listed;
the choices are offered with the default first, then in that order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from hardware.config_section import SectionReader
from hardware.gpio_config import GpioConfig, read_gpio_config
from hardware.mdb_config import MdbConfig, read_mdb_config
from hardware.sim.driver_config import SimulatedConfig, read_simulated_config
from kiosk.config.gateway import GatewayReader
from kiosk.config.reader import Ctx, Reader
from kiosk.config.secrets import secrets_present
from kiosk.payments.centrapay_config import CentrapayConfig, read_centrapay_config
from kiosk.payments.lnbits_config import LnbitsConfig, read_lnbits_config
from kiosk.payments.mixpay_config import MixPayConfig, read_mixpay_config
from kiosk.payments.wctpay_config import WctPayConfig, read_wctpay_config, wctpay_currency_problems

_C = TypeVar("_C")
_SECTION = "kiosk.config.section"    # the field's metadata key


@dataclass(frozen=True)
class Section:
    """One gateway's or driver's table: its dataclass and the function that reads it; for a
    gateway, what it asks of other tables when it is the one in use."""

    cls: type[Any]
    read: Callable[[Any], object]
    needs_assets: bool = False          # [payment] assets must list the coins to offer
    # (key, problem) pairs of its table against the machine's currency
    currency_problems: Callable[[Any, str], list[tuple[str, str]]] | None = None


def gateway_section(cls: type[_C], read: Callable[[GatewayReader], _C], *,
                    needs_assets: bool = False,
                    currency_problems: Callable[[_C, str], list[tuple[str, str]]] | None = None,
                    ) -> _C | None:
    """A ``[payment.<name>]`` table: ``None`` when neither the config nor the secrets file
    has it."""
    section = Section(cls, read, needs_assets, currency_problems)
    return field(default=None, metadata={_SECTION: section})


def driver_section(cls: type[_C], read: Callable[[SectionReader], _C]) -> _C:
    """A ``[vend.<name>]`` table: the defaults when the config does not have it."""
    return field(default_factory=cls, metadata={_SECTION: Section(cls, read)})


@dataclass(frozen=True)
class PaymentConfig:
    gateway: str = "mixpay"
    timeout_s: int = 180
    choose_asset: bool = True
    assets: tuple[str, ...] = ()
    poll_interval_s: float | None = None   # None: the gateway's own recommended pace
    refund_give_up_h: int = 72             # a refund unconfirmed this long becomes a claim
    insecure_http: bool = False            # allow http:// gateways off this machine (dangerous)
    # The gateways: [payment.<name>], read beside the client (kiosk/payments/<name>_config.py).
    mixpay: MixPayConfig | None = gateway_section(MixPayConfig, read_mixpay_config)
    wctpay: WctPayConfig | None = gateway_section(WctPayConfig, read_wctpay_config,
                                                  needs_assets=True,
                                                  currency_problems=wctpay_currency_problems)
    centrapay: CentrapayConfig | None = gateway_section(CentrapayConfig, read_centrapay_config)
    lnbits: LnbitsConfig | None = gateway_section(LnbitsConfig, read_lnbits_config)


@dataclass(frozen=True)
class VendConfig:
    driver: str = "gpio"
    failures_to_disable: int = 2       # a slot failing this many vends in a row goes off sale
    # The drivers: [vend.<name>], read beside the driver (hardware/<name>_config.py).
    mdb: MdbConfig = driver_section(MdbConfig, read_mdb_config)
    gpio: GpioConfig = driver_section(GpioConfig, read_gpio_config)
    simulated: SimulatedConfig = driver_section(SimulatedConfig, read_simulated_config)


def sections(cls: type[Any]) -> dict[str, Section]:
    """The gateways of ``PaymentConfig`` or the drivers of ``VendConfig``, by name, in order."""
    return {f.name: f.metadata[_SECTION] for f in fields(cls) if _SECTION in f.metadata}


def _offered(cls: type[Any], default: str) -> tuple[str, ...]:
    return (default, *(name for name in sections(cls) if name != default))


GATEWAYS = _offered(PaymentConfig, PaymentConfig.gateway)    # (..., "centrapay", "lnbits")
DRIVERS = _offered(VendConfig, VendConfig.driver)            # ("gpio", "mdb", "simulated")


def read_payment(r: Reader) -> PaymentConfig:
    gateway = r.choice("gateway", PaymentConfig.gateway, GATEWAYS)
    selected = gateway if r.ok("gateway") else None
    insecure_http = r.bool_("insecure_http", False)   # read first: the gateways' URLs need it
    values: dict[str, Any] = dict(
        gateway=gateway,
        timeout_s=r.int_("timeout_s", 180, lo=15, hi=3600),
        choose_asset=r.bool_("choose_asset", True),
        assets=r.str_list("assets"),
        # absent (or invalid, already reported) reads as 0.0: use the gateway's own pace
        poll_interval_s=r.number("poll_interval_s", 0.0, lo=0.2, hi=60) or None,
        refund_give_up_h=r.int_("refund_give_up_h", 72, lo=1, hi=24 * 90),
        insecure_http=insecure_http,
    )
    gateways = sections(PaymentConfig)
    for name, section in gateways.items():
        table = GatewayReader(r.sub(name, selected=selected == name), insecure_http=insecure_http)
        read_gateway: Callable[[GatewayReader], object] = section.read
        config = read_gateway(table)
        table.finish()
        values[name] = config if secrets_present(table) else None
    if selected is not None and gateways[selected].needs_assets:
        r.require("assets", values["assets"],
                  f'gateway "{selected}" needs the coins to offer, e.g. assets = ["BTC", "USDT"]')
    r.finish()
    return PaymentConfig(**values)


def read_vend(r: Reader) -> VendConfig:
    driver = r.choice("driver", VendConfig.driver, DRIVERS)
    selected = driver if r.ok("driver") else None
    values: dict[str, Any] = dict(
        driver=driver,
        failures_to_disable=r.int_("failures_to_disable", 2, lo=1, hi=100),
    )
    for name, section in sections(VendConfig).items():
        table = r.sub(name, selected=selected == name)
        read_driver: Callable[[SectionReader], object] = section.read   # Reader is one
        values[name] = read_driver(table)
        table.finish()
    r.finish()
    return VendConfig(**values)


def check_gateway(ctx: Ctx, payment: PaymentConfig, currency: str | None) -> None:
    """The gateway in use against the machine's currency (WCT Pay charges in its own)."""
    check = sections(PaymentConfig)[payment.gateway].currency_problems
    config = getattr(payment, payment.gateway)
    if check is None or config is None or currency is None:
        return
    for key, problem in check(config, currency):
        ctx.error(f"payment.{payment.gateway}", key, problem)
