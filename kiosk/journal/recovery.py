"""Start-up recovery: finish every story a crash or power cut cut short, and list the payments
that may still be paid."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from kiosk.claims import claim_code
from kiosk.journal.claims import Claims
from kiosk.journal.encoding import asset_from_json, optional_decimal
from kiosk.journal.status import (
    ABANDONED,
    PRE_PAYMENT,
    TERMINAL_STATE_VALUES,
    Status,
    Step,
)
from kiosk.payments.base import Order, PaymentRequest


@dataclass(frozen=True)
class RecoveryReport:
    """What ``Journal.recover`` found at start-up (transaction ids, oldest first)."""

    vend_unknown: tuple[str, ...]   # vend started, no result: never vend again, operator checks
    refund_due: tuple[str, ...]     # paid but not vended (or failed): claim code issued
    watch: tuple[str, ...]          # payment still open at the gateway: keep polling
    closed: tuple[str, ...] = ()    # interrupted before a payment was shown: payment_failed
    not_dispensed: tuple[str, ...] = ()  # of refund_due: stopped before the machine was told
                                         # to vend, so a certain no-vend: refundable

    @property
    def empty(self) -> bool:
        return not (self.vend_unknown or self.refund_due or self.watch or self.closed)



class Recovery(Claims):
    """What a restart settles and watches."""

    def recover(self) -> RecoveryReport:
        """Settle what a crash or power cut left unfinished, in one commit (see module doc).

        * ``vending`` (vend_started, no vend_result) -> ``vend_unknown`` with a claim code;
          never vended again. Unless the driver was never told to dispense (no
          ``vend_dispensing``): then it is a certain no-vend, ``refund_due`` with its claim.
        * ``paid`` (verified, not vended) -> ``refund_due`` with a claim code; never vended.
        * a failed or unknown vend that has no claim yet (a crash between the result and its
          claim, in a journal written before they shared a commit) -> its claim.
        * ``creating`` (the QR was never shown, so nobody can have paid) -> ``payment_failed``:
          closed, nothing to watch.
        * an open payment (pre-payment, or abandoned but not yet closed at the gateway) ->
          listed in ``watch`` for the runtime to poll (see ``watched_orders``).
        """
        vend_unknown: list[str] = []
        refund_due: list[str] = []
        closed: list[str] = []
        not_dispensed: list[str] = []
        with self._tx() as cur:
            unfinished = cur.execute(
                "SELECT id, status FROM transactions t WHERE status IN ('vending', 'paid',"
                " 'creating') OR (status IN ('vend_failed', 'vend_unknown') AND NOT EXISTS ("
                " SELECT 1 FROM events e WHERE e.tx_id = t.id AND e.kind = 'refund_requested'))"
                " ORDER BY rowid")
            for row in unfinished.fetchall():
                tx_id, status = row["id"], row["status"]
                if status == "creating":
                    self._append(cur, tx_id, "payment_failed",
                                 {"reason": "interrupted before the payment was shown"},
                                 (Step.RECOVER_UNSHOWN, Status.PAYMENT_FAILED))
                    self._append(cur, tx_id, "recovered", {"action": "closed"})
                    closed.append(tx_id)
                    continue
                if status == "vending" and self._never_dispensed(cur, tx_id):
                    self._append(cur, tx_id, "recovered", {"action": "not_dispensed"},
                                 (Step.RECOVER_VEND, Status.VEND_FAILED))
                    status = "not_dispensed"
                    not_dispensed.append(tx_id)
                elif status == "vending":
                    self._append(cur, tx_id, "recovered", {"action": "vend_unknown"},
                                 (Step.RECOVER_VEND, Status.VEND_UNKNOWN))
                    status = "vend_unknown"
                reason = {"paid": "paid but not vended before a restart",
                          "vend_unknown": "vend result unknown after a restart",
                          "not_dispensed": "the kiosk stopped before the machine was told to "
                                           "vend"}.get(status, "vend failed before a restart")
                code = self._issue_claim(cur, tx_id, claim_code(tx_id), reason)
                if status == "vend_unknown":
                    vend_unknown.append(tx_id)
                    continue
                if status != "not_dispensed":  # that one has its own "recovered" already
                    self._append(cur, tx_id, "recovered",
                                 {"action": "refund_due", "claim_code": code})
                refund_due.append(tx_id)
            watch = [row["id"] for row in self._watched_rows(cur)]
            for tx_id in watch:
                self._append(cur, tx_id, "recovered", {"action": "watch"})
        return RecoveryReport(tuple(vend_unknown), tuple(refund_due), tuple(watch),
                              tuple(closed), tuple(not_dispensed))

    def _never_dispensed(self, cur: sqlite3.Cursor, tx_id: str) -> bool:
        """The vend was started by firmware that marks dispensing, and never got that far."""
        started = self._last_event(cur, tx_id, "vend_started") or {}
        return bool(started.get("marks_dispense")) and not self._has_event(
            cur, tx_id, "vend_dispensing")

    def watched_orders(self) -> list[tuple[Order, PaymentRequest | None]]:
        """Payments that may still be paid: pre-payment sales, and abandoned sales whose gateway
        payment has not been seen in a terminal state. ``None`` when no payment was created."""
        with self._tx(write=False) as cur:
            return [self._sale_from_row(cur, row) for row in self._watched_rows(cur)]

    def sale(self, tx_id: str) -> tuple[Order, PaymentRequest | None]:
        """The order and gateway payment of ``tx_id``, as journalled (for refunds)."""
        with self._tx(write=False) as cur:
            return self._sale_from_row(cur, self._row(cur, tx_id))

    def _sale_from_row(self, cur: sqlite3.Cursor,
                       row: sqlite3.Row) -> tuple[Order, PaymentRequest | None]:
        order = Order(tx_id=row["id"], slot_id=row["slot"], item_name=row["item_name"],
                      amount=Decimal(row["amount"]), currency=row["currency"],
                      asset=asset_from_json(row["asset"]), expires_at=int(row["expires_at"]))
        created = self._last_event(cur, row["id"], "payment_created", "requoted")
        if created is None or row["payment_id"] is None:
            return order, None
        return order, PaymentRequest(
            payment_id=row["payment_id"], link=row["payment_link"] or "",
            expires_at=int(created.get("expires_at") or row["expires_at"]),
            crypto_amount=optional_decimal(created.get("crypto_amount")),
            crypto_symbol=created.get("crypto_symbol"), reference=created.get("reference"),
            memo=created.get("memo"), rate=optional_decimal(created.get("rate")))

    def _watched_rows(self, cur: sqlite3.Cursor) -> list[sqlite3.Row]:
        """Pre-payment sales, and abandoned ones with a payment the gateway has not closed."""
        pre = ", ".join(f"'{s}'" for s in sorted(PRE_PAYMENT))
        abandoned = ", ".join(f"'{s}'" for s in sorted(ABANDONED))
        terminal = ", ".join(f"'{s}'" for s in TERMINAL_STATE_VALUES)
        # refund_due before any verified payment: a part-paid claim whose payment is open.
        rows: list[sqlite3.Row] = cur.execute(
            f"SELECT * FROM transactions t WHERE t.status IN ({pre})"
            f" OR (t.status IN ({abandoned}, 'refund_due') AND t.payment_id IS NOT NULL"
            f"  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.tx_id = t.id AND ("
            f"   e.kind IN ('paid_verified', 'paid_late', 'vend_started')"
            f"   OR (e.kind = 'status_seen'"
            f"   AND json_extract(e.detail, '$.state') IN ({terminal})))))"
            f" ORDER BY t.rowid").fetchall()
        return rows

