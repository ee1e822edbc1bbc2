"""The whole document: ``Config``, the order its tables are read in, and the rules that join
tables (a slot's motor and the GPIO wiring, simulated faults and the slot ids, a gateway and the
machine's currency). What the reader must know of the schema, the secret keys and every name,
is derived here from the dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hardware.sim.driver_config import SimulatedConfig
from kiosk.config.machine import DisplayConfig, MachineConfig, read_display, read_machine
from kiosk.config.reader import Ctx, Reader, Schema
from kiosk.config.secrets import secret
from kiosk.config.sections import PaymentConfig, VendConfig, check_gateway, read_payment, \
    read_vend, sections
from kiosk.config.slots import SlotConfig, read_slots
from kiosk.config.words import suggest
from kiosk.errors import ConfigIssue
from kiosk.config.fleet import FleetConfig, read_fleet
from kiosk.operator_pin import pin_hash_problem


@dataclass(frozen=True)
class OperatorConfig:
    pin_hash: str = field(default="", repr=False)


@dataclass(frozen=True)
class Config:
    path: Path
    machine: MachineConfig
    display: DisplayConfig
    payment: PaymentConfig
    vend: VendConfig
    slots: tuple[SlotConfig, ...]
    operator: OperatorConfig
    fleet: FleetConfig | None = None     # None: no [fleet] table, no fleet link
    # Problems that do not stop the kiosk but should be fixed (kiosk check-config, selftest).
    warnings: tuple[ConfigIssue, ...] = field(default=(), compare=False)

    def slot(self, slot_id: str) -> SlotConfig:
        """The slot with this id; ``KeyError`` if the config has none."""
        for slot in self.slots:
            if slot.id == slot_id:
                return slot
        raise KeyError(slot_id)


def _tables() -> dict[str, type[Any]]:
    """Every table of the schema and its dataclass, in the order of the document."""
    tables: dict[str, type[Any]] = {"machine": MachineConfig, "display": DisplayConfig}
    for name, cls in (("payment", PaymentConfig), ("vend", VendConfig)):
        tables[name] = cls
        tables |= {f"{name}.{sub}": section.cls for sub, section in sections(cls).items()}
    return tables | {"slot": SlotConfig, "operator": OperatorConfig, "fleet": FleetConfig}


TABLES = _tables()
# Keys whose values are never echoed; the only keys the secrets file may hold: the fields a
# dataclass hides from repr (field(repr=False)).
SECRET_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    table: keys for table, cls in TABLES.items()
    if (keys := tuple(f.name for f in fields(cls) if not f.repr))
})
SCHEMA = Schema(SECRET_KEYS, frozenset(
    [f.name for cls in (*TABLES.values(), Config) for f in fields(cls)] + ["slot"]))


def build(ctx: Ctx, doc: Mapping[str, Any], path: Path) -> Config:
    top = Reader(ctx, doc, "", True)
    machine_reader = top.sub("machine")
    machine = read_machine(machine_reader, path.parent)
    display = read_display(top.sub("display"))
    payment = read_payment(top.sub("payment"))
    vend_reader = top.sub("vend")
    vend = read_vend(vend_reader)
    currency = machine.currency if machine_reader.ok("currency") else None
    driver = vend.driver if vend_reader.ok("driver") else None
    slots = read_slots(top, currency, driver, vend.gpio)
    _check_faults(ctx, vend.simulated, slots)
    check_gateway(ctx, payment, currency)
    operator = _operator(top.sub("operator"))
    fleet = read_fleet(top.sub("fleet"), path.parent)
    top.finish()
    return Config(path, machine, display, payment, vend, slots, operator, fleet,
                  tuple(ctx.warnings))


def _check_faults(ctx: Ctx, simulated: SimulatedConfig, slots: tuple[SlotConfig, ...]) -> None:
    ids = list(dict.fromkeys(slot.id for slot in slots if slot.id))
    for slot_id in simulated.faults:
        if ids and slot_id not in ids:
            hint = suggest(slot_id, ids)
            ctx.error("vend.simulated", "faults", f'slot "{slot_id}" is not a configured slot id '
                      f"(slots: {', '.join(ids)})" + (f"; {hint}" if hint else ""))


def _operator(r: Reader) -> OperatorConfig:
    config = OperatorConfig(pin_hash=secret(r, "pin_hash"))
    problem = pin_hash_problem(config.pin_hash) if config.pin_hash else ""
    if problem:
        secrets = r.ctx.secrets
        where = secrets.file if (r.table, "pin_hash") in secrets.values else ""
        r.ctx.warn(r.table, "pin_hash", f"{problem}; set the PIN again with kiosk set-pin", where)
    r.finish()
    return config
