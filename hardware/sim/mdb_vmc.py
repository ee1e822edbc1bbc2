"""The vending machine controller (VMC) behind the simulated MDB bridge: its state, its
sessions and its simulated customer.

The VMC enables the reader on ``C,1`` (``c,STATUS,INACTIVE`` -> ``DISABLED`` -> ``ENABLED``)
and takes ``C,SETCONF`` only while disabled. After ``C,START,<amount>`` a simulated customer
presses an item: the next one given to ``choose()``, else an item whose price equals the
session funds (another one of that price after a deny). ``press()`` is a keypad-first
selection. An approved vend (``C,VEND,<amount>``) dispenses after ``dispense_s`` and reports
as ``VendFaults`` says for the item. A deny ends a session that is waiting for a press or an
approval; a vend under way cannot be stopped.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping
from functools import partial

from hardware import mdb_protocol as proto
from hardware.sim.mdb_faults import VendFaults
from hardware.sim.scheduler import SimScheduler

log = logging.getLogger(__name__)

# VMC states, as the reader sees them.
OFF = "off"                # not enabled by the host (C,0, power-up, unplugged)
ENABLED = "enabled"        # waiting for a session or a keypad press
SESSION = "session"        # funds given (C,START), waiting for the customer
VEND = "vend"              # VEND REQUEST sent, waiting for approval
DISPENSING = "dispensing"  # approved, motor turning


class SimulatedVmc:
    """The machine's side of the reader's sessions; runs on the simulation thread only.

    :param emit: writes one line from the bridge to the host.
    :param scheduler: the simulation thread's timers (the customer, the motor, enabling).
    """

    def __init__(
        self,
        items: Mapping[int, int],
        faults: VendFaults,
        *,
        emit: Callable[[str], None],
        scheduler: SimScheduler,
        decimal_places: int,
        customer_delay_s: float,
        dispense_s: float,
        enable_delay_s: float,
    ) -> None:
        self._items = dict(items)
        self._faults = faults
        self._emit = emit
        self._scheduler = scheduler
        self._decimals = decimal_places
        self._customer_delay_s = customer_delay_s
        self._dispense_s = dispense_s
        self._enable_delay_s = enable_delay_s
        self.config: dict[str, str] = {}        # C,SETCONF key -> value, as last set
        self.vended: list[int] = []             # items dispensed
        self._script: collections.deque[int] = collections.deque()
        self._refused: set[int] = set()          # items denied to the current customer
        self._state = OFF
        self._request: tuple[int, int] | None = None  # (item, price) asked of the reader

    def has_item(self, item: int) -> bool:
        return item in self._items

    def choose(self, items: tuple[int, ...]) -> None:
        """Script the next customer presses in funded sessions, one item per session."""
        self._script.extend(items)

    def power_off(self) -> None:
        """The reader is gone (unplugged): whatever was under way is forgotten."""
        self._scheduler.cancel_pending()
        self._state, self._request = OFF, None

    def disable(self) -> None:
        self.power_off()
        self._emit("c,STATUS,OFFLINE")

    def enable(self) -> None:
        """The VMC resets, configures and enables the reader, one step at a time."""
        for n, status in enumerate(("INACTIVE", "DISABLED", "ENABLED"), start=1):
            self._scheduler.later(n * self._enable_delay_s, partial(self._status, status))

    def _status(self, status: str) -> None:
        self._state = ENABLED if status == "ENABLED" else OFF
        self._emit(f"c,STATUS,{status}")

    def setconf(self, setting: str) -> None:
        key, sep, value = setting.partition("=")
        if self._state != OFF or not sep:
            self._emit('c,ERR,"SETCONF -1"')
            return
        self.config[key] = value
        self._emit(proto.SET_OK)

    def start(self, amount: str) -> None:
        try:
            funds = proto.parse_amount(amount, self._decimals)
        except ValueError:
            funds = -1
        if self._state != ENABLED or funds < 0:
            self._emit('c,ERR,"START -1"')
            return
        self._state = SESSION
        self._emit(f"c,STATUS,IDLE,{amount}")
        item = self._script.popleft() if self._script else self._item_costing(funds)
        if item is not None:
            self._scheduler.later(self._customer_delay_s, lambda: self.press(item))

    def _item_costing(self, funds: int) -> int | None:
        """The customer's pick: an item costing the funds, trying another after a deny."""
        candidates = [item for item, price in self._items.items() if price == funds]
        untried = [item for item in candidates if item not in self._refused]
        if not untried:
            self._refused.clear()
        choices = untried or candidates
        return choices[0] if choices else None

    def press(self, item: int) -> None:
        """The customer presses ``item``: in a session, or keypad first without one."""
        if self._state not in (ENABLED, SESSION):
            log.info("simulated machine busy (%s): press of %s ignored", self._state, item)
            return
        price = self._items[item]
        self._state, self._request = VEND, (item, price)
        self._emit(f"c,STATUS,VEND,{proto.format_amount(price, self._decimals)},{item}")

    def approve(self, amount: str) -> None:
        if self._state != VEND or self._request is None:
            self._emit('c,ERR,"VEND -1"')
            return
        self._state = DISPENSING
        self._refused.clear()
        self._emit("r,ACK")
        item = self._request[0]
        self._scheduler.later(self._dispense_s, lambda: self._dispensed(item))

    def _dispensed(self, item: int) -> None:
        report = self._faults.vend_report(item)
        if report is None:
            return
        if report == proto.VEND_SUCCESS:
            self.vended.append(item)
        self._emit(report)
        self._state, self._request = ENABLED, None
        self._emit("c,STATUS,IDLE")
        self._emit("c,STATUS,ENABLED")

    def deny(self) -> None:
        if self._state in (SESSION, VEND):  # a vend under way cannot be stopped
            if self._request is not None:
                self._refused.add(self._request[0])
            self._scheduler.cancel_pending()  # a denied session's customer and motor stop
            self._state, self._request = ENABLED, None
            self._emit("c,STATUS,ENABLED")

    def reset(self) -> None:
        """The VMC resets the reader, then enables it again if it was enabled."""
        was_enabled = self._state != OFF
        self.power_off()
        self._emit(f"c,STATUS,{proto.RESET_STATUS}")
        if was_enabled:
            self.enable()
