"""Start-up, on the misc worker before the first health check: recover the journal, refund
what certainly did not vend, watch every payment that may still be paid, and put the claim of a
sale a crash cut short minutes ago on the screen (its customer may still be there)."""

from __future__ import annotations

import logging
from datetime import datetime

from kiosk.errors import KioskError
from kiosk.firstboot import recorded_errors
from kiosk.flow import ClaimReason, SaleInterrupted
from kiosk.journal.status import Status
from kiosk.runtime.health import Health
from kiosk.runtime.owed import RefundDesk
from kiosk.runtime.parts import Parts
from kiosk.runtime.payments import PaymentEffects
from kiosk.watcher import PaymentWatcher

log = logging.getLogger(__name__)

INTERRUPTED_RECENT_S = 300.0      # a sale cut short this recently may still have its customer


class Startup:
    def __init__(self, parts: Parts, health: Health, owed: RefundDesk,
                 payments: PaymentEffects, watcher: PaymentWatcher) -> None:
        self._parts = parts
        self._health = health
        self._owed = owed
        self._payments = payments
        self._watcher = watcher

    def run(self) -> None:
        try:
            self._recover()
        except KioskError as exc:
            # Selling without a journal would break exactly-once: stay out of service, say why.
            log.error("start-up failed: %s", exc)
            self._health.startup_fault = f"start-up failed: {exc}"
        self._health.check()

    def _recover(self) -> None:
        journal = self._parts.journal
        journal.init_slots(self._parts.initial_stock)
        report = journal.recover()
        if report.vend_unknown or report.refund_due:
            log.warning("recovered: %d vend(s) of unknown result, %d paid sale(s) due a refund",
                        len(report.vend_unknown), len(report.refund_due))
        for tx_id in report.not_dispensed:  # certainly not dispensed: the money can go back
            self._owed.refund_if_possible(tx_id, "the kiosk stopped before the machine was told "
                                                 "to vend", show_reference=True)
        for order, request in journal.watched_orders():
            request = request or self._payments.lost_request(order)
            if request is not None:
                self._watcher.watch(order, request, late=True)
        self._show_interrupted(report.vend_unknown + report.refund_due)
        self._parts.post_stock()
        self._health.restore_service_order()
        # The operator's new file was refused: never sell on the old config without saying so.
        rejected = recorded_errors(journal.path.parent)
        self._health.startup_fault = " ".join(rejected.splitlines()[:2])

    def _show_interrupted(self, recovered: tuple[str, ...]) -> None:
        journal = self._parts.journal
        recent = [tx for tx in map(journal.transaction, recovered)
                  if self._wall_age_s(tx["created_at"]) < INTERRUPTED_RECENT_S]
        if not recent:
            return
        tx = max(recent, key=lambda t: t["created_at"])
        order, _ = journal.sale(tx["id"])
        reason = (ClaimReason.VEND_UNKNOWN if tx["status"] == Status.VEND_UNKNOWN
                  else ClaimReason.VEND_FAILED)
        self._parts.post(SaleInterrupted(order, tx["claim_code"], reason))

    def _wall_age_s(self, stamp: str) -> float:
        return self._parts.wall_clock() - datetime.fromisoformat(stamp).timestamp()
