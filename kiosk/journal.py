"""The sales journal: every step of a sale is recorded *before* it is acted on.

SQLite at ``<data_dir>/journal.db`` in WAL mode with ``synchronous=FULL``, so a committed step
survives a power cut. Each public method is one short ``BEGIN IMMEDIATE`` ... ``COMMIT``: a crash
leaves the whole step or none of it. One connection is shared by the worker threads and guarded
by a lock (never call the journal from the UI thread: a commit waits for the disk).

A sale, step by step (status column in brackets)::

    begin                 payment_requested   [creating]
    payment_created       payment_created     [awaiting]
    status_seen           status_seen         [confirming / underpaid / under_review / awaiting]
    paid_verified         paid_verified       [paid]
    start_vend            vend_started        [vending]       <- the exactly-once guard
    vend_result           vend_result         [vended / vend_failed / vend_unknown]
    claim_issued          refund_requested    [refund_due]
    refund_requested      refund_requested    [refund_due]
    refund_done           refund_done         [refunded]

    abandoned             cancelled | expired | payment_failed   (only before a verified payment)
    paid_late             paid_late           [paid_late]     (paid after abandon / after restart)
    close_watch           status_seen         [expired / cancelled / payment_failed]
    recover               recovered           [vend_unknown / refund_due / unchanged]

Amounts are stored as decimal TEXT and come back as ``Decimal``; event details are JSON objects
(``Decimal`` values are written as strings). Timestamps are ISO-8601 UTC with microseconds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any

from kiosk.claims import claim_code, normalize_claim_code
from kiosk.errors import JournalError
from kiosk.money import MINOR_UNITS, decimal_places, format_amount
from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentState

SCHEMA_VERSION = 4   # 2: selftests table; 3: operator_events table; 4: refunds, slot failures
FILE_NAME = "journal.db"
CHECK_LINES = 3                   # problems a damaged journal reports, at most

STATUSES: tuple[str, ...] = (
    "creating", "awaiting", "confirming", "underpaid", "under_review", "paid", "vending",
    "vended", "vend_failed", "vend_unknown", "payment_failed", "expired", "cancelled",
    "paid_late", "refund_due", "refunded",
)
# No verified payment yet and none given up on: the gateway may still report anything.
PRE_PAYMENT: frozenset[str] = frozenset(
    {"creating", "awaiting", "confirming", "underpaid", "under_review"})
# The kiosk gave up on the sale before it was paid; the gateway payment may still be open.
ABANDONED: frozenset[str] = frozenset({"cancelled", "expired", "payment_failed"})
# Money was (or may have been) taken and the customer may be owed a refund or a claim.
_REFUNDABLE: frozenset[str] = frozenset(
    {"paid", "vend_failed", "vend_unknown", "paid_late", "refund_due"})
# Sales the operator still owes something (money or an item): ``kiosk journal --claims``.
OPEN_CLAIM_STATUSES: frozenset[str] = frozenset({"refund_due", "paid_late", "vend_unknown"})
# Vend outcomes that say the slot itself is faulty (not the customer, not the link).
SLOT_FAILURES: frozenset[str] = frozenset({"no_drop", "jam", "motor_fault"})

_SEEN_STATUS: dict[PaymentState, str] = {
    PaymentState.AWAITING: "awaiting",
    PaymentState.CONFIRMING: "confirming",
    PaymentState.UNDERPAID: "underpaid",
    PaymentState.UNDER_REVIEW: "under_review",
}
_CLOSED_STATUS: dict[PaymentState, str] = {
    PaymentState.EXPIRED: "expired",
    PaymentState.CANCELLED: "cancelled",
    PaymentState.FAILED: "payment_failed",
}
_TERMINAL_STATE_VALUES: tuple[str, ...] = tuple(
    state.value for state in PaymentState if state.terminal)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY,
    slot TEXT NOT NULL,
    item_name TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    gateway TEXT NOT NULL,
    asset TEXT NULL,
    payment_id TEXT NULL,
    payment_link TEXT NULL,
    expires_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    claim_code TEXT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_id TEXT REFERENCES transactions(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_tx_seq ON events(tx_id, seq);
CREATE TABLE IF NOT EXISTS slots (
    id TEXT PRIMARY KEY,
    stock INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT NOT NULL DEFAULT '',
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refunds (
    tx_id TEXT PRIMARY KEY REFERENCES transactions(id),
    reference TEXT NOT NULL,
    reason TEXT NOT NULL,
    claim_code TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE TABLE IF NOT EXISTS selftests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    passed INTEGER NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operator_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""

# Operator events that count towards (or reset) the PIN lockout.
PIN_FAILED = "pin_failed"
PIN_LOCKED = "pin_locked"
PIN_OK = "pin_ok"


@dataclass(frozen=True)
class SlotState:
    """A slot as the journal knows it: stock left and whether a fault took it out of sale."""

    stock: int
    disabled: bool
    disabled_reason: str


@dataclass(frozen=True)
class PendingRefund:
    """An automatic refund the gateway has not confirmed yet (the durable refund queue)."""

    tx_id: str
    reference: str                  # the idempotency reference every retry sends
    reason: str
    claim_code: str                 # what the operator settles it by if the refund gives up
    requested_at: datetime
    attempts: int


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


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(detail: Mapping[str, Any]) -> str:
    return json.dumps(dict(detail), default=_json_default, ensure_ascii=False,
                      separators=(",", ":"))


def _amount_text(amount: Decimal, currency: str) -> str:
    """``Decimal("2.5"), "USD"`` -> ``"2.50"``; never rounds, never accepts a float."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise JournalError(f"amount {amount!r} is not a finite Decimal")
    exponent = MINOR_UNITS.get(currency.upper())
    if exponent is not None and decimal_places(amount) <= exponent:
        return format_amount(amount, currency)
    return f"{amount:f}"


