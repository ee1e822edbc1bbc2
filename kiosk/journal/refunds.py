"""Refunds: asked of the gateway durably (a queue retried across restarts), done, or given up to
the operator's claims desk."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kiosk.journal.claims import Claims
from kiosk.journal.status import Status, Step


@dataclass(frozen=True)
class PendingRefund:
    """An automatic refund the gateway has not confirmed yet (the durable refund queue)."""

    tx_id: str
    reference: str                  # the idempotency reference every retry sends
    reason: str
    claim_code: str                 # what the operator settles it by if the refund gives up
    requested_at: datetime
    attempts: int



class RefundQueue(Claims):
    """The durable refund queue."""

    def refund_requested(self, tx_id: str, detail: dict[str, Any]) -> None:
        """A refund was asked of the gateway or the operator (``refund_due``)."""
        with self._tx() as cur:
            self._append(cur, tx_id, "refund_requested", detail,
                         (Step.REFUND_REQUESTED, Status.REFUND_DUE))

    def refund_done(self, tx_id: str, detail: dict[str, Any]) -> None:
        """The money went back to the customer (``refunded``); a queued refund is done."""
        with self._tx() as cur:
            self._append(cur, tx_id, "refund_done", detail, (Step.REFUND_DONE, Status.REFUNDED))
            cur.execute("UPDATE refunds SET state = 'done' WHERE tx_id = ?", (tx_id,))

    def queue_refund(self, tx_id: str, reference: str, reason: str, code: str,
                     detail: Mapping[str, Any]) -> bool:
        """Ask for an automatic refund, durably: ``refund_requested`` and a queue row in one
        commit, retried (across restarts) until the gateway confirms or it gives up.
        ``False`` if this sale's refund is already queued (one refund, one reference)."""
        with self._tx() as cur:
            self._require(cur, tx_id, Step.REFUND_REQUESTED, Status.REFUND_DUE)
            if cur.execute("SELECT 1 FROM refunds WHERE tx_id = ?", (tx_id,)).fetchone():
                return False
            self._queue_refund(cur, tx_id, reference, reason, code, detail)
            return True

    def pending_refunds(self) -> list[PendingRefund]:
        """Queued refunds not yet confirmed or given up, oldest first (one left ``sending`` by
        a kiosk that stopped during the gateway's call too: tried again, same reference)."""
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT * FROM refunds WHERE state IN ('pending', 'sending')"
                               " ORDER BY requested_at").fetchall()
        return [PendingRefund(row["tx_id"], row["reference"], row["reason"], row["claim_code"],
                              datetime.fromisoformat(row["requested_at"]), int(row["attempts"]))
                for row in rows]

    def refund_sending(self, tx_id: str) -> bool:
        """The refund is about to be asked of the gateway: from now until its answer the
        operator cannot settle the claim by hand too (the customer would be paid twice).
        False: it is no longer queued (settled meanwhile): do not send it."""
        with self._tx() as cur:
            return cur.execute("UPDATE refunds SET state = 'sending' WHERE tx_id = ? AND"
                               " state IN ('pending', 'sending')", (tx_id,)).rowcount == 1

    def refund_attempt_failed(self, tx_id: str, error: str) -> None:
        """One try the gateway did not confirm (down, rate limited, garbled): retried later,
        and until then the operator may settle it by hand."""
        with self._tx() as cur:
            cur.execute("UPDATE refunds SET attempts = attempts + 1, last_error = ?,"
                        " state = 'pending' WHERE tx_id = ? AND state IN ('pending', 'sending')",
                        (error[:500], tx_id))

    def refund_given_up(self, tx_id: str, reason: str) -> None:
        """The gateway refused the refund, or never confirmed it in time: the queued refund
        ends and the operator settles the sale by its claim code (still ``refund_due``)."""
        with self._tx() as cur:
            row = cur.execute("SELECT claim_code FROM refunds WHERE tx_id = ? AND"
                              " state IN ('pending', 'sending')", (tx_id,)).fetchone()
            if row is None:
                return
            cur.execute("UPDATE refunds SET state = 'given_up', last_error = ? WHERE tx_id = ?",
                        (reason[:500], tx_id))
            self._issue_claim(cur, tx_id, row["claim_code"], reason)

