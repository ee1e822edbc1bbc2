"""What the fleet link reads of the running kiosk: in service or why not, and the ``state``
snapshot (slots with price, stock and whether they sell; config version; open claims; the
sales of the machine's day so far)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from kiosk.flow import KioskState, Product
from kiosk.journal import Journal
from kiosk.money import format_amount


def config_version(path: Path) -> str:
    """The config file's content, in 12 hex digits: two machines showing the same version run
    the same settings."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "unknown"


class StateSource(Protocol):
    """Anything holding the kiosk's current ``KioskState`` (the runtime)."""

    state: KioskState


class KioskObserver:
    """Reads the UI thread's latest state (immutable, so any thread may) and the journal."""

    def __init__(self, state: StateSource, journal: Journal, products: Sequence[Product],
                 currency: str, version: str) -> None:
        self._source = state
        self._journal = journal
        self._products = tuple(products)    # the config's: the journal says what changed
        self._currency = currency
        self._version = version

    def service(self) -> tuple[bool, str]:
        fault = self._source.state.hardware_fault
        return not fault, fault

    def state(self) -> dict[str, Any]:
        midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
        overview = self._journal.overview(midnight)
        known = overview.slots
        slots = []
        # Prices from the journal, not the UI thread's state: that catches up a moment after
        # the commit this snapshot follows.
        for product in self._products:
            slot = known.get(product.slot_id)
            price = slot.price_for(product.price) if slot else product.price
            slots.append({
                "slot": product.slot_id, "name": product.name,
                "price": format_amount(price, self._currency),
                "stock": slot.stock if slot else 0,
                "enabled": not (slot and slot.disabled),
                "disabled_reason": slot.disabled_reason if slot else ""})
        in_service, reason = self.service()
        return {"currency": self._currency, "slots": slots, "config_version": self._version,
                "open_claims": overview.open_claims,
                "sales_today": {"count": overview.sold,
                                "amount": format_amount(overview.takings, self._currency)},
                "health": {"in_service": in_service, "reason": reason}}


