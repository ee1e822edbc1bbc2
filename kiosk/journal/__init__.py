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

The parts, one job each (a ``Journal`` is all of them on one connection): ``store`` the file,
its lock and transactions; ``schema`` its tables and their upgrades; ``status`` the statuses;
``payments`` and ``vends`` a sale's steps; ``claims`` what a failure owes; ``refunds`` the
refund queue; ``recovery`` what a restart settles; ``records`` reading back, slots, self-tests,
operator events; ``commands`` the fleet's commands, each applied once; ``outbox`` and
``outbox_rows`` what the fleet link must still publish, written in the same transaction as the
change it reports; ``encoding`` how values are written.
"""

from __future__ import annotations

from kiosk.journal.commands import FleetCommands, Settlement, SlotChange
from kiosk.journal.encoding import utc_now
from kiosk.journal.outbox import Outbox, OutboxRow
from kiosk.journal.payments import Payments
from kiosk.journal.records import PIN_FAILED, PIN_LOCKED, PIN_OK, SlotState
from kiosk.journal.recovery import Recovery, RecoveryReport
from kiosk.journal.refunds import PendingRefund, RefundQueue
from kiosk.journal.status import (
    ABANDONED,
    OPEN_CLAIM_STATUSES,
    PRE_PAYMENT,
    SLOT_FAILURES,
    STATUSES,
    Status,
    Step,
)
from kiosk.journal.schema import SCHEMA_VERSION
from kiosk.journal.store import FILE_NAME
from kiosk.journal.vends import Vends

__all__ = ["ABANDONED", "FILE_NAME", "OPEN_CLAIM_STATUSES", "PIN_FAILED", "PIN_LOCKED", "PIN_OK",
           "PRE_PAYMENT", "SCHEMA_VERSION", "SLOT_FAILURES", "STATUSES", "Journal",
           "Status", "Step", "OutboxRow", "PendingRefund", "RecoveryReport", "Settlement",
           "SlotChange", "SlotState", "utc_now"]


class Journal(Payments, Vends, RefundQueue, Recovery, FleetCommands, Outbox):
    """The sales journal. Thread-safe; every public method is one atomic step."""
