"""What a simulated machine says and does (``vending_fleet.simulator`` runs the connections):
its status, its state snapshot, a sale's six journal steps, its replies, and the simple commands
it takes, all in the shapes of docs/fleet-protocol.md."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import paho.mqtt.client as mqtt

VERSION = "0.1.0-sim"
SALE_KINDS = ("payment_requested", "payment_created", "paid_verified", "vend_started",
              "vend_dispensing", "vend_result")
EVENTS_PER_SALE = len(SALE_KINDS)
CATALOGUE = (("A1", "Sparkling water", "2.50"), ("A2", "Cola", "2.00"),
             ("A3", "Sea salt crisps", "1.75"), ("A4", "Dark chocolate bar", "1.50"),
             ("B1", "Cold brew coffee", "3.20"), ("B2", "Orange juice", "2.80"))
ASSETS = ("USDT", "BTC", "ETH", "LTC")
STOCK = 40
RESTOCK_BELOW = 3             # a simulated machine is refilled (an operator event) at this
BACKOFF_MIN_S = 0.5


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class Slot:
    slot: str
    name: str
    price: Decimal
    stock: int = STOCK
    enabled: bool = True
    disabled_reason: str = ""


@dataclass
class Machine:
    id: str
    journal_id: str
    client: mqtt.Client
    slots: list[Slot]
    seq: int = 0
    connected: bool = False
    tried: bool = False                  # connect() called once: reconnect() from then on
    in_service: bool = True
    service_reason: str = ""
    sales_count: int = 0
    sales_amount: Decimal = Decimal("0")
    next_attempt: float = 0.0
    backoff: float = BACKOFF_MIN_S
    sock: Any = None
    pending: set[int] = field(default_factory=set)      # mids of events not yet PUBACKed
    handled: set[str] = field(default_factory=set)      # command ids

    def next_id(self) -> str:
        self.seq += 1
        return f"{self.journal_id}-{self.seq}"


@dataclass(frozen=True)
class Applied:
    """A command the machine took: its result, the operator events it journals, and whether
    its ``status`` changed (out of / back in service)."""

    result: dict[str, Any]
    events: list[dict[str, Any]]
    status_changed: bool = False


def status_doc(machine: Machine, *, online: bool, reason: str = "") -> dict[str, Any]:
    in_service = online and machine.in_service
    if online and not machine.in_service:
        reason = machine.service_reason
    return {"online": online, "machine": machine.id, "version": VERSION,
            "in_service": in_service, "reason": reason}


def state_doc(machine: Machine, currency: str) -> dict[str, Any]:
    return {
        "id": machine.next_id(), "machine": machine.id, "at": now_text(), "kind": "state",
        "currency": currency,
        "slots": [{"slot": s.slot, "name": s.name, "price": f"{s.price:.2f}",
                   "stock": s.stock, "enabled": s.enabled,
                   "disabled_reason": s.disabled_reason} for s in machine.slots],
        "config_version": "5e1f0c9d2e7a", "open_claims": 0,
        "sales_today": {"count": machine.sales_count,
                        "amount": f"{machine.sales_amount:.2f}"},
        "health": {"in_service": machine.in_service, "reason": machine.service_reason},
    }


def sale_steps(slot: Slot, currency: str, asset: str) -> list[dict[str, Any]]:
    """A paid, vended sale's events as the journal writes them (ids added when published)."""
    amount = f"{slot.price:.2f}"
    common = {"group": "sale", "tx": str(uuid.uuid4()), "slot": slot.slot, "item": slot.name,
              "amount": amount, "currency": currency, "gateway": "mixpay", "asset": asset}
    payment_id = uuid.uuid4().hex
    details: list[tuple[str, str, dict[str, Any]]] = [
        ("payment_requested", "creating", {"slot": slot.slot, "amount": amount,
                                           "currency": currency, "asset": asset}),
        ("payment_created", "awaiting", {"payment_id": payment_id,
                                         "link": f"https://pay.example/{payment_id}",
                                         "crypto_symbol": asset}),
        ("paid_verified", "paid", {"payment_id": payment_id, "state": "paid"}),
        ("vend_started", "vending", {"slot": slot.slot, "marks_dispense": True}),
        ("vend_dispensing", "vending", {}),
        ("vend_result", "vended", {"outcome": "vended"}),
    ]
    return [{**common, "kind": kind, "status": status, "detail": detail}
            for kind, status, detail in details]


