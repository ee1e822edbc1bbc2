"""The audit counters read from the journal: paid, test and free vends in total, by slot and by
gateway, and the failures that are the audit file's events. Money in integer minor units."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from kiosk.config import Config
from kiosk.dex.events import event_code
from kiosk.errors import JournalError
from kiosk.journal import Journal, SlotState
from kiosk.money import parse_decimal, to_minor

VENDED = "vended"
TEST_VEND = "test_vend"           # the operator menu's test vend (kiosk/runtime/operator.py)
FAILED_RECOVERIES = frozenset({"not_dispensed", "vend_unknown"})


@dataclass(frozen=True)
class Tally:
    """A value (minor units) and a number of vends."""

    value: int = 0
    count: int = 0

    def add(self, value: int) -> Tally:
        return Tally(self.value + value, self.count + 1)

    def minus(self, base: Tally) -> Tally:
        return Tally(self.value - base.value, self.count - base.count)


@dataclass(frozen=True)
class SlotTally:
    paid: Tally = Tally()
    test: Tally = Tally()
    free: Tally = Tally()          # the kiosk gives nothing away today: stays zero

    def minus(self, base: SlotTally) -> SlotTally:
        return SlotTally(self.paid.minus(base.paid), self.test.minus(base.test),
                         self.free.minus(base.free))


@dataclass(frozen=True)
class Counters:
    """Everything the file counts, as totals since the journal began (or differences of them)."""

    paid: Tally = Tally()
    test: Tally = Tally()
    free: Tally = Tally()
    slots: Mapping[str, SlotTally] = field(default_factory=dict)
    cashless: Mapping[str, Tally] = field(default_factory=dict)   # gateway -> its paid vends
    events: Mapping[str, int] = field(default_factory=dict)       # event id -> occurrences

    def slot(self, slot_id: str) -> SlotTally:
        return self.slots.get(slot_id, SlotTally())

    def gateway(self, name: str) -> Tally:
        return self.cashless.get(name, Tally())

    def minus(self, base: Counters) -> Counters:
        """What happened since ``base`` was taken (a reset's snapshot)."""
        return Counters(
            self.paid.minus(base.paid), self.test.minus(base.test), self.free.minus(base.free),
            {k: v.minus(base.slot(k)) for k, v in self.slots.items()},
            {k: v.minus(base.gateway(k)) for k, v in self.cashless.items()},
            {k: v - base.events.get(k, 0) for k, v in self.events.items()})

    def to_json(self) -> dict[str, Any]:
        """The snapshot a reset keeps in its operator event: plain ints, lists and dicts."""
        def pair(t: Tally) -> list[int]:
            return [t.value, t.count]
        return {"paid": pair(self.paid), "test": pair(self.test), "free": pair(self.free),
                "slots": {k: {"paid": pair(v.paid), "test": pair(v.test), "free": pair(v.free)}
                          for k, v in self.slots.items()},
                "cashless": {k: pair(v) for k, v in self.cashless.items()},
                "events": dict(self.events)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Counters:
        def tally(pair: Any) -> Tally:
            return Tally(int(pair[0]), int(pair[1])) if pair else Tally()
        slots = {k: SlotTally(tally(v.get("paid")), tally(v.get("test")), tally(v.get("free")))
                 for k, v in dict(data.get("slots", {})).items()}
        return cls(tally(data.get("paid")), tally(data.get("test")), tally(data.get("free")),
                   slots, {k: tally(v) for k, v in dict(data.get("cashless", {})).items()},
                   {k: int(v) for k, v in dict(data.get("events", {})).items()})


@dataclass(frozen=True)
class Event:
    """One failure for an ``EA1`` line."""

    code: str
    at: datetime
    slot: str


@dataclass(frozen=True)
class Selection:
    """A slot as the file lists it: configured ones first, then any only the journal knows."""

    id: str
    name: str
    price: int | None              # minor units; None when the journal gives none


@dataclass(frozen=True)
class Reading:
    counters: Counters
    events: tuple[Event, ...]      # oldest first
    active: frozenset[str]         # event ids that keep a slot out of sale right now
    selections: tuple[Selection, ...]


class _Tallies:
    """The counters while the journal is being read (mutable), frozen by ``counters``."""

    def __init__(self) -> None:
        self.paid, self.test = Tally(), Tally()
        self.slots: dict[str, SlotTally] = {}
        self.cashless: dict[str, Tally] = {}
        self.events: dict[str, int] = {}
        self.log: list[Event] = []

    def sale(self, slot: str, gateway: str, value: int) -> None:
        self.paid = self.paid.add(value)
        had = self.slots.get(slot, SlotTally())
        self.slots[slot] = replace(had, paid=had.paid.add(value))
        self.cashless[gateway] = self.cashless.get(gateway, Tally()).add(value)

    def test_vend(self, slot: str, value: int) -> None:
        self.test = self.test.add(value)
        had = self.slots.get(slot, SlotTally())
        self.slots[slot] = replace(had, test=had.test.add(value))

    def failure(self, outcome: str, at: str, slot: str) -> None:
        event = Event(event_code(outcome), datetime.fromisoformat(at), slot)
        self.events[event.code] = self.events.get(event.code, 0) + 1
        self.log.append(event)

    def counters(self) -> Counters:
        return Counters(self.paid, self.test, Tally(), dict(self.slots), dict(self.cashless),
                        dict(self.events))


def read_counters(journal: Journal, config: Config,
                  operator_events: Iterable[Mapping[str, Any]]) -> Reading:
    """Count every sale and operator event; a paid vend is a sale whose status is ``vended``."""
    tallies = _Tallies()
    transactions = journal.transactions()
    for tx in transactions:
        _count_sale(tallies, tx)
    slots = journal.slot_states()
    prices = _prices_now(config, slots)
    for event in operator_events:
        if event["kind"] == TEST_VEND:
            _count_test_vend(tallies, event, prices)
    tallies.log.sort(key=lambda e: e.at)
    return Reading(tallies.counters(), tuple(tallies.log), _active(tallies.log, slots),
                   _selections(config, prices, transactions))


def _prices_now(config: Config, slots: Mapping[str, SlotState]) -> dict[str, int]:
    """Each configured slot's price in minor units: the journal's (a fleet or operator price)
    where it stands in for the config's, else the config's."""
    currency = config.machine.currency
    return {slot.id: _minor(slots[slot.id].price_for(slot.price) if slot.id in slots
                            else slot.price, currency) for slot in config.slots}


def _count_sale(tallies: _Tallies, tx: Mapping[str, Any]) -> None:
    if tx["status"] == VENDED:
        tallies.sale(tx["slot"], tx["gateway"], _minor(tx["amount"], tx["currency"]))
    for event in tx["events"]:
        outcome = event["detail"].get("outcome") if event["kind"] == "vend_result" else None
        if event["kind"] == "recovered" and event["detail"].get("action") in FAILED_RECOVERIES:
            outcome = event["detail"]["action"]
        if outcome and outcome != VENDED:
            tallies.failure(str(outcome), event["at"], tx["slot"])


def _count_test_vend(tallies: _Tallies, event: Mapping[str, Any],
                     prices: Mapping[str, int]) -> None:
    detail, slot = event["detail"], str(event["detail"].get("slot", ""))
    if detail.get("outcome") == VENDED:
        # Valued at the price it was vended at (journalled with it), so the cumulative
        # figures never change afterwards; older journals: the slot's price now.
        price = detail.get("price_minor")
        valid = isinstance(price, int) and not isinstance(price, bool) and price >= 0
        tallies.test_vend(slot, price if valid else prices.get(slot, 0))
    else:
        tallies.failure(str(detail.get("outcome", "")), event["at"], slot)


def _active(log: list[Event], slots: Mapping[str, SlotState]) -> frozenset[str]:
    """A slot a fault (not the operator) took out of sale keeps its last failure active."""
    last = {event.slot: event.code for event in log}
    return frozenset(last[slot] for slot, state in slots.items()
                     if state.disabled and state.disabled_reason != "operator" and slot in last)


def _selections(config: Config, prices: Mapping[str, int],
                transactions: list[dict[str, Any]]) -> tuple[Selection, ...]:
    known = [Selection(s.id, s.name, prices[s.id]) for s in config.slots]
    seen = {s.id for s in known}
    extra: dict[str, Selection] = {}
    for tx in transactions:  # the latest sale's name and price win
        if tx["slot"] not in seen:
            extra[tx["slot"]] = Selection(tx["slot"], tx["item_name"] or "",
                                          _minor(tx["amount"], tx["currency"]))
    return (*known, *(extra[k] for k in sorted(extra)))


def _minor(amount: Decimal | str, currency: str) -> int:
    """Minor units of a price (a Decimal) or a journalled amount (decimal text)."""
    try:
        return to_minor(amount if isinstance(amount, Decimal) else parse_decimal(amount),
                        currency)
    except (KeyError, ValueError) as exc:
        raise JournalError(f"amount {amount} {currency} cannot be counted in minor units: "
                           f"{exc}") from exc
