"""What the kiosk owes a customer, recorded inside another step's commit: a claim code or a
queued automatic refund."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from kiosk.journal.status import Status, Step
from kiosk.journal.store import Store


class Claims(Store):
    """Claims and queued refunds, for the steps that end a sale owing money."""

    def _issue_claim(self, cur: sqlite3.Cursor, tx_id: str, code: str, reason: str) -> str:
        # Abandoned or still open (not "creating": no payment exists) when a payment arrives
        # that failed verification: money may have come, so a claim.
        row = self._require(cur, tx_id, Step.CLAIM, Status.REFUND_DUE)
        cur.execute("UPDATE transactions SET claim_code = ? WHERE id = ?", (code, tx_id))
        # A refunded sale stays refunded; an unknown vend stays unknown: the operator checks.
        keeps = row["status"] in (Status.REFUNDED, Status.VEND_UNKNOWN)
        self._append(cur, tx_id, "refund_requested",
                     {"method": "claim", "claim_code": code, "reason": reason},
                     None if keeps else (Step.CLAIM, Status.REFUND_DUE))
        return code

    def _queue_refund(self, cur: sqlite3.Cursor, tx_id: str, reference: str, reason: str,
                      code: str, detail: Mapping[str, Any]) -> None:
        stamp = self._stamp()
        cur.execute("INSERT INTO refunds (tx_id, reference, reason, claim_code, requested_at)"
                    " VALUES (?, ?, ?, ?, ?)", (tx_id, reference, reason, code, stamp))
        cur.execute("UPDATE transactions SET claim_code = ? WHERE id = ?", (code, tx_id))
        self._append(cur, tx_id, "refund_requested",
                     {"method": "gateway", "reference": reference, "reason": reason, **detail},
                     (Step.REFUND_REQUESTED, Status.REFUND_DUE))

