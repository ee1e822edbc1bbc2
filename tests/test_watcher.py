"""The payment watcher's bounds, with a real journal on disk and a gateway that says what the
test wants: every late watch ends in the journal, so a restart never watches it again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from fakes import FakeTime
from kiosk.claims import claim_code
from kiosk.errors import GatewayUnavailable
from kiosk.flow import PaymentUpdate
from kiosk.journal import OPEN_CLAIM_STATUSES, Journal
from kiosk.payments.base import Asset, Gateway, Order, PaymentRequest, PaymentState, PaymentStatus
from kiosk.watcher import LATE_CONFIRMING_MAX_S, LATE_GRACE_S, UNKNOWN_GIVE_UP_S, PaymentWatcher

DEADLINE = 1_800_000_000


class ScriptedGateway(Gateway):
    """Answers every status poll with ``answer()``: a status, or an exception to raise."""

    def __init__(self, answer: Callable[[], PaymentStatus]) -> None:
        self.answer = answer
        self.polls = 0

    def list_assets(self, amount: Decimal, currency: str) -> list[Asset]:
        return []

    def create(self, order: Order) -> PaymentRequest:
        raise AssertionError("the watcher never creates payments")

    def status(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        self.polls += 1
        return self.answer()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db") as opened:
        yield opened


def open_sale(journal: Journal, tx_id: str = "tx-1") -> tuple[Order, PaymentRequest]:
    order = Order(tx_id, "A1", "Water", Decimal("2.50"), "USD", None, DEADLINE)
    request = PaymentRequest(f"trace-{tx_id}", "https://pay.example/x", DEADLINE)
    journal.begin(order, "mixpay")
    journal.payment_created(tx_id, request)
    return order, request


def watch_once(journal: Journal, gateway: Gateway, order: Order, request: PaymentRequest,
               now: float, *, confirmed: bool = True) -> PaymentWatcher:
    """Watch ``order`` late, at ``now``, until the watcher lets go of it."""
    posted: list[PaymentUpdate] = []
    # The monotonic clock reads nothing like the wall clock: only their difference may count.
    watcher = PaymentWatcher(gateway, journal, posted.append, 0.2, FakeTime(5_000.0),
                             wall_clock=FakeTime(now))
    watcher.start()
    watcher.watch(order, request, late=True, confirmed=confirmed)
    deadline = time.monotonic() + 10
    while watcher.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    watcher.stop()
    assert watcher.pending() == 0, "the watch never ended"
    return watcher


def test_nothing_arrived_by_the_deadline_closes_the_sale_for_good(journal: Journal) -> None:
    order, request = open_sale(journal)
    journal.abandoned("tx-1", "cancelled", {}, code=claim_code("tx-1"))
    gateway = ScriptedGateway(lambda: PaymentStatus(PaymentState.AWAITING, "unpaid"))
    watch_once(journal, gateway, order, request, DEADLINE + LATE_GRACE_S + 1)
    tx = journal.transaction("tx-1")
    assert tx["status"] == "cancelled" and tx["status"] not in OPEN_CLAIM_STATUSES
    assert tx["events"][-1]["detail"]["reason"] == "nothing arrived by the gateway's deadline"
    assert journal.watched_orders() == []        # a restart does not watch it again
    assert journal.recover().watch == ()


def test_still_confirming_an_hour_past_the_deadline_is_handed_to_the_operator(
        journal: Journal) -> None:
    order, request = open_sale(journal)
    gateway = ScriptedGateway(lambda: PaymentStatus(PaymentState.CONFIRMING, "pending"))
    watch_once(journal, gateway, order, request, DEADLINE + LATE_CONFIRMING_MAX_S + 1)
    tx = journal.transaction("tx-1")
    assert (tx["status"], tx["claim_code"]) == ("refund_due", claim_code("tx-1"))
    assert journal.watched_orders() == []


def test_a_payment_the_gateway_never_answers_about_becomes_a_claim_after_a_day(
        journal: Journal) -> None:
    order, request = open_sale(journal)

    def down() -> PaymentStatus:
        raise GatewayUnavailable("mixpay GET /payments_result: connect error")

    gateway = ScriptedGateway(down)
    watch_once(journal, gateway, order, request, DEADLINE + UNKNOWN_GIVE_UP_S + 1)
    assert gateway.polls == 1
    tx = journal.transaction("tx-1")
    assert (tx["status"], tx["claim_code"]) == ("refund_due", claim_code("tx-1"))
    assert "status unknown" in tx["events"][-1]["detail"]["reason"]
    assert journal.watched_orders() == []


def test_a_payment_never_confirmed_created_is_dropped_without_a_claim(journal: Journal) -> None:
    order = Order("tx-1", "A1", "Water", Decimal("2.50"), "USD", None, DEADLINE)
    journal.begin(order, "mixpay")
    lost = PaymentRequest("tx-1", "", DEADLINE)

    def unknown() -> PaymentStatus:
        raise GatewayUnavailable("mixpay GET /payments_result: HTTP 503")

    watch_once(journal, ScriptedGateway(unknown), order, lost, DEADLINE + LATE_GRACE_S + 1,
               confirmed=False)
    assert journal.transaction("tx-1")["claim_code"] is None
