"""A paid sale's vend, on the sale worker: journal ``paid`` and the exactly-once guard, let the
driver dispense (journalling just before it does), journal the result with what a failure owes,
and settle an unknown vend when the machine reports it late."""

from __future__ import annotations

import logging
from datetime import timedelta

from hardware.base import VendOutcome, VendRequest, VendResult
from kiosk.errors import JournalError, KioskError
from kiosk.flow import Dropped, Vend, VendFinished, VendPrompted
from kiosk.journal import utc_now
from kiosk.money import to_minor
from kiosk.refunds import RefundWorker, refund_reference
from kiosk.runtime.health import Health
from kiosk.runtime.owed import RefundDesk
from kiosk.runtime.parts import Parts

log = logging.getLogger(__name__)


class VendEffects:
    def __init__(self, parts: Parts, health: Health, owed: RefundDesk, refunds: RefundWorker, *,
                 failures_to_disable: int, late_result_window_s: float) -> None:
        self._parts = parts
        self._health = health
        self._owed = owed
        self._refunds = refunds
        self._failures_to_disable = failures_to_disable
        self._late_result_window_s = late_result_window_s

    def vend(self, effect: Vend) -> None:
        parts, order = self._parts, effect.order
        journal = parts.journal
        try:
            journal.paid_verified(order.tx_id, {"slot": order.slot_id})
            allowed = journal.start_vend(order.tx_id)
        except JournalError as exc:
            log.error("not vending %s: the journal failed (%s)", order.tx_id, exc)
            parts.post(VendFinished(order.tx_id, Dropped.NO, detail="journal unavailable"))
            return
        if not allowed:
            # Exactly once: the journal says this sale was already vended or is unknown.
            log.error("refused to vend %s twice", order.tx_id)
            parts.post(VendFinished(order.tx_id, Dropped.NO, detail="vend already started"))
            return
        wiring = parts.wiring_of(order.slot_id)
        request = VendRequest(order.slot_id, to_minor(order.amount, order.currency),
                              wiring.motor, wiring.mdb_item,
                              before_dispense=lambda: self._mark_dispensing(order.tx_id))
        prompt = parts.driver.vend_prompt(request)
        if prompt:
            parts.post(VendPrompted(order.tx_id, prompt))
        try:
            result = parts.driver.vend(request)
        except Exception as exc:  # a driver bug must still leave a journalled result
            log.exception("vend driver failed on %s", order.tx_id)
            result = VendResult(VendOutcome.UNKNOWN, f"driver error: {type(exc).__name__}")
        if not result.vended:  # the machine may have gone: look before the next customer
            self._health.check_now()
        try:
            refund = refund_reference(order.tx_id) if effect.refund else ""
            journal.vend_result(order.tx_id, result.outcome.value, {"detail": result.detail},
                                disable_slot=result.disables_slot,
                                disable_after=self._failures_to_disable,
                                claim=effect.claim_code, refund_reference=refund)
            if refund and result.outcome is not VendOutcome.VENDED:
                self._refunds.wake()
        except JournalError as exc:  # recovery marks it vend_unknown; the customer moves on
            log.error("vend result of %s not journalled: %s", order.tx_id, exc)
        # Whatever the journal did, the customer must never be left on the vending screen.
        parts.post(VendFinished(order.tx_id, dropped(result.outcome), result.disables_slot,
                                result.detail))
        try:
            parts.post_stock()
        except JournalError as exc:
            log.error("stock not re-read after %s: %s", order.tx_id, exc)

    def vend_crashed(self, effect: Vend, exc: Exception) -> None:
        """A bug in the vend's own code: it may have dispensed, so its result is unknown, the
        customer's code is an open claim now, and it is never vended again."""
        tx_id, detail = effect.order.tx_id, f"internal error: {type(exc).__name__}"
        try:
            self._parts.journal.vend_result(tx_id, VendOutcome.UNKNOWN.value,
                                            {"detail": detail}, disable_slot=False,
                                            claim=effect.claim_code)
        except KioskError as journal_exc:  # recovery marks it vend_unknown at the next start
            log.error("vend result of %s not journalled: %s", tx_id, journal_exc)
        self._parts.post(VendFinished(tx_id, Dropped.UNKNOWN, detail=detail))

    def _mark_dispensing(self, tx_id: str) -> bool:
        """On the driver's thread, just before it dispenses: no record, no dispensing."""
        try:
            self._parts.journal.dispensing(tx_id)
        except JournalError as exc:
            log.error("not dispensing %s: the journal failed (%s)", tx_id, exc)
            return False
        return True

    def resolve_unclaimed(self, result: VendResult) -> None:
        """The machine reports the vend that a crash (or a lapsed budget) left unknown: settle
        that sale by it, if exactly one was being dispensed that recently; never another."""
        journal = self._parts.journal
        since = utc_now() - timedelta(seconds=self._late_result_window_s)
        candidates = journal.unresolved_vends(since)
        if len(candidates) != 1:
            log.warning("vend result %s matches %d unknown vend(s): left to the operator",
                        result.outcome.value, len(candidates))
            return
        tx_id = candidates[0]
        journal.resolve_vend(tx_id, result.outcome.value, {"detail": result.detail})
        log.warning("vend %s resolved by the machine's late report: %s", tx_id,
                    result.outcome.value)
        if not result.vended and result.outcome is not VendOutcome.UNKNOWN:
            # a certain failure now: the money can go back
            self._owed.refund_if_possible(tx_id, "vend failed (reported after a restart)")
        self._parts.post_stock()


def dropped(outcome: VendOutcome) -> Dropped:
    """The driver's outcome as the flow needs it: did the item drop?"""
    if outcome is VendOutcome.VENDED:
        return Dropped.YES
    return Dropped.UNKNOWN if outcome is VendOutcome.UNKNOWN else Dropped.NO
