"""The operator menu's effects: reads (the PIN lock, slots, sales, status) on the misc worker,
writes and the test vend on the sale worker (one motor at a time, in order with the sales).
Every change is journalled as an operator event."""

from __future__ import annotations

import logging
from decimal import Decimal

from hardware.base import VendOutcome, VendRequest, VendResult
from kiosk import operator as op
from kiosk.errors import GatewayError
from kiosk.journal import PIN_FAILED, PIN_LOCKED, PIN_OK
from kiosk.money import to_minor
from kiosk.operator_pin import verify_pin
from kiosk.runtime.parts import Parts

log = logging.getLogger(__name__)


class OperatorActions:
    def __init__(self, parts: Parts, pin_hash: str) -> None:
        self._parts = parts
        self._pin_hash = pin_hash

    # -- reads (misc worker)

    def check_pin(self, effect: op.CheckPin) -> None:
        """The slow hash, the count and the lock: all from and into the journal. The lock holds
        on the wall and the monotonic clock (``op.Lockout``): a clock step cannot lift it."""
        parts, journal = self._parts, self._parts.journal
        now, clock = parts.wall_clock(), op.boot_clock()
        failures, until = op.read_lockout(journal, now, clock)
        if until or not self._pin_hash:
            parts.post(op.PinChecked(False, failures, parts.monotonic(until)))
            return
        if verify_pin(effect.pin, self._pin_hash):
            journal.operator_event(PIN_OK, {})
            parts.post(op.PinChecked(True, 0, 0.0))
            return
        failures, lock = op.register_failure(failures, now, clock)
        journal.operator_event(PIN_FAILED, {"failures": failures})
        if lock is not None:
            journal.operator_event(PIN_LOCKED, {"failures": failures, **lock.detail()})
            log.warning("operator PIN locked for %.0f minutes after %d wrong PINs",
                        op.LOCKOUT_S / 60, failures)
        parts.post(op.PinChecked(False, failures,
                                 parts.monotonic(lock.until if lock else 0.0)))

    def read_lock(self, effect: op.ReadLock) -> None:
        parts = self._parts
        failures, until = op.read_lockout(parts.journal, parts.wall_clock(), op.boot_clock())
        parts.post(op.LockRead(failures, parts.monotonic(until)))

    def load_slots(self, effect: op.LoadSlots) -> None:
        self._post_slots()

    def _post_slots(self) -> None:
        parts = self._parts
        slots = parts.journal.slot_states()
        rows = []
        for product in parts.products.values():
            known = slots.get(product.slot_id)
            rows.append(op.SlotRow(product.slot_id, product.name,
                                   known.stock if known else 0,
                                   parts.initial_stock.get(product.slot_id, 0),
                                   known.disabled if known else False,
                                   known.disabled_reason if known else ""))
        parts.post(op.SlotsLoaded(tuple(rows)))

    def load_sales(self, effect: op.LoadSales) -> None:
        parts = self._parts
        parts.post(op.SalesLoaded(op.sales_summary(parts.journal.transactions(),
                                                   parts.wall_clock())))

    def check_status(self, effect: op.CheckStatus) -> None:
        parts = self._parts
        try:
            health = parts.driver.health()
            hardware = (health.ready, "ready" if health.ready else health.reason or "not ready")
        except Exception as exc:
            hardware = (False, f"driver error: {type(exc).__name__}")
        gateway = parts.gateway
        try:
            reached = gateway.check_reachable(Decimal("1"), parts.settings.currency)
            gateway_line = (True, f"{gateway.name}: {reached}")
        except GatewayError as exc:
            gateway_line = (False, f"{gateway.name}: {exc}")
        parts.post(op.StatusLoaded(op.StatusReport(_network_status(gateway_line[0]),
                                                   gateway_line, hardware)))

    # -- writes (sale worker): each shows the new stock and slots after it

    def set_stock(self, effect: op.SetStock) -> None:
        journal = self._parts.journal
        was = journal.slot_states().get(effect.slot_id)
        journal.operator_change(effect.slot_id, effect.kind,
                                {"stock": effect.stock, "was": was.stock if was else None},
                                stock=effect.stock)
        self._show_slots()

    def enable_slot(self, effect: op.EnableSlot) -> None:
        journal = self._parts.journal
        was = journal.slot_states().get(effect.slot_id)
        journal.operator_change(effect.slot_id, "slot_enabled",
                                {"was_reason": was.disabled_reason if was else ""},
                                enabled=True)
        self._show_slots()

    def record(self, effect: op.RecordOperator) -> None:
        self._parts.journal.operator_event(effect.kind, dict(effect.detail))

    def test_vend(self, effect: op.TestVend) -> None:
        """Dispense one item for the operator: journalled as an operator event, not a sale."""
        parts, slot_id = self._parts, effect.slot_id
        journal = parts.journal
        product = parts.products.get(slot_id)
        wiring = parts.wiring_of(slot_id)
        price = to_minor(product.price, parts.settings.currency) if product else 0
        journal.operator_event("test_vend_started", {"slot": slot_id})
        try:
            result = parts.driver.vend(VendRequest(slot_id, price, wiring.motor,
                                                   wiring.mdb_item))
        except Exception as exc:  # a driver bug still leaves a journalled result
            log.exception("test vend of %s failed", slot_id)
            result = VendResult(VendOutcome.UNKNOWN, f"driver error: {type(exc).__name__}")
        was = journal.slot_states().get(slot_id)
        stock = max(0, was.stock - 1) if was and result.outcome is VendOutcome.VENDED else None
        journal.operator_change(
            slot_id, "test_vend", {"outcome": result.outcome.value, "detail": result.detail,
                                   "price_minor": price},     # the audit file's value of it
            stock=stock, enabled=False if result.disables_slot else None)
        parts.post(op.TestVendDone(slot_id, result.outcome.value, result.detail))
        self._show_slots()

    def _show_slots(self) -> None:
        self._parts.post_stock()
        self._post_slots()


def _network_status(gateway_ok: bool) -> tuple[bool, str]:
    """The gateway answering proves the network; else whether there is a default route."""
    if gateway_ok:
        return True, "online (gateway reached)"
    try:
        with open("/proc/net/route", encoding="ascii") as routes:
            default = any(line.split()[1:2] == ["00000000"] for line in routes.readlines()[1:])
    except OSError:
        return False, "unknown"
    return (True, "default route present; gateway not reached") if default else \
        (False, "no default route")
