"""The vending machine behind a demo: the simulated driver, or the real GPIO and MDB drivers
against their simulations (``--driver gpio-mock`` / ``--driver mdb-sim``).

Every variant has one broken slot (``FAULTY_SLOT``) so the demo shows a failed vend.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from hardware.base import VendDriver
from kiosk.config import Config
from kiosk.demo.configs import FAULTY_SLOT, MDB_ITEM_BASE, SLOTS
from kiosk.money import parse_decimal, to_minor

DRIVERS = ("simulated", "gpio-mock", "mdb-sim")


@dataclass
class DemoMachine:
    kind: str
    failing: dict[str, bool]          # slot -> whether its failure disables the slot
    mdb_port: str = ""
    _stack: ExitStack = field(default_factory=ExitStack)

    def driver_for(self, config: Config) -> VendDriver | None:
        """The driver to run, or None to let the config build it (simulated, MDB on sim://)."""
        if self.kind != "gpio-mock":
            return None
        from hardware.sim.gpio_machine import mock_gpio_driver

        gpio = config.vend.gpio
        assert gpio.home_pin is not None and gpio.drop_pin is not None
        motor = config.slot(FAULTY_SLOT).motor
        assert motor is not None
        # A jam before the spiral leaves home: the rest of the machine keeps selling.
        driver, machine = mock_gpio_driver(
            motor_pins=gpio.motor_pins, home_pin=gpio.home_pin, drop_pin=gpio.drop_pin,
            turn_timeout_s=gpio.turn_timeout_s, drop_timeout_s=gpio.drop_timeout_s,
            faults={motor: "jam_leaving"})
        self._stack.callback(machine.close)
        return driver


@contextmanager
def demo_machine(kind: str) -> Iterator[DemoMachine]:
    with ExitStack() as stack:
        if kind == "mdb-sim":
            from hardware.sim.mdb_bridge import close_simulated_bridge

            items = ",".join(f"{MDB_ITEM_BASE + n}:{to_minor(parse_decimal(price), 'USD')}"
                             for n, (_, _, price, _) in enumerate(SLOTS))
            faulty = MDB_ITEM_BASE + [s[0] for s in SLOTS].index(FAULTY_SLOT)
            # The config's port opens a simulated bridge in-process (pyserial's sim:// handler),
            # so the kiosk builds the real MDB driver from the config as on a real machine.
            port = f"sim://demo-{secrets.token_hex(4)}?items={items}&faults={faulty}:fail"
            stack.callback(close_simulated_bridge, port)
            # A failed MDB vend is the machine's own report: the slot stays on sale.
            machine = DemoMachine(kind, {FAULTY_SLOT: False}, port)
        else:
            machine = DemoMachine(kind, {FAULTY_SLOT: True})
        with machine._stack:
            yield machine
