"""What every part of the runtime works with: the journal, the gateway, the vend driver, the
workers and the way back to the UI thread (``post``). Built once by ``Runtime``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hardware.base import VendDriver
from kiosk import operator as op
from kiosk.flow import Event, FlowSettings, Product, StockChanged
from kiosk.gateway_health import GatewayHealth, MonitoredGateway
from kiosk.journal import Journal
from kiosk.worker import EffectWorker


@dataclass(frozen=True)
class SlotWiring:
    """What the vend driver needs to know about a slot (from config)."""

    motor: str | None
    mdb_item: int | None


@dataclass(frozen=True)
class Parts:
    settings: FlowSettings
    gateway: MonitoredGateway            # every call reports to ``gateway_health``
    gateway_health: GatewayHealth
    driver: VendDriver
    journal: Journal
    wiring: Mapping[str, SlotWiring]
    products: Mapping[str, Product]      # an immutable copy: workers never read the UI's state
    initial_stock: Mapping[str, int]
    sale_worker: EffectWorker            # a transaction's effects, strictly in order
    misc_worker: EffectWorker            # reads, checks, the PIN hash
    post: Callable[[Event | op.OpEvent], None]   # back to the UI thread, from any thread
    submit: Callable[..., None]          # submit(worker, fn, *args): counted, supervised
    clock: Callable[[], float]           # monotonic: every duration and deadline
    wall_clock: Callable[[], float]      # only what is dated: the journal, the gateway

    def post_stock(self) -> None:
        """The journal's stock, disabled slots and prices set by the fleet, to the flow."""
        slots = self.journal.slot_states()
        prices = {k: s.price_for(self.products[k].price) for k, s in slots.items()
                  if k in self.products}
        self.post(StockChanged({k: s.stock for k, s in slots.items()},
                               frozenset(k for k, s in slots.items() if s.disabled), prices))

    def monotonic(self, wall_time: float) -> float:
        """A wall-clock time (a PIN lock's end) as the UI thread's ``now`` reads it; 0: none."""
        return self.clock() + wall_time - self.wall_clock() if wall_time else 0.0

    def wiring_of(self, slot_id: str) -> SlotWiring:
        return self.wiring.get(slot_id, SlotWiring(None, None))

