"""``[vend.gpio]``: the GPIO driver's (``hardware/gpio.py``) config section.

Free of gpiozero, like every section: the kiosk reads it on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.config_section import WAIT_MAX_S, SectionReader

WIRINGS = ("direct", "matrix")
PIN_MIN, PIN_MAX = 0, 27        # BCM numbers of the Pi's header
PIN_KEYS = ("motor_pins", "row_pins", "column_pins", "home_pin", "drop_pin")
# What a slot's motor number is checked against: with a problem here, it cannot be.
WIRING_KEYS = ("wiring", *PIN_KEYS[:3])


@dataclass(frozen=True)
class GpioConfig:
    wiring: str = "direct"
    motor_pins: tuple[int, ...] = ()
    row_pins: tuple[int, ...] = ()
    column_pins: tuple[int, ...] = ()
    home_pin: int | None = None
    drop_pin: int | None = None
    active_high: bool = True
    turn_timeout_s: float = 8.0
    drop_timeout_s: float = 3.0


def read_gpio_config(r: SectionReader) -> GpioConfig:
    pins = {"lo": PIN_MIN, "hi": PIN_MAX}
    config = GpioConfig(
        wiring=r.choice("wiring", "direct", WIRINGS),
        motor_pins=r.int_list("motor_pins", **pins),
        row_pins=r.int_list("row_pins", **pins),
        column_pins=r.int_list("column_pins", **pins),
        home_pin=r.opt_int("home_pin", **pins),
        drop_pin=r.opt_int("drop_pin", **pins),
        active_high=r.bool_("active_high", True),
        turn_timeout_s=r.number("turn_timeout_s", 8.0, positive=True, hi=WAIT_MAX_S),
        drop_timeout_s=r.number("drop_timeout_s", 3.0, positive=True, hi=WAIT_MAX_S),
    )
    _check_pin_reuse(r, config)
    if r.selected:
        _require_wiring(r, config)
    return config


def motor_problems(config: GpioConfig, numbers: tuple[int, ...]) -> list[str]:
    """What is wrong with a slot's motor (``(3,)`` or ``(2, 3)``, 1-based) on this wiring."""
    if config.wiring == "direct":
        if len(numbers) != 1:
            return ['wiring = "direct" takes a motor number like 3, not "row,column"']
        if config.motor_pins and numbers[0] > len(config.motor_pins):
            return [f"motor {numbers[0]} does not exist: vend.gpio.motor_pins lists "
                    f"{len(config.motor_pins)} pins"]
        return []
    if len(numbers) != 2:
        return ['wiring = "matrix" takes "row,column" like "2,3", not a single number']
    return [f"{what} {number} does not exist: vend.gpio.{what}_pins lists {len(pins)} pins"
            for number, pins, what in ((numbers[0], config.row_pins, "row"),
                                       (numbers[1], config.column_pins, "column"))
            if pins and number > len(pins)]


def _check_pin_reuse(r: SectionReader, config: GpioConfig) -> None:
    used: dict[int, str] = {}
    for key in PIN_KEYS:
        value: tuple[int, ...] | int | None = getattr(config, key)
        pins = value if isinstance(value, tuple) else () if value is None else (value,)
        for pin in pins:
            if pin in used:
                where = "earlier in the same list" if used[pin] == key else f"by {used[pin]}"
                r.error(key, f"GPIO {pin} is already used {where}; each pin can do one job")
            used.setdefault(pin, key)


def _require_wiring(r: SectionReader, config: GpioConfig) -> None:
    why = 'vend.driver = "gpio" needs it'
    if config.wiring == "direct" and r.ok("wiring"):
        r.require("motor_pins", config.motor_pins,
                  f'{why} with wiring = "direct" (one pin per motor)')
    elif config.wiring == "matrix":
        r.require("row_pins", config.row_pins, f'{why} with wiring = "matrix"')
        r.require("column_pins", config.column_pins, f'{why} with wiring = "matrix"')
    r.require("home_pin", config.home_pin, f"{why} (the motors' cam switch)")
    r.require("drop_pin", config.drop_pin, f"{why} (the drop beam across the delivery bin)")
