"""A sale's payment, step by step: begun, created at the gateway, seen, paid, abandoned, paid
late, its watch closed."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from kiosk.claims import claim_code
from kiosk.errors import JournalError
from kiosk.journal.claims import Claims
from kiosk.journal.encoding import amount_text, asset_json, request_detail
from kiosk.journal.status import (
    ABANDONED,
    CLOSED_STATUS,
    OPEN_CLAIM_STATUSES,
    SEEN_STATUS,
    Status,
    Step,
    allowed,
    check,
)
from kiosk.payments.base import Order, PaymentRequest, PaymentState


class Payments(Claims):
    """The payment side of a sale."""

    def begin(self, order: Order, gateway: str) -> None:
        """Record the sale before asking the gateway for a payment (status ``creating``)."""
        amount = amount_text(order.amount, order.currency)
        with self._tx() as cur:
            if self._find_row(cur, order.tx_id) is not None:
                raise JournalError(f"transaction {order.tx_id} already exists in the journal")
            stamp = self._stamp()
            cur.execute(
                "INSERT INTO transactions (id, slot, item_name, amount, currency, gateway, asset,"
                " payment_id, payment_link, expires_at, status, claim_code, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, 'creating', NULL, ?, ?)",
                (order.tx_id, order.slot_id, order.item_name, amount, order.currency, gateway,
                 asset_json(order.asset), int(order.expires_at), stamp, stamp))
            self._append(cur, order.tx_id, "payment_requested", {
                "slot": order.slot_id, "amount": amount, "currency": order.currency,
                "asset": order.asset.symbol if order.asset else None})

    def payment_created(self, tx_id: str, request: PaymentRequest) -> None:
        """The gateway created the payment: record it before the QR is shown (``awaiting``)."""
        with self._tx() as cur:
            cur.execute("UPDATE transactions SET payment_id = ?, payment_link = ? WHERE id = ?",
                        (request.payment_id, request.link, tx_id))
            self._append(cur, tx_id, "payment_created", request_detail(request),
                         (Step.PAYMENT_CREATED, Status.AWAITING))

    def requoted(self, tx_id: str, request: PaymentRequest) -> None:
        """The gateway replaced the quote (WCT Pay): what the customer is now asked to pay."""
        with self._tx() as cur:
            self._row(cur, tx_id)
            cur.execute("UPDATE transactions SET payment_id = ?, payment_link = ? WHERE id = ?",
                        (request.payment_id, request.link, tx_id))
            self._append(cur, tx_id, "requoted", request_detail(request))

    def status_seen(self, tx_id: str, state: PaymentState, raw_status: str,
                    detail: dict[str, Any]) -> bool:
        """Record a polled payment status unless it repeats the last one (then ``False``).

        Moves a pre-payment sale to awaiting / confirming / underpaid / under_review; any other
        status (a terminal state, or a sale already paid, abandoned or vended) is kept.
        """
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            return self._seen(cur, tx_id, row["status"], state, raw_status, detail,
                              SEEN_STATUS.get(state))

    def paid_verified(self, tx_id: str, detail: dict[str, Any]) -> bool:
        """The payment is PAID and verified against the order (``paid``): it may now vend.

        ``False`` (nothing recorded) if this payment was already recorded as paid, including as
        ``paid_late``. A sale that was abandoned must go through ``paid_late`` instead.
        """
        with self._tx() as cur:
            if self._has_event(cur, tx_id, "paid_verified", "paid_late"):
                return False
            self._append(cur, tx_id, "paid_verified", detail,
                         (Step.PAID_VERIFIED, Status.PAID))
            return True

    def abandoned(self, tx_id: str, kind: str, detail: dict[str, Any], *,
                  code: str = "", open_claim: bool = False) -> None:
        """The sale ended unpaid: ``kind`` is ``cancelled``, ``expired`` or ``payment_failed``.

        ``code``: the claim code the customer was given to keep; a payment that arrives later
        is settled by it. ``open_claim``: money did arrive (part of it, or unverified): the
        claim is open now (``refund_due``), in the same commit. Refused (``JournalError``)
        once a payment was verified: a paid sale is never abandoned.
        """
        if kind not in ABANDONED:
            kinds = sorted(map(str, ABANDONED))
            raise ValueError(f"abandon kind must be one of {kinds}, not {kind!r}")
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            if self._has_event(cur, tx_id, "paid_verified"):
                raise JournalError(f"transaction {tx_id} is paid (status {row['status']}): "
                                   f"it cannot become {kind}")
            check(Step.ABANDON, tx_id, row["status"], kind)
            if code:
                detail = {**detail, "claim_code": code}
                cur.execute("UPDATE transactions SET claim_code = ? WHERE id = ?", (code, tx_id))
            self._append(cur, tx_id, kind, detail, (Step.ABANDON, Status(kind)))
            if open_claim:
                self._issue_claim(cur, tx_id, code or claim_code(tx_id),
                                  str(detail.get("reason", kind)))

    def paid_late(self, tx_id: str, detail: dict[str, Any]) -> bool:
        """A verified payment for a sale that was abandoned or found unfinished at start-up.

        Records ``paid_late`` (with ``refund_due: true`` and the claim code) and stores the claim
        code. ``False`` and nothing recorded if the sale already has ``paid_verified``,
        ``vend_started`` or ``paid_late``: a duplicate PAID never becomes a second sale.
        """
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            if self._has_event(cur, tx_id, "paid_verified", "vend_started", "paid_late"):
                return False
            # refund_due: a part-paid sale whose claim is open; the rest may still arrive.
            check(Step.PAID_LATE, tx_id, row["status"], Status.PAID_LATE)
            code = claim_code(tx_id)
            cur.execute("UPDATE transactions SET claim_code = ? WHERE id = ?", (code, tx_id))
            self._append(cur, tx_id, "paid_late",
                         {**detail, "refund_due": True, "claim_code": code},
                         (Step.PAID_LATE, Status.PAID_LATE))
            return True

    def close_watch(self, tx_id: str, state: PaymentState, detail: dict[str, Any]) -> None:
        """A watched payment ended unpaid (EXPIRED, CANCELLED or FAILED) at the gateway.

        Records ``status_seen`` (deduplicated like ``status_seen``); a sale still pre-payment
        becomes ``expired`` / ``cancelled`` / ``payment_failed``, any other status is kept.
        """
        if state not in CLOSED_STATUS:
            raise ValueError(f"close_watch needs EXPIRED, CANCELLED or FAILED, not {state.name}")
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            raw = str(detail.get("raw_status", state.value))
            self._seen(cur, tx_id, row["status"], state, raw, detail, CLOSED_STATUS[state])

    def watch_given_up(self, tx_id: str, reason: str, *, claim: bool) -> None:
        """The kiosk stops watching a payment that never reached a final status at the gateway
        (past its deadline), so no restart watches it again. ``claim``: money was seen (part
        paid, still confirming) or nothing is known: the operator settles it by its code;
        otherwise nothing arrived by the deadline and the sale is closed as expired."""
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            # A terminal status_seen is what keeps a payment out of the watch list.
            self._seen(cur, tx_id, row["status"], PaymentState.EXPIRED, "watch ended",
                       {"reason": reason}, Status.EXPIRED)
            if claim and row["status"] not in OPEN_CLAIM_STATUSES | {Status.REFUNDED}:
                self._issue_claim(cur, tx_id, claim_code(tx_id), reason)

    def claim_issued(self, tx_id: str, claim_code: str, reason: str) -> None:
        """The customer was shown ``claim_code`` to claim a refund or the item (``refund_due``)."""
        with self._tx() as cur:
            self._issue_claim(cur, tx_id, claim_code, reason)

    def _seen(self, cur: sqlite3.Cursor, tx_id: str, current: str, state: PaymentState,
              raw_status: str, detail: Mapping[str, Any], target: Status | None) -> bool:
        """Shared by status_seen and close_watch: dedup the event, move a pre-payment status."""
        last = self._last_event(cur, tx_id, "status_seen")
        fresh = last is None or (last.get("state"), last.get("raw_status")) != (state.value,
                                                                                 raw_status)
        # Only a sale still before its payment follows what the gateway says.
        moves = target is not None and target != current and allowed(Step.STATUS_SEEN, current,
                                                                      target)
        if fresh:
            self._append(cur, tx_id, "status_seen",
                         {"state": state.value, "raw_status": raw_status,
                          **{k: v for k, v in detail.items() if k not in ("state", "raw_status")}},
                         (Step.STATUS_SEEN, target) if moves and target else None)
        elif moves and target:
            self._move(cur, tx_id, Step.STATUS_SEEN, target)
        return fresh