def _asset_json(asset: Asset | None) -> str | None:
    if asset is None:
        return None
    return _dumps({"symbol": asset.symbol, "name": asset.name, "network": asset.network,
                   "asset_id": asset.asset_id})


def _asset_from_json(text: str | None) -> Asset | None:
    if text is None:
        return None
    data = json.loads(text)
    return Asset(symbol=data["symbol"], name=data["name"], network=data["network"],
                 asset_id=data["asset_id"])


def _request_detail(request: PaymentRequest) -> dict[str, Any]:
    return {"payment_id": request.payment_id, "link": request.link,
            "expires_at": request.expires_at, "crypto_amount": request.crypto_amount,
            "crypto_symbol": request.crypto_symbol, "reference": request.reference,
            "memo": request.memo}


def _optional_decimal(text: object) -> Decimal | None:
    return None if text is None else Decimal(str(text))


class Journal:
    """The sales journal. Thread-safe; every public method is one atomic step."""

    def __init__(self, path: Path, now: Callable[[], datetime] = utc_now) -> None:
        self.path = Path(path)
        self._now = now
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._write_fault = ""             # why the last write failed (disk full...), or ""
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False, timeout=10.0)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
        try:
            conn.row_factory = sqlite3.Row
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"journal {self.path}: cannot enable WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
            self._migrate()
        except BaseException as exc:
            self._conn = None
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
            raise

    @classmethod
    def open_in(cls, data_dir: Path, *, verify: bool = False) -> Journal:
        """The journal of a data directory (created if missing): ``data_dir / "journal.db"``;
        with ``verify``, every page checked first (``verify``)."""
        data_dir = Path(data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"cannot create data directory {data_dir}: {exc}") from exc
        journal = cls(data_dir / FILE_NAME)
        if verify:
            try:
                journal.verify()
            except JournalError:
                journal.close()
                raise
        return journal

    def verify(self) -> None:
        """SQLite's quick check of every page: the kiosk never sells on a damaged journal (it
        could not keep its records), and leaves the file as it is for the operator."""
        with self._tx(write=False) as cur:
            rows = cur.execute(f"PRAGMA quick_check({CHECK_LINES})").fetchall()
        # one line each: SQLite's reports span lines ("*** in database main ***\nPage 9: ...")
        problems = [" ".join(str(row[0]).split()) for row in rows]
        if problems != ["ok"]:
            raise JournalError(f"journal {self.path} is damaged ({'; '.join(problems)}): keep "
                               "it for the operator and move it aside to sell again")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except sqlite3.Error as exc:
                    raise JournalError(f"cannot close journal {self.path}: {exc}") from exc
                finally:
                    self._conn = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ a sale, step by step

    def begin(self, order: Order, gateway: str) -> None:
        """Record the sale before asking the gateway for a payment (status ``creating``)."""
        amount = _amount_text(order.amount, order.currency)
        with self._tx() as cur:
            if self._find_row(cur, order.tx_id) is not None:
                raise JournalError(f"transaction {order.tx_id} already exists in the journal")
            stamp = self._stamp()
            cur.execute(
                "INSERT INTO transactions (id, slot, item_name, amount, currency, gateway, asset,"
                " payment_id, payment_link, expires_at, status, claim_code, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, 'creating', NULL, ?, ?)",
                (order.tx_id, order.slot_id, order.item_name, amount, order.currency, gateway,
                 _asset_json(order.asset), int(order.expires_at), stamp, stamp))
            self._append(cur, order.tx_id, "payment_requested", {
                "slot": order.slot_id, "amount": amount, "currency": order.currency,
                "asset": order.asset.symbol if order.asset else None})

    def payment_created(self, tx_id: str, request: PaymentRequest) -> None:
        """The gateway created the payment: record it before the QR is shown (``awaiting``)."""
        with self._tx() as cur:
            self._require_status(cur, tx_id, "awaiting", {"creating"})
            cur.execute("UPDATE transactions SET payment_id = ?, payment_link = ? WHERE id = ?",
                        (request.payment_id, request.link, tx_id))
            self._append(cur, tx_id, "payment_created", _request_detail(request),
                         status="awaiting")

    def requoted(self, tx_id: str, request: PaymentRequest) -> None:
        """The gateway replaced the quote (WCT Pay): what the customer is now asked to pay."""
        with self._tx() as cur:
            self._row(cur, tx_id)
            cur.execute("UPDATE transactions SET payment_id = ?, payment_link = ? WHERE id = ?",
                        (request.payment_id, request.link, tx_id))
            self._append(cur, tx_id, "requoted", _request_detail(request))

    def status_seen(self, tx_id: str, state: PaymentState, raw_status: str,
                    detail: dict[str, Any]) -> bool:
        """Record a polled payment status unless it repeats the last one (then ``False``).

        Moves a pre-payment sale to awaiting / confirming / underpaid / under_review; any other
        status (a terminal state, or a sale already paid, abandoned or vended) is kept.
        """
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            return self._seen(cur, tx_id, row["status"], state, raw_status, detail,
                              _SEEN_STATUS.get(state))

    def paid_verified(self, tx_id: str, detail: dict[str, Any]) -> bool:
        """The payment is PAID and verified against the order (``paid``): it may now vend.

        ``False`` (nothing recorded) if this payment was already recorded as paid, including as
        ``paid_late``. A sale that was abandoned must go through ``paid_late`` instead.
        """
        with self._tx() as cur:
            if self._has_event(cur, tx_id, "paid_verified", "paid_late"):
                return False
            self._require_status(cur, tx_id, "paid", PRE_PAYMENT)
            self._append(cur, tx_id, "paid_verified", detail, status="paid")
            return True

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
                         status="vending")
            return True

    def dispensing(self, tx_id: str) -> None:
        """The driver is about to dispense (energise the motor, approve the MDB vend)."""
        with self._tx() as cur:
            self._require_status(cur, tx_id, "vending", {"vending"})
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
        new_status = {"vended": "vended", "unknown": "vend_unknown"}.get(outcome, "vend_failed")
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            if (not self._has_event(cur, tx_id, "vend_started")
                    or self._has_event(cur, tx_id, "vend_result")):
                raise JournalError(
                    f"transaction {tx_id}: vend_result without a pending vend_started "
                    f"(status {row['status']} -> {new_status} not allowed)")
            self._require_status(cur, tx_id, new_status, {"vending"}, row)
            self._append(cur, tx_id, "vend_result",
                         {"outcome": outcome, **{k: v for k, v in detail.items()
                                                 if k != "outcome"}}, status=new_status)
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
            row = self._require_status(cur, tx_id, "resolved", {"vend_unknown"})
            status = "vended" if outcome == "vended" else "refund_due"
            self._append(cur, tx_id, "vend_resolved", {"outcome": outcome, **detail},
                         status=status)
            if outcome == "vended":
                cur.execute("UPDATE slots SET stock = MAX(stock - 1, 0), failures = 0"
                            " WHERE id = ?", (row["slot"],))

    def claim_issued(self, tx_id: str, claim_code: str, reason: str) -> None:
        """The customer was shown ``claim_code`` to claim a refund or the item (``refund_due``)."""
        with self._tx() as cur:
            self._issue_claim(cur, tx_id, claim_code, reason)

    def refund_requested(self, tx_id: str, detail: dict[str, Any]) -> None:
        """A refund was asked of the gateway or the operator (``refund_due``)."""
        with self._tx() as cur:
            self._require_status(cur, tx_id, "refund_due", _REFUNDABLE)
            self._append(cur, tx_id, "refund_requested", detail, status="refund_due")

    def refund_done(self, tx_id: str, detail: dict[str, Any]) -> None:
        """The money went back to the customer (``refunded``); a queued refund is done."""
        with self._tx() as cur:
            self._require_status(cur, tx_id, "refunded", _REFUNDABLE)
            self._append(cur, tx_id, "refund_done", detail, status="refunded")
            cur.execute("UPDATE refunds SET state = 'done' WHERE tx_id = ?", (tx_id,))

    # ------------------------------------------------------------------ the refund queue

    def queue_refund(self, tx_id: str, reference: str, reason: str, code: str,
                     detail: Mapping[str, Any]) -> bool:
        """Ask for an automatic refund, durably: ``refund_requested`` and a queue row in one
        commit, retried (across restarts) until the gateway confirms or it gives up.
        ``False`` if this sale's refund is already queued (one refund, one reference)."""
        with self._tx() as cur:
            self._require_status(cur, tx_id, "refund_due", _REFUNDABLE)
            if cur.execute("SELECT 1 FROM refunds WHERE tx_id = ?", (tx_id,)).fetchone():
                return False
            self._queue_refund(cur, tx_id, reference, reason, code, detail)
            return True

    def _queue_refund(self, cur: sqlite3.Cursor, tx_id: str, reference: str, reason: str,
                      code: str, detail: Mapping[str, Any]) -> None:
        stamp = self._stamp()
        cur.execute("INSERT INTO refunds (tx_id, reference, reason, claim_code, requested_at)"
                    " VALUES (?, ?, ?, ?, ?)", (tx_id, reference, reason, code, stamp))
        cur.execute("UPDATE transactions SET claim_code = ? WHERE id = ?", (code, tx_id))
        self._append(cur, tx_id, "refund_requested",
                     {"method": "gateway", "reference": reference, "reason": reason, **detail},
                     status="refund_due")

    def pending_refunds(self) -> list[PendingRefund]:
        """Queued refunds not yet confirmed or given up, oldest first."""
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT * FROM refunds WHERE state = 'pending'"
                               " ORDER BY requested_at").fetchall()
        return [PendingRefund(row["tx_id"], row["reference"], row["reason"], row["claim_code"],
                              datetime.fromisoformat(row["requested_at"]), int(row["attempts"]))
                for row in rows]

    def refund_attempt_failed(self, tx_id: str, error: str) -> None:
        """One try the gateway did not confirm (down, rate limited, garbled): retried later."""
        with self._tx() as cur:
            cur.execute("UPDATE refunds SET attempts = attempts + 1, last_error = ?"
                        " WHERE tx_id = ?", (error[:500], tx_id))

    def refund_given_up(self, tx_id: str, reason: str) -> None:
        """The gateway refused the refund, or never confirmed it in time: the queued refund
        ends and the operator settles the sale by its claim code (still ``refund_due``)."""
        with self._tx() as cur:
            row = cur.execute("SELECT claim_code FROM refunds WHERE tx_id = ? AND"
                              " state = 'pending'", (tx_id,)).fetchone()
            if row is None:
                return
            cur.execute("UPDATE refunds SET state = 'given_up', last_error = ? WHERE tx_id = ?",
                        (reason[:500], tx_id))
            self._issue_claim(cur, tx_id, row["claim_code"], reason)

    def abandoned(self, tx_id: str, kind: str, detail: dict[str, Any], *,
                  code: str = "", open_claim: bool = False) -> None:
        """The sale ended unpaid: ``kind`` is ``cancelled``, ``expired`` or ``payment_failed``.

        ``code``: the claim code the customer was given to keep; a payment that arrives later
        is settled by it. ``open_claim``: money did arrive (part of it, or unverified): the
        claim is open now (``refund_due``), in the same commit. Refused (``JournalError``)
        once a payment was verified: a paid sale is never abandoned.
        """
        if kind not in ABANDONED:
            raise ValueError(f"abandon kind must be one of {sorted(ABANDONED)}, not {kind!r}")
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            if self._has_event(cur, tx_id, "paid_verified"):
                raise JournalError(f"transaction {tx_id} is paid (status {row['status']}): "
                                   f"it cannot become {kind}")
            self._require_status(cur, tx_id, kind, PRE_PAYMENT, row)
            if code:
                detail = {**detail, "claim_code": code}
                cur.execute("UPDATE transactions SET claim_code = ? WHERE id = ?", (code, tx_id))
            self._append(cur, tx_id, kind, detail, status=kind)
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
            self._require_status(cur, tx_id, "paid_late",
                                 PRE_PAYMENT | ABANDONED | {"refund_due"}, row)
            code = claim_code(tx_id)
            cur.execute("UPDATE transactions SET claim_code = ? WHERE id = ?", (code, tx_id))
            self._append(cur, tx_id, "paid_late",
                         {**detail, "refund_due": True, "claim_code": code}, status="paid_late")
            return True

    # ------------------------------------------------------------------ start-up recovery

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
                                 status="payment_failed")
                    self._append(cur, tx_id, "recovered", {"action": "closed"})
                    closed.append(tx_id)
                    continue
                if status == "vending" and self._never_dispensed(cur, tx_id):
                    self._append(cur, tx_id, "recovered", {"action": "not_dispensed"},
                                 status="vend_failed")
                    status = "not_dispensed"
                    not_dispensed.append(tx_id)
                elif status == "vending":
                    self._append(cur, tx_id, "recovered", {"action": "vend_unknown"},
                                 status="vend_unknown")
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
                      asset=_asset_from_json(row["asset"]), expires_at=int(row["expires_at"]))
        created = self._last_event(cur, row["id"], "payment_created", "requoted")
        if created is None or row["payment_id"] is None:
            return order, None
        return order, PaymentRequest(
            payment_id=row["payment_id"], link=row["payment_link"] or "",
            expires_at=int(created.get("expires_at") or row["expires_at"]),
            crypto_amount=_optional_decimal(created.get("crypto_amount")),
            crypto_symbol=created.get("crypto_symbol"), reference=created.get("reference"),
            memo=created.get("memo"))

    def close_watch(self, tx_id: str, state: PaymentState, detail: dict[str, Any]) -> None:
        """A watched payment ended unpaid (EXPIRED, CANCELLED or FAILED) at the gateway.

        Records ``status_seen`` (deduplicated like ``status_seen``); a sale still pre-payment
        becomes ``expired`` / ``cancelled`` / ``payment_failed``, any other status is kept.
        """
        if state not in _CLOSED_STATUS:
            raise ValueError(f"close_watch needs EXPIRED, CANCELLED or FAILED, not {state.name}")
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            raw = str(detail.get("raw_status", state.value))
            self._seen(cur, tx_id, row["status"], state, raw, detail, _CLOSED_STATUS[state])

    def watch_given_up(self, tx_id: str, reason: str, *, claim: bool) -> None:
        """The kiosk stops watching a payment that never reached a final status at the gateway
        (past its deadline), so no restart watches it again. ``claim``: money was seen (part
        paid, still confirming) or nothing is known: the operator settles it by its code;
        otherwise nothing arrived by the deadline and the sale is closed as expired."""
        with self._tx() as cur:
            row = self._row(cur, tx_id)
            # A terminal status_seen is what keeps a payment out of the watch list.
            self._seen(cur, tx_id, row["status"], PaymentState.EXPIRED, "watch ended",
                       {"reason": reason}, "expired")
            if claim and row["status"] not in OPEN_CLAIM_STATUSES | {"refunded"}:
                self._issue_claim(cur, tx_id, claim_code(tx_id), reason)

    # ------------------------------------------------------------------ reading

    def transactions(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Every transaction (the latest ``limit`` when given), oldest first, with its events:
        the ``kiosk journal --json`` shape."""
        with self._tx(write=False) as cur:
            if limit is None:
                rows = cur.execute("SELECT * FROM transactions ORDER BY rowid").fetchall()
            else:
                rows = cur.execute(
                    "SELECT * FROM (SELECT rowid AS r, * FROM transactions ORDER BY rowid DESC"
                    " LIMIT ?) ORDER BY r", (max(0, limit),)).fetchall()
            return self._render(cur, rows)

    def transaction(self, tx_id: str) -> dict[str, Any]:
        """One transaction in the ``transactions()`` shape; ``JournalError`` if absent."""
        with self._tx(write=False) as cur:
            return self._render(cur, [self._row(cur, tx_id)])[0]

    def find_by_claim_code(self, code: str) -> dict[str, Any] | None:
        """The transaction a claim code was issued for (case, hyphens and I/L/O forgiven)."""
        wanted = normalize_claim_code(code)
        if not wanted:
            return None
        with self._tx(write=False) as cur:
            rows = cur.execute(
                "SELECT * FROM transactions WHERE claim_code IS NOT NULL ORDER BY rowid").fetchall()
            for row in rows:
                if normalize_claim_code(row["claim_code"]) == wanted:
                    return self._render(cur, [row])[0]
        return None

    # ------------------------------------------------------------------ slots

    def init_slots(self, stock: Mapping[str, int]) -> None:
        """Add slots the journal does not know yet; known slots keep their journalled stock."""
        with self._tx() as cur:
            cur.executemany("INSERT OR IGNORE INTO slots (id, stock, disabled, disabled_reason)"
                            " VALUES (?, ?, 0, '')",
                            [(slot, max(0, int(count))) for slot, count in stock.items()])

    def set_slot(self, slot_id: str, *, stock: int | None = None,
                 enabled: bool | None = None) -> None:
        """Operator action: restock a slot and/or put it back in (or out of) sale."""
        with self._tx() as cur:
            self._set_slot(cur, slot_id, stock, enabled)

    @staticmethod
    def _set_slot(cur: sqlite3.Cursor, slot_id: str, stock: int | None,
                  enabled: bool | None) -> None:
        cur.execute("INSERT OR IGNORE INTO slots (id, stock, disabled, disabled_reason)"
                    " VALUES (?, 0, 0, '')", (slot_id,))
        if stock is not None:
            cur.execute("UPDATE slots SET stock = ? WHERE id = ?", (max(0, stock), slot_id))
        if enabled is True:  # back on sale with a clean slate of failures
            cur.execute("UPDATE slots SET disabled = 0, disabled_reason = '', failures = 0"
                        " WHERE id = ?", (slot_id,))
        elif enabled is False:
            cur.execute("UPDATE slots SET disabled = 1, disabled_reason = 'operator'"
                        " WHERE id = ?", (slot_id,))

    def record_selftest(self, passed: bool, checks: list[dict[str, Any]]) -> str:
        """Journal a technician self-test run; returns its timestamp."""
        at = self._stamp()
        with self._tx() as cur:
            cur.execute("INSERT INTO selftests (at, passed, report) VALUES (?, ?, ?)",
                        (at, int(passed), _dumps({"checks": checks})))
        return at

    def selftests(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest self-test runs, newest first."""
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT at, passed, report FROM selftests ORDER BY seq DESC"
                               " LIMIT ?", (limit,)).fetchall()
        return [{"at": row["at"], "passed": bool(row["passed"]),
                 **json.loads(row["report"])} for row in rows]

    # ------------------------------------------------------------------ operator

    def operator_event(self, kind: str, detail: Mapping[str, Any]) -> str:
        """Journal one operator action (restock, re-enable, test vend, PIN failure...)."""
        at = self._stamp()
        with self._tx() as cur:
            cur.execute("INSERT INTO operator_events (at, kind, detail) VALUES (?, ?, ?)",
                        (at, kind, _dumps(detail)))
        return at

    def operator_change(self, slot_id: str, kind: str, detail: Mapping[str, Any], *,
                        stock: int | None = None, enabled: bool | None = None) -> None:
        """An operator's slot change and its event, in one step."""
        at = self._stamp()
        with self._tx() as cur:
            self._set_slot(cur, slot_id, stock, enabled)
            cur.execute("INSERT INTO operator_events (at, kind, detail) VALUES (?, ?, ?)",
                        (at, kind, _dumps({"slot": slot_id, **detail})))

    def operator_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest operator events, oldest first: ``{at, kind, detail}``."""
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT at, kind, detail FROM (SELECT * FROM operator_events"
                               " ORDER BY seq DESC LIMIT ?) ORDER BY seq", (limit,)).fetchall()
        return [{"at": row["at"], "kind": row["kind"], "detail": json.loads(row["detail"])}
                for row in rows]

    def pin_lockout(self) -> tuple[int, float]:
        """``(wrong PINs in a row, locked until)`` from the operator events: failures count
        back to the last good PIN or lockout; ``locked until`` (epoch seconds, 0 if never) is
        the latest lockout's, so a restart does not lift it."""
        failures = 0
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT kind, detail FROM operator_events WHERE kind IN (?, ?, ?)"
                               " ORDER BY seq DESC", (PIN_FAILED, PIN_LOCKED, PIN_OK))
            for row in rows:
                if row["kind"] == PIN_FAILED:
                    failures += 1
                    continue
                if row["kind"] == PIN_LOCKED:
                    return failures, float(json.loads(row["detail"]).get("until", 0))
                break
        return failures, 0.0

    def slot_states(self) -> dict[str, SlotState]:
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT id, stock, disabled, disabled_reason FROM slots"
                               " ORDER BY id").fetchall()
        return {row["id"]: SlotState(stock=int(row["stock"]), disabled=bool(row["disabled"]),
                                     disabled_reason=row["disabled_reason"] or "")
                for row in rows}

    @property
    def write_fault(self) -> str:
        """Why the last write failed for want of storage ("database or disk is full"), or ""
        once a write has succeeded since."""
        with self._lock:
            return self._write_fault

    def check_writable(self) -> str:
        """Write the file's header (its schema version, unchanged): the write fault, or "" when
        the storage takes writes again."""
        try:
            with self._tx() as cur:
                cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except JournalError:
            pass
        return self.write_fault

    # ------------------------------------------------------------------ private helpers

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Cursor]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` under the lock; rolled back on any error.

        Reads (``write=False``) use a deferred transaction: one consistent snapshot that does
        not take the write lock from the kiosk when ``kiosk journal`` reads the same file.
        """
        with self._lock:
            conn = self._conn
            if conn is None:
                raise JournalError(f"journal {self.path} is closed")
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
            except sqlite3.Error as exc:
                self._storage_failed(exc, write)
                raise JournalError(f"journal {self.path}: cannot begin a write: {exc}") from exc
            try:
                yield conn.cursor()
                conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    self._storage_failed(exc, write)
                    raise JournalError(f"journal {self.path}: {exc}") from exc
                raise
            if write:
                self._write_fault = ""

    def _storage_failed(self, exc: sqlite3.Error, write: bool) -> None:
        """A write the storage refused (full, read-only, failing, corrupt), not one the
        journal's own rules refused: the kiosk is out of service until a write succeeds."""
        if write and not isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
            self._write_fault = f"journal cannot be written: {exc}"

    def _migrate(self) -> None:
        with self._tx() as cur:
            version = cur.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalError(f"journal {self.path} has schema version {version}; this "
                                   f"firmware knows up to {SCHEMA_VERSION}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(statement)
            slot_columns = {row[1] for row in cur.execute("PRAGMA table_info(slots)")}
            if "failures" not in slot_columns:  # a version 3 journal
                cur.execute("ALTER TABLE slots ADD COLUMN failures INTEGER NOT NULL DEFAULT 0")
            if version < SCHEMA_VERSION:
                cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _stamp(self) -> str:
        moment = self._now()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def _append(self, cur: sqlite3.Cursor, tx_id: str, kind: str, detail: Mapping[str, Any],
                status: str | None = None) -> None:
        """Append one event and touch the row (and set its status when given)."""
        stamp = self._stamp()
        cur.execute("INSERT INTO events (tx_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                    (tx_id, stamp, kind, _dumps(detail)))
        if status is None:
            cur.execute("UPDATE transactions SET updated_at = ? WHERE id = ?", (stamp, tx_id))
        else:
            cur.execute("UPDATE transactions SET status = ?, updated_at = ? WHERE id = ?",
                        (status, stamp, tx_id))

    def _find_row(self, cur: sqlite3.Cursor, tx_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = cur.execute(
            "SELECT * FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        return row

    def _row(self, cur: sqlite3.Cursor, tx_id: str) -> sqlite3.Row:
        row = self._find_row(cur, tx_id)
        if row is None:
            raise JournalError(f"transaction {tx_id} is not in the journal")
        return row

    def _require_status(self, cur: sqlite3.Cursor, tx_id: str, new_status: str,
                        allowed_from: frozenset[str] | set[str],
                        row: sqlite3.Row | None = None) -> sqlite3.Row:
        row = row if row is not None else self._row(cur, tx_id)
        if row["status"] not in allowed_from:
            raise JournalError(f"transaction {tx_id}: status {row['status']} -> {new_status} "
                               f"is not allowed")
        return row

    def _has_event(self, cur: sqlite3.Cursor, tx_id: str, *kinds: str) -> bool:
        marks = ", ".join("?" * len(kinds))
        return cur.execute(f"SELECT 1 FROM events WHERE tx_id = ? AND kind IN ({marks}) LIMIT 1",
                           (tx_id, *kinds)).fetchone() is not None

    def _last_event(self, cur: sqlite3.Cursor, tx_id: str, *kinds: str) -> dict[str, Any] | None:
        marks = ", ".join("?" * len(kinds))
        row = cur.execute(f"SELECT detail FROM events WHERE tx_id = ? AND kind IN ({marks})"
                          f" ORDER BY seq DESC LIMIT 1", (tx_id, *kinds)).fetchone()
        return None if row is None else dict(json.loads(row["detail"]))

    def _seen(self, cur: sqlite3.Cursor, tx_id: str, current: str, state: PaymentState,
              raw_status: str, detail: Mapping[str, Any], target: str | None) -> bool:
        """Shared by status_seen and close_watch: dedup the event, move a pre-payment status."""
        last = self._last_event(cur, tx_id, "status_seen")
        fresh = last is None or (last.get("state"), last.get("raw_status")) != (state.value,
                                                                                 raw_status)
        status = target if current in PRE_PAYMENT and target is not None else None
        if fresh:
            self._append(cur, tx_id, "status_seen",
                         {"state": state.value, "raw_status": raw_status,
                          **{k: v for k, v in detail.items() if k not in ("state", "raw_status")}},
                         status=status if status != current else None)
        elif status is not None and status != current:
            cur.execute("UPDATE transactions SET status = ?, updated_at = ? WHERE id = ?",
                        (status, self._stamp(), tx_id))
        return fresh

    def _issue_claim(self, cur: sqlite3.Cursor, tx_id: str, code: str, reason: str) -> str:
        # Abandoned or still open (not "creating": no payment exists) when a payment arrives
        # that failed verification: money may have come, so a claim.
        row = self._require_status(cur, tx_id, "refund_due", _REFUNDABLE | ABANDONED
                                   | (PRE_PAYMENT - {"creating"}) | {"refunded"})
        cur.execute("UPDATE transactions SET claim_code = ? WHERE id = ?", (code, tx_id))
        # A refunded sale stays refunded; an unknown vend stays unknown: the operator checks.
        status = None if row["status"] in ("refunded", "vend_unknown") else "refund_due"
        self._append(cur, tx_id, "refund_requested",
                     {"method": "claim", "claim_code": code, "reason": reason}, status=status)
        return code

    def _watched_rows(self, cur: sqlite3.Cursor) -> list[sqlite3.Row]:
        """Pre-payment sales, and abandoned ones with a payment the gateway has not closed."""
        pre = ", ".join(f"'{s}'" for s in sorted(PRE_PAYMENT))
        abandoned = ", ".join(f"'{s}'" for s in sorted(ABANDONED))
        terminal = ", ".join(f"'{s}'" for s in _TERMINAL_STATE_VALUES)
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

    def _render(self, cur: sqlite3.Cursor, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
        events: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
        if len(rows) <= 100:
            marks = ", ".join("?" * len(rows))
            query = (f"SELECT tx_id, at, kind, detail FROM events WHERE tx_id IN ({marks})"
                     f" ORDER BY seq")
            params: list[str] = [row["id"] for row in rows]
        else:  # too many ids for one IN list: read every event, keep the ones asked for
            query, params = "SELECT tx_id, at, kind, detail FROM events ORDER BY seq", []
        for event in cur.execute(query, params).fetchall() if rows else ():
            if event["tx_id"] in events:
                events[event["tx_id"]].append({"at": event["at"], "kind": event["kind"],
                                               "detail": json.loads(event["detail"])})
        rendered = []
        for row in rows:
            asset = _asset_from_json(row["asset"])
            rendered.append({
                "id": row["id"], "slot": row["slot"], "item_name": row["item_name"],
                "amount": row["amount"], "currency": row["currency"], "gateway": row["gateway"],
                "asset": asset.symbol if asset else None, "payment_id": row["payment_id"],
                "payment_link": row["payment_link"], "status": row["status"],
                "claim_code": row["claim_code"], "created_at": row["created_at"],
                "updated_at": row["updated_at"], "events": events[row["id"]]})
        return rendered
