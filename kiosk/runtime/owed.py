"""What the kiosk owes a customer whose money arrived but who got no item: an automatic refund
where the gateway refunds by API (queued durably, ``kiosk.refunds``), else the sale's claim."""

from __future__ import annotations

import logging

from kiosk.claims import claim_code
from kiosk.journal import OPEN_CLAIM_STATUSES
from kiosk.journal.status import Status
from kiosk.money import format_amount
from kiosk.payments.base import Order, PaymentStatus
from kiosk.refunds import RefundWorker, refund_reference
from kiosk.runtime.parts import Parts

log = logging.getLogger(__name__)


class RefundDesk:
    def __init__(self, parts: Parts, refunds: RefundWorker) -> None:
        self._parts = parts
        self._refunds = refunds

    def refund_if_possible(self, tx_id: str, reason: str, *,
                           show_reference: bool = False) -> None:
        """Queue the refund of a sale whose money arrived, where the gateway refunds by API and
        the journal holds its payment. The customer keeps the sale's claim code, or with
        ``show_reference`` the gateway's own reference when it has one."""
        journal = self._parts.journal
        if not self._parts.gateway.can_refund:
            return
        order, request = journal.sale(tx_id)
        if request is None:
            return
        code = journal.transaction(tx_id)["claim_code"]
        if show_reference and request.reference:
            code = request.reference
        self.queue_refund(order, code, reason)

    def queue_refund(self, order: Order, code: str, reason: str) -> None:
        """Durable: the refund worker retries it, across restarts, until the gateway says."""
        self._parts.journal.queue_refund(
            order.tx_id, refund_reference(order.tx_id), reason, code,
            {"currency": order.currency, "amount": format_amount(order.amount, order.currency)})
        self._refunds.wake()

    def claim_unverified(self, tx_id: str, status: PaymentStatus) -> None:
        """Reported paid after the sale ended, but not as ordered: money may have arrived."""
        journal = self._parts.journal
        if journal.transaction(tx_id)["status"] in OPEN_CLAIM_STATUSES | {Status.REFUNDED}:
            return  # already owed (or settled): one claim per sale
        journal.claim_issued(tx_id, claim_code(tx_id),
                             f"reported paid after the sale ended, but {status.reason}")
        log.warning("payment for %s failed verification after the sale ended: claim", tx_id)
