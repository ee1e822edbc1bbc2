"""The restock pick list: how many of each item to bring to fill every slot back up.

A slot's capacity is not in the machine's state, so it is taken as the most ever seen in it:
the largest of its stock now and every stock count in its operator events over the last
``CAPACITY_WINDOW`` (``restock`` and ``set_full`` from the machine's menu, ``stock_set`` from
the console: each has the new ``stock`` and the ``was`` before). A slot that reports its own
``capacity`` (a future state field) uses that instead. Slots the operator disabled on purpose
are left out: nobody means to fill them; a slot disabled by a fault (a jam) is still listed,
as the round that fixes it will fill it too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..model import Slot

CAPACITY_WINDOW = timedelta(days=90)
STOCK_EVENTS = ("restock", "set_full", "stock_set")


def capacities(slots: Iterable[Slot], events: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Per slot id of one machine: its capacity, by the rule above."""
    seen: dict[str, int] = {}
    declared: dict[str, int] = {}
    for slot in slots:
        seen[slot.slot] = max(slot.stock, 0)
        capacity = getattr(slot, "capacity", None)
        if isinstance(capacity, int) and not isinstance(capacity, bool) and capacity > 0:
            declared[slot.slot] = capacity
    for event in events:
        detail = event.get("detail")
        if event.get("group") != "operator" or event.get("kind") not in STOCK_EVENTS \
                or not isinstance(detail, Mapping):
            continue
        slot_id = detail.get("slot")
        if not isinstance(slot_id, str) or slot_id not in seen:
            continue
        for key in ("stock", "was"):
            count = detail.get(key)
            if isinstance(count, int) and not isinstance(count, bool):
                seen[slot_id] = max(seen[slot_id], count)
    return seen | declared


@dataclass(frozen=True)
class PickLine:
    machine: str
    slot: str
    item: str
    stock: int
    capacity: int
    bring: int


@dataclass(frozen=True)
class PickList:
    lines: list[PickLine]                      # every slot that needs something
    per_machine: dict[str, list[PickLine]]
    totals: list[tuple[str, int]]              # (item, units) over the whole round


def pick_list(slots: Iterable[Slot], capacity: Mapping[tuple[str, str], int]) -> PickList:
    """``capacity`` by (machine, slot)."""
    lines = []
    for slot in slots:
        if not slot.enabled and slot.disabled_reason == "operator":
            continue
        full = capacity.get((slot.machine, slot.slot), slot.stock)
        bring = max(full - max(slot.stock, 0), 0)
        if bring:
            lines.append(PickLine(slot.machine, slot.slot, slot.name, slot.stock, full, bring))
    per_machine: dict[str, list[PickLine]] = defaultdict(list)
    units: dict[str, int] = defaultdict(int)
    for line in lines:
        per_machine[line.machine].append(line)
        units[line.item] += line.bring
    return PickList(lines, dict(per_machine), sorted(units.items()))
