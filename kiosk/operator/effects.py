"""What goes out of the operator menu, for the runtime's workers, and the ``OpTransition`` a
step returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kiosk.operator.state import OperatorState


@dataclass(frozen=True)
class ReadLock:
    pass


@dataclass(frozen=True)
class CheckPin:
    pin: str


@dataclass(frozen=True)
class LoadSlots:
    pass


@dataclass(frozen=True)
class SetStock:
    slot_id: str
    stock: int
    kind: str = "restock"           # the operator event journalled: restock | set_full


@dataclass(frozen=True)
class EnableSlot:
    slot_id: str


@dataclass(frozen=True)
class LoadSales:
    pass


@dataclass(frozen=True)
class CheckStatus:
    pass


@dataclass(frozen=True)
class TestVend:
    slot_id: str


@dataclass(frozen=True)
class RecordOperator:
    kind: str                       # menu_opened | menu_closed
    detail: Mapping[str, Any] = field(default_factory=dict)


OpEffect = (ReadLock | CheckPin | LoadSlots | SetStock | EnableSlot | LoadSales | CheckStatus
            | TestVend | RecordOperator)


@dataclass(frozen=True)
class OpTransition:
    state: OperatorState
    effects: tuple[OpEffect, ...] = ()
