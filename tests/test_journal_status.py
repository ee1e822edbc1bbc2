"""The journal's one transition table, checked cell by cell against the list of every status
change a sale may make (this file is that list: a change to the table must change it too)."""

from __future__ import annotations

import itertools

import pytest

from kiosk.errors import JournalError
from kiosk.journal import Journal
from kiosk.journal.status import MOVES, Status, Step, allowed, check

PRE = "creating awaiting confirming underpaid under_review"
SEEN_TO = "awaiting confirming underpaid under_review cancelled expired payment_failed"
ABANDONED = "cancelled expired payment_failed"
REFUNDABLE = "paid vend_failed vend_unknown paid_late refund_due"
# step: (from, to); "-": the step keeps the status
LEGAL = {
    Step.PAYMENT_CREATED: ("creating", "awaiting"),
    Step.STATUS_SEEN: (PRE, SEEN_TO),
    Step.PAID_VERIFIED: (PRE, "paid"),
    Step.ABANDON: (PRE, ABANDONED),
    Step.PAID_LATE: (f"{PRE} {ABANDONED} refund_due", "paid_late"),
    Step.START_VEND: ("paid", "vending"),
    Step.DISPENSING: ("vending", "-"),
    Step.VEND_RESULT: ("vending", "vended vend_failed vend_unknown"),
    Step.RESOLVE_VEND: ("vend_unknown", "vended refund_due"),
    Step.CLAIM: (f"{REFUNDABLE} {ABANDONED} awaiting confirming underpaid under_review refunded",
                 "refund_due"),
    Step.REFUND_REQUESTED: (REFUNDABLE, "refund_due"),
    Step.REFUND_DONE: (REFUNDABLE, "refunded"),
    Step.RECOVER_UNSHOWN: ("creating", "payment_failed"),
    Step.RECOVER_VEND: ("vending", "vend_failed vend_unknown"),
    Step.SETTLE_CLAIM: ("refund_due paid_late vend_unknown", "refunded settled"),
}
CELLS = list(itertools.product(Step, Status, Status))


def test_every_step_is_in_the_table() -> None:
    assert set(MOVES) == set(Step) == set(LEGAL)


def test_each_transition_is_legal_exactly_when_the_list_says() -> None:
    wrong = []
    for step, current, new in CELLS:
        sources, targets = (set(words.split()) for words in LEGAL[step])
        legal = current in sources and (new == current or new in targets)
        if allowed(step, current, new) is not legal:
            wrong.append(f"{step}: {current} -> {new} should be {'legal' if legal else 'refused'}")
    assert wrong == []


@pytest.mark.parametrize(("step", "current", "new"), [
    (Step.VEND_RESULT, Status.PAID, Status.VENDED),           # never a result without a vend
    (Step.START_VEND, Status.VENDED, Status.VENDING),         # never vended twice
    (Step.ABANDON, Status.PAID, Status.CANCELLED),            # a paid sale is never abandoned
])
def test_an_illegal_transition_names_the_step_and_the_statuses(step: Step, current: Status,
                                                               new: Status) -> None:
    with pytest.raises(JournalError, match=f"tx-1: {step.value}: status {current} -> {new} is "
                                           "not allowed"):
        check(step, "tx-1", current, new)


@pytest.mark.parametrize("step", list(Step))
def test_a_step_that_keeps_the_status_is_checked_for_where_it_starts(step: Step) -> None:
    sources = set(LEGAL[step][0].split())
    for status in Status:
        assert allowed(step, status) is (status in sources)


def test_the_journal_refuses_an_illegal_transition_and_records_nothing(tmp_path: object) -> None:
    from decimal import Decimal
    from pathlib import Path

    from kiosk.payments.base import Order

    with Journal.open_in(Path(str(tmp_path))) as journal:
        journal.begin(Order("tx-1", "A1", "Cola", Decimal("2.50"), "USD", None, 2_000_000_000),
                      "mixpay")
        before = journal.transaction("tx-1")
        with pytest.raises(JournalError, match="refund_done: status creating -> refunded"):
            journal.refund_done("tx-1", {})
        assert journal.transaction("tx-1") == before   # the whole step rolled back
