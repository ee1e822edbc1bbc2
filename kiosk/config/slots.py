"""``[[slot]]``: what the kiosk sells, at what price, and which motor or MDB item dispenses it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from hardware.gpio_config import WIRING_KEYS, GpioConfig, motor_problems
from kiosk.config.reader import Reader
from kiosk.config.words import is_int
from kiosk.money import parse_decimal, price_problem

STOCK_MAX = 1_000_000
_SLOT_ID = re.compile(r"[A-Za-z0-9_-]{1,8}")
_PRICE_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_MATRIX_MOTOR = re.compile(r"\s*([0-9]+)\s*,\s*([0-9]+)\s*")


@dataclass(frozen=True)
class SlotConfig:
    id: str
    name: str
    price: Decimal
    stock: int = 0
    image: str = ""
    motor: str | None = None          # "3" (direct wiring) or "2,3" (matrix row,column), 1-based
    mdb_item: int | None = None


def read_slots(top: Reader, currency: str | None, driver: str | None,
               gpio: GpioConfig) -> tuple[SlotConfig, ...]:
    value = top.raw("slot")
    if value is None or value == []:
        top.error("slot", "at least one [[slot]] is required: the kiosk has nothing to sell")
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        hint = "write [[slot]], with double brackets, above each slot" if isinstance(value, dict) \
            else ""
        top.wrong("slot", "[[slot]] tables", value, hint)
        return ()
    slots: list[SlotConfig] = []
    ids: dict[str, int] = {}
    items: dict[int, str] = {}
    for index, data in enumerate(value):
        r = Reader(top.ctx, data, f"slot[{index}]", True)
        slots.append(_slot(r, index, ids, items, currency, driver, gpio))
        r.finish()
    return tuple(slots)


def _slot(r: Reader, index: int, ids: dict[str, int], items: dict[int, str],
          currency: str | None, driver: str | None, gpio: GpioConfig) -> SlotConfig:
    slot_id = r.str_("id", pattern=_SLOT_ID, shape='1 to 8 letters, digits, "_" or "-" (like "A1")')
    r.require("id", slot_id, 'every slot needs an id like "A1"')
    if slot_id in ids:
        r.error("id", f'duplicate slot id "{slot_id}": slot[{ids[slot_id]}] already uses it')
    elif slot_id:
        ids[slot_id] = index
    if slot_id:
        r.context = f' (slot "{slot_id}")'
    name = r.line("name", shape="a name to show customers")
    r.require("name", name.strip(), "every slot needs a name to show customers")
    price = _price(r, currency)
    stock = r.int_("stock", 0, lo=0, hi=STOCK_MAX)
    image = r.line("image", shape="an image file name")
    motor = _motor(r, gpio if driver == "gpio" else None)
    mdb_item = _mdb_item(r, items, slot_id)
    return SlotConfig(slot_id, name, price, stock, image, motor, mdb_item)


def _price(r: Reader, currency: str | None) -> Decimal:
    """A positive ``Decimal`` from a TOML string or integer; never through a float."""
    value = r.raw("price")
    if value is None:
        r.require("price", None, 'every slot needs a price, e.g. price = "2.50"')
    elif isinstance(value, float):
        example = f"{Decimal(repr(value)):f}" if math.isfinite(value) and value > 0 else "2.50"
        r.error("price", f'found float {value}: write the price as a quoted string, '
                         f'price = "{example}", because floats cannot hold money exactly')
    elif is_int(value):
        return _positive_price(r, Decimal(value), str(value), currency)
    elif isinstance(value, str) and _PRICE_TEXT.fullmatch(value.strip()):
        return _positive_price(r, parse_decimal(value), f'"{value}"', currency)
    else:
        r.wrong("price", 'a price written as a quoted string like "2.50"', value)
    return Decimal(0)


def _positive_price(r: Reader, price: Decimal, shown: str, currency: str | None) -> Decimal:
    problem = price_problem(price, shown, currency)
    if problem:
        r.error("price", problem)
        return Decimal(0)
    return price


def _motor(r: Reader, gpio: GpioConfig | None) -> str | None:
    """``3`` or ``"2,3"`` -> ``"3"`` / ``"2,3"``; checked against the wiring when driving GPIO."""
    value = r.raw("motor")
    match = _MATRIX_MOTOR.fullmatch(value) if isinstance(value, str) else None
    if value is None:
        if gpio is not None:
            r.require("motor", None, 'vend.driver = "gpio" needs the motor that turns this slot')
        return None
    if is_int(value) and value >= 1:
        numbers: tuple[int, ...] = (value,)
    elif match and int(match[1]) >= 1 and int(match[2]) >= 1:
        numbers = (int(match[1]), int(match[2]))
    else:
        r.wrong("motor", 'a motor number from 1 (like 3) or "row,column" from 1 (like "2,3")',
                value)
        return None
    # Unless the wiring itself is wrong, and already reported.
    if gpio is not None and all(r.ctx.ok("vend.gpio", key) for key in WIRING_KEYS):
        for problem in motor_problems(gpio, numbers):
            r.error("motor", problem)
    return ",".join(str(n) for n in numbers)


def _mdb_item(r: Reader, items: dict[int, str], slot_id: str) -> int | None:
    # Optional even with the MDB driver: an unmapped slot is matched by its price.
    item = r.opt_int("mdb_item", lo=0, hi=65535)
    if item is not None and item in items:
        r.error("mdb_item", f'item {item} is already used by slot "{items[item]}"')
    elif item is not None:
        items[item] = slot_id or r.table
    return item