def reply_doc(machine: Machine, command_id: str | None, *,
              result: Mapping[str, Any] | None = None, error: str = "",
              status: str = "") -> dict[str, Any]:
    reply: dict[str, Any] = {"id": machine.next_id(), "machine": machine.id,
                             "kind": "reply", "at": now_text(), "command": command_id}
    if result is not None:
        reply.update(status="applied", ok=True, result=dict(result))
    else:
        reply.update(status=status or "rejected", ok=False, error=error)
    return reply


@dataclass(frozen=True)
class Refused:
    reason: str
    status: str = "rejected"         # or "replayed"


def take_command(machine: Machine, payload: bytes,
                 public_key: bytes | None) -> tuple[str | None, Applied | Refused]:
    """A message on the machine's ``cmd`` topic: its id, and what came of it. Signatures are
    checked when the fleet's public key is given; an id seen before is not applied again."""
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return None, Refused("malformed: a command is a JSON object")
    command_id = doc.get("id") if isinstance(doc.get("id"), str) else None
    if public_key is not None:
        from kiosk.errors import CommandRefused
        from kiosk.fleet.signing import verify

        try:
            verify(doc, public_key)
        except CommandRefused as exc:
            return command_id, Refused(str(exc))
    if command_id in machine.handled:
        return command_id, Refused(f"replayed: command {command_id} was already handled; "
                                   "not applied again", "replayed")
    if command_id is not None:
        machine.handled.add(command_id)
    try:
        return command_id, apply_command(machine, str(doc.get("command")),
                                         doc.get("args") or {}, command_id)
    except ValueError as exc:
        return command_id, Refused(str(exc))


def apply_command(machine: Machine, command: str, args: Mapping[str, Any],
                  command_id: str | None) -> Applied:
    """Take a simple command; ``ValueError`` with the reason for anything else."""
    fleet = {"source": "fleet", "command": command_id}
    if command == "set_service":
        machine.in_service = bool(args.get("in_service"))
        reason = str(args.get("reason") or "by the operator")
        machine.service_reason = "" if machine.in_service else f"out of service: {reason}"
        kind = "service_on" if machine.in_service else "service_off"
        return Applied({"in_service": machine.in_service},
                       [{"group": "operator", "kind": kind,
                         "detail": {"reason": reason, **fleet}}], status_changed=True)
    if command not in ("set_price", "set_stock", "set_slot_enabled"):
        raise ValueError(f'unknown command "{command}" (the simulator takes: set_price, '
                         "set_stock, set_slot_enabled, set_service)")
    by_id = {slot.slot: slot for slot in machine.slots}
    slot = by_id.get(str(args.get("slot")))
    if slot is None:
        raise ValueError(f'{command}: no slot "{args.get("slot")}" on this machine '
                         f'(slots: {", ".join(by_id)})')
    if command == "set_price":
        return _set_price(slot, args, fleet)
    if command == "set_stock":
        return _set_stock(slot, args, fleet)
    enabled = bool(args.get("enabled"))
    slot.enabled, slot.disabled_reason = enabled, "" if enabled else "operator"
    return Applied({"slot": slot.slot, "enabled": enabled},
                   [{"group": "operator", "kind": "slot_enabled" if enabled else "slot_disabled",
                     "detail": {"slot": slot.slot, **fleet}}])


def _set_price(slot: Slot, args: Mapping[str, Any], fleet: dict[str, Any]) -> Applied:
    try:
        price = Decimal(str(args.get("price")))
    except InvalidOperation:
        raise ValueError(f'set_price: "{args.get("price")}" is not a price like '
                         '"2.50"') from None
    if not price > 0:
        raise ValueError(f'set_price: must be greater than zero, found "{price}"')
    slot.price = price
    return Applied({"slot": slot.slot, "price": f"{price:.2f}"},
                   [{"group": "operator", "kind": "price_set",
                     "detail": {"slot": slot.slot, "price": str(args["price"]), **fleet}}])


def _set_stock(slot: Slot, args: Mapping[str, Any], fleet: dict[str, Any]) -> Applied:
    stock = args.get("stock")
    if not isinstance(stock, int) or isinstance(stock, bool) or not 0 <= stock <= 10000:
        raise ValueError(f"set_stock: stock must be between 0 and 10000, found {stock}")
    was, slot.stock = slot.stock, stock
    return Applied({"slot": slot.slot, "stock": stock},
                   [{"group": "operator", "kind": "stock_set",
                     "detail": {"slot": slot.slot, "stock": stock, "was": was, **fleet}}])
