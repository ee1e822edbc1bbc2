"""A paid sale's vend: the exactly-once guard, dispensing, the result with what a failure owes,
and the machine's late word on an unknown result."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from kiosk.claims import claim_code
from kiosk.errors import JournalError
from kiosk.journal.claims import Claims
from kiosk.journal.status import SLOT_FAILURES, Status, Step


class Vends(Claims):
    """The vend side of a sale."""

    def start_vend(self, tx_id: str) -> bool:
        """The exactly-once guard: ``True`` means *this* caller may energise the motor now.

        Only a sale that is ``paid``, has ``paid_verified`` and no ``vend_started`` yet gets
        ``vend_started`` (status ``vending``); every other call returns ``False`` and changes
        nothing, so a duplicate call, a call before payment or after recovery never vends.
        """
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            if (row["status"] != "paid" or not self._has_event(cur, tx_id, "paid_verified")
                    or self._has_event(cur, tx_id, "vend_started")):
                return False
            # marks_dispense: a "vend_dispensing" event will say when the machine was told to
            # vend, so a recovery that finds none knows nothing can have dropped.
            self._append(cur, tx_id, "vend_started", {"slot": row["slot"], "marks_dispense": True},
                         (Step.START_VEND, Status.VENDING))
            return True

    def dispensing(self, tx_id: str) -> None:
        """The driver is about to dispense (energise the motor, approve the MDB vend)."""
        with self._tx() as cur:
            self._require(cur, tx_id, Step.DISPENSING)
            self._append(cur, tx_id, "vend_dispensing", {})

    def vend_result(self, tx_id: str, outcome: str, detail: dict[str, Any],
                    disable_slot: bool, disable_after: int = 0, *, claim: str = "",
                    refund_reference: str = "") -> None:
        """Record what the hardware did, with the slot's stock and fault in the same commit.

        ``outcome`` is a ``hardware.VendOutcome`` value. ``"vended"`` -> ``vended`` and one item
        less in the slot; ``"unknown"`` (the item may have dropped) -> ``vend_unknown``; any
        other outcome -> ``vend_failed``. ``disable_slot`` takes the slot out of sale with the
        outcome as the reason, and so does the ``disable_after``-th slot failure (no drop, jam,
        motor fault) in a row; a vend resets the count.

        What a failure owes the customer is recorded in the same commit, so no crash can leave a
        paid sale failed without it: with ``refund_reference`` a refund is queued, else with
        ``claim`` a claim under that code. An unknown result (the item may have dropped) is
        never refunded: with either given it is a claim under the kiosk's own code.
        """
        outcome = str(outcome.value if isinstance(outcome, Enum) else outcome)
        new_status = {"vended": Status.VENDED, "unknown": Status.VEND_UNKNOWN}.get(
            outcome, Status.VEND_FAILED)
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            if (not self._has_event(cur, tx_id, "vend_started")
                    or self._has_event(cur, tx_id, "vend_result")):
                raise JournalError(
                    f"transaction {tx_id}: vend_result without a pending vend_started "
                    f"(status {row['status']} -> {new_status} not allowed)")
            result = {"outcome": outcome, **{k: v for k, v in detail.items() if k != "outcome"}}
            self._append(cur, tx_id, "vend_result", result, (Step.VEND_RESULT, new_status))
            slot = row["slot"]
            cur.execute("INSERT OR IGNORE INTO slots (id, stock, disabled, disabled_reason)"
                        " VALUES (?, 0, 0, '')", (slot,))
            if outcome == "vended":
                cur.execute("UPDATE slots SET stock = MAX(stock - 1, 0), failures = 0"
                            " WHERE id = ?", (slot,))
            elif outcome in SLOT_FAILURES:
                cur.execute("UPDATE slots SET failures = failures + 1 WHERE id = ?", (slot,))
            failures = cur.execute("SELECT failures FROM slots WHERE id = ?",
                                   (slot,)).fetchone()[0]
            if disable_slot:
                cur.execute("UPDATE slots SET disabled = 1, disabled_reason = ? WHERE id = ?",
                            (outcome, slot))
            elif disable_after and failures >= disable_after:
                cur.execute("UPDATE slots SET disabled = 1, disabled_reason = ? WHERE id = ?",
                            (f"{failures} failed vends in a row", slot))
            self._owe_for_vend(cur, row, outcome, claim, refund_reference)

    def _owe_for_vend(self, cur: sqlite3.Cursor, row: sqlite3.Row, outcome: str, claim: str,
                      refund_reference: str) -> None:
        tx_id = row["id"]
        reason = f"vend {outcome}"
        if outcome == "vended" or not (claim or refund_reference):
            return
        if outcome == "unknown":
            self._issue_claim(cur, tx_id, claim_code(tx_id), reason)
        elif refund_reference:
            self._queue_refund(cur, tx_id, refund_reference, reason, claim or claim_code(tx_id),
                               {"currency": row["currency"], "amount": row["amount"]})
        else:
            self._issue_claim(cur, tx_id, claim, reason)

    def unresolved_vends(self, since: datetime) -> list[str]:
        """``vend_unknown`` sales whose machine was told to dispense at or after ``since``."""
        with self._tx(write=False) as cur:
            rows = cur.execute(
                "SELECT DISTINCT t.id FROM transactions t JOIN events e ON e.tx_id = t.id"
                " WHERE t.status = 'vend_unknown' AND e.kind = 'vend_dispensing' AND e.at >= ?"
                " ORDER BY t.rowid", (since.astimezone(timezone.utc).isoformat(
                    timespec="microseconds"),)).fetchall()
        return [row["id"] for row in rows]

    def resolve_vend(self, tx_id: str, outcome: str, detail: dict[str, Any]) -> None:
        """The machine's late word on a ``vend_unknown`` sale: ``vended`` (one item less; its
        claim is no longer open) or a failure (``refund_due``: its claim stays open)."""
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            status = Status.VENDED if outcome == "vended" else Status.REFUND_DUE
            self._append(cur, tx_id, "vend_resolved", {"outcome": outcome, **detail},
                         (Step.RESOLVE_VEND, status))
            if outcome == "vended":
                cur.execute("UPDATE slots SET stock = MAX(stock - 1, 0), failures = 0"
                            " WHERE id = ?", (row["slot"],))

