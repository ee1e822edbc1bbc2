"""Builds the kiosk's parts from a validated config: gateway, vend driver, flow and runtime."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from hardware.base import VendDriver, VendRequest
from hardware.restartable import RestartableDriver
from hardware.sim.driver import SimulatedDriver
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.flow import Flow, FlowSettings, Product, initial_state
from kiosk.journal import Journal
from kiosk.money import minor_exponent
from kiosk.payments.base import Gateway
from kiosk.payments.centrapay import CentrapayGateway
from kiosk.payments.lnbits import LnbitsGateway
from kiosk.payments.lnbits_rate import FixedRate
from kiosk.payments.mixpay import MixPayGateway
from kiosk.payments.wctpay import WctPayGateway
from kiosk.runtime import STARTING_UP, Runtime, SlotWiring
from kiosk.time_sync import kernel_time_synced


class NotAvailable(KioskError):
    """The config asks for a gateway or driver this version does not have yet."""


def build_gateway(config: Config) -> Gateway:
    payment = config.payment
    if payment.gateway == "mixpay" and payment.mixpay is not None:
        mixpay = payment.mixpay
        return MixPayGateway(payee_id=mixpay.payee_id,
                             settlement_asset_id=mixpay.settlement_asset_id,
                             quote_asset_id=mixpay.quote_asset_id, api_base=mixpay.api_base,
                             checkout_base=mixpay.checkout_base,
                             asset_allow_list=payment.assets)
    if payment.gateway == "wctpay" and payment.wctpay is not None:
        wct = payment.wctpay
        return WctPayGateway(api_base=wct.api_base, key=wct.key, api_secret=wct.api_secret,
                             settlement_asset=wct.settlement_asset, assets=payment.assets)
    if payment.gateway == "centrapay" and payment.centrapay is not None:
        centrapay = payment.centrapay
        return CentrapayGateway(api_base=centrapay.api_base, config_id=centrapay.config_id,
                                api_key=centrapay.api_key, machine_id=config.machine.id)
    lnbits = payment.lnbits
    if payment.gateway == "lnbits" and lnbits is not None and lnbits.fixed_rate is not None:
        return LnbitsGateway(api_base=lnbits.api_base, wallet_id=lnbits.wallet_id,
                             invoice_key=lnbits.invoice_key,
                             rates=FixedRate(lnbits.fixed_rate))
    raise NotAvailable(f"payment gateway {payment.gateway!r} is not configured")


def build_driver(config: Config) -> VendDriver:
    vend = config.vend
    if vend.driver == "gpio":
        from hardware.gpio import GpioDriver  # gpiozero picks its pin factory on first use

        gpio = vend.gpio
        home_pin, drop_pin = gpio.home_pin, gpio.drop_pin
        assert home_pin is not None and drop_pin is not None  # config checked it
        # A Pi without its GPIO (or a pin factory that will not load) is a driver not ready
        # yet, out of service with the reason, never a traceback.
        return RestartableDriver("GPIO", lambda: GpioDriver(
            wiring=gpio.wiring, motor_pins=gpio.motor_pins, row_pins=gpio.row_pins,
            column_pins=gpio.column_pins, home_pin=home_pin, drop_pin=drop_pin,
            active_high=gpio.active_high, turn_timeout_s=gpio.turn_timeout_s,
            drop_timeout_s=gpio.drop_timeout_s))
    if vend.driver == "mdb":
        from hardware.mdb import MdbDriver

        mdb = vend.mdb
        return RestartableDriver("MDB bridge", lambda: MdbDriver(
            port=mdb.port, baudrate=mdb.baudrate, address=mdb.address,
            patience_s=mdb.patience_s, deny_command=mdb.deny_command,
            selection_timeout_s=mdb.selection_timeout_s,
            dispense_timeout_s=mdb.dispense_timeout_s, setconf=mdb.setconf,
            vend_failure_prefixes=mdb.failure_prefixes,
            decimal_places=minor_exponent(config.machine.currency)))
    return SimulatedDriver(vend.simulated.faults, turn_time_s=vend.simulated.turn_time_s)


def vend_request(config: Config, slot_id: str, price_minor: int) -> VendRequest:
    """What the vend driver needs to dispense from ``slot_id`` (its wiring from config)."""
    slot = config.slot(slot_id)
    return VendRequest(slot.id, price_minor, slot.motor, slot.mdb_item)


def products(config: Config) -> tuple[Product, ...]:
    return tuple(Product(s.id, s.name, s.price, s.image, s.mdb_item) for s in config.slots)


def _vend_backstop_s(config: Config) -> float:
    """The flow's last resort must not cut short a vend the driver still times itself."""
    default = FlowSettings.vend_backstop_s
    if config.vend.driver != "mdb":
        return default
    mdb = config.vend.mdb
    return max(default, mdb.selection_timeout_s + mdb.dispense_timeout_s + 30.0)


def build_runtime(config: Config, on_sale_finished: Callable[[dict[str, Any]], None], *,
                  gateway: Gateway | None = None, driver: VendDriver | None = None,
                  clock: Callable[[], float] = time.monotonic,
                  wall_clock: Callable[[], float] = time.time) -> Runtime:
    gateway = gateway or build_gateway(config)
    settings = FlowSettings(currency=config.machine.currency, gateway=gateway.name,
                            choose_asset=config.payment.choose_asset
                            and gateway.offers_asset_choice,
                            payment_window_s=config.payment.timeout_s,
                            auto_refund=gateway.can_refund,
                            keypad_patience_s=config.vend.mdb.patience_s
                            if config.vend.driver == "mdb" else None,
                            vend_backstop_s=_vend_backstop_s(config))
    flow = Flow(settings, new_tx_id=lambda: str(uuid.uuid4()))
    stock = {s.id: s.stock for s in config.slots}
    # Until the journal has been read, nothing is for sale: stock may have changed since.
    now = clock()
    state = initial_state(products(config), {}, frozenset(), STARTING_UP, now,
                          wall_offset_s=wall_clock() - now)
    wiring = {s.id: SlotWiring(s.motor, s.mdb_item) for s in config.slots}
    return Runtime(flow, state, gateway=gateway,
                   driver=driver or build_driver(config),
                   journal=Journal.open_in(config.machine.data_dir, verify=True),
                   wiring=wiring,
                   initial_stock=stock,
                   poll_interval_s=config.payment.poll_interval_s or gateway.poll_interval_s,
                   on_sale_finished=on_sale_finished, clock=clock, wall_clock=wall_clock,
                   operator_pin_hash=config.operator.pin_hash,
                   failures_to_disable=config.vend.failures_to_disable,
                   refund_give_up_s=config.payment.refund_give_up_h * 3600.0,
                   # the machine's word on a vend approved before a restart counts this long
                   late_result_window_s=config.vend.mdb.dispense_timeout_s + 30.0,
                   time_synced=kernel_time_synced if config.machine.wait_for_time_sync else None)
