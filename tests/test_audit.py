"""The money-truth check (``kiosk.audit``) on hand-built journals, and the test helper that
holds a real journal to a real sandbox."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from money import assert_money_truth

from kiosk.audit import Verdict, audit, check_money, journal_transactions
from kiosk.claims import claim_code
from kiosk.errors import JournalError
from kiosk.journal import FILE_NAME, OPEN_CLAIM_STATUSES, Journal
from kiosk.payments.base import Order, PaymentRequest
from kiosk.sim import ReceivedPayment, Sandbox

PAID_AND_VENDED = ("payment_requested", "payment_created", "paid_verified", "vend_started",
                   "vend_result")


def sale(tx_id: str, status: str, *kinds: str) -> dict[str, Any]:
    """One transaction in the ``kiosk journal --json`` shape, with these events in order."""
    events = [{"at": f"2026-05-01T10:00:{n:02d}.000000+00:00", "kind": kind, "detail": {}}
              for n, kind in enumerate(kinds)]
    return {"id": tx_id, "slot": "A1", "item_name": "Sparkling water", "amount": "2.50",
            "currency": "USD", "gateway": "mixpay", "status": status, "claim_code": None,
            "events": events}


def money(tx_id: str, amount: str = "0.00004167", asset: str = "BTC") -> ReceivedPayment:
    return ReceivedPayment(tx_id, Decimal(amount), asset)


# ---------------------------------------------------------------- the pure check


def test_a_journal_that_settles_every_payment_passes() -> None:
    transactions = [
        sale("vended", "vended", *PAID_AND_VENDED),
        sale("refunded", "refunded", *PAID_AND_VENDED, "refund_requested", "refund_done"),
        sale("part-paid", "refund_due", "payment_created", "status_seen", "cancelled",
             "refund_requested"),
        sale("late", "paid_late", "payment_created", "expired", "paid_late"),
        sale("unknown", "vend_unknown", "payment_created", "paid_verified", "vend_started",
             "recovered"),
        sale("nothing-paid", "cancelled", "payment_created", "cancelled"),
    ]
    received = [money(tx) for tx in ("vended", "refunded", "part-paid", "late", "unknown")]
    assert check_money(transactions, received) == []


@pytest.mark.parametrize("status", sorted(OPEN_CLAIM_STATUSES))
def test_every_claim_the_operator_is_shown_settles_a_payment(status: str) -> None:
    assert check_money([sale("tx", status, "payment_created")], [money("tx")]) == []


@pytest.mark.parametrize("status", ["expired", "cancelled", "payment_failed", "awaiting",
                                    "confirming", "underpaid", "paid", "vend_failed"])
def test_money_for_a_sale_that_did_not_settle_is_a_violation(status: str) -> None:
    violations = check_money([sale("tx-7", status, "payment_created")],
                             [money("tx-7", "1.25", "USDT")])
    assert violations == [(f"1.25 USDT received for tx-7 (slot A1), but the sale is {status}: "
                           "not vended, refunded or an open claim")]


def test_money_for_a_sale_the_journal_does_not_know_is_a_violation() -> None:
    violations = check_money([sale("tx-1", "vended", *PAID_AND_VENDED)],
                             [money("tx-1"), money("stranger", "3.00", "NZD")])
    assert violations == ["3.00 NZD received for stranger, a sale the journal does not know"]


def test_a_sale_vended_twice_is_a_violation() -> None:
    twice = sale("tx-2", "vended", *PAID_AND_VENDED, "vend_started", "vend_result")
    assert check_money([twice], [money("tx-2")]) == ["tx-2 was vended 2 times"]


@pytest.mark.parametrize("kinds", [
    ("payment_created", "vend_started", "vend_result"),
    ("payment_created", "vend_started", "paid_verified", "vend_result"),
], ids=["never verified", "verified after the vend"])
def test_a_vend_without_paid_verified_before_it_is_a_violation(kinds: tuple[str, ...]) -> None:
    assert check_money([sale("tx-3", "vended", *kinds)], [money("tx-3")]) == [
        "tx-3 was vended without paid_verified before it"]


def test_a_vend_the_gateway_got_no_money_for_is_a_violation() -> None:
    assert check_money([sale("tx-4", "vended", *PAID_AND_VENDED)], []) == [
        "tx-4 was vended, but the gateway received no money for it"]


def test_every_violation_is_listed() -> None:
    transactions = [sale("a", "expired", "payment_created", "expired"),
                    sale("b", "vended", "payment_created", "vend_started", "vend_started")]
    violations = check_money(transactions, [money("a"), money("c")])
    assert len(violations) == 5
    assert [v.split()[0] for v in violations[2:]] == ["b", "b", "b"]


def test_the_verdict_says_how_many_payments_were_checked() -> None:
    assert Verdict(8, ()).summary() == ("8 payments received, all vended, refunded or "
                                        "claimed")
    failed = Verdict(3, ("one", "two"))
    assert not failed.ok
    assert failed.summary() == "2 problem(s) with the 3 payments received"


# ---------------------------------------------------------------- reading


def test_the_journal_is_read_before_the_gateway(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Money that arrives while the check runs is then reported, never missed."""
    reads: list[str] = []

    def transactions() -> list[dict[str, Any]]:
        reads.append("journal")
        return []

    def gateway() -> list[ReceivedPayment]:
        reads.append("gateway")
        return [money("arrived-meanwhile")]

    with Journal.open_in(tmp_path) as journal:
        monkeypatch.setattr(journal, "transactions", transactions)
        verdict = audit(journal, gateway)
    assert reads == ["journal", "gateway"]
    assert verdict.received == 1 and "arrived-meanwhile" in verdict.violations[0]


def test_transactions_are_read_from_a_data_directory_or_the_file(tmp_path: Path) -> None:
    with Journal.open_in(tmp_path) as journal:
        order = order_and_request(str(uuid.uuid4()))[0]
        journal.begin(order, "mixpay")
    by_dir = journal_transactions(tmp_path)
    assert [tx["id"] for tx in by_dir] == [order.tx_id]
    assert journal_transactions(tmp_path / FILE_NAME) == by_dir


def test_a_missing_journal_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal"):
        journal_transactions(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


# ---------------------------------------------------------------- the helper, for real


def order_and_request(tx_id: str, sandbox: Sandbox | None = None) -> tuple[Order, PaymentRequest]:
    expires_at = int(time.time()) + 120
    order = Order(tx_id=tx_id, slot_id="A1", item_name="Sparkling water",
                  amount=Decimal("2.50"), currency="USD", asset=None, expires_at=expires_at)
    link = f"{sandbox.checkout_base}/code/{tx_id}" if sandbox else f"https://pay.example/{tx_id}"
    return order, PaymentRequest(payment_id=tx_id, link=link, expires_at=expires_at)


def paid_at_sandbox(sandbox: Sandbox, client: httpx.Client,
                    tx_id: str) -> tuple[Order, PaymentRequest]:
    """A MixPay payment for ``tx_id``, created and paid in full at the sandbox."""
    order, request = order_and_request(tx_id, sandbox)
    client.post(f"{sandbox.mixpay_api_base}/one_time_payment", json={
        "payeeId": "3f1e7c2a-8d4b-4c55-9e61-2b7a0c9d1e42", "quoteAmount": "2.50",
        "quoteAssetId": "usd", "settlementAssetId": "4d8c508b-91c5-375b-92b0-ee702ed2dac5",
        "traceId": tx_id, "expiredTimestamp": order.expires_at}).raise_for_status()
    client.post(f"{request.link}/pay", data={}).raise_for_status()
    return order, request


def test_assert_money_truth_holds_a_real_journal_to_the_sandbox(tmp_path: Path) -> None:
    vended, cancelled = str(uuid.uuid4()), str(uuid.uuid4())
    with Sandbox() as sandbox, httpx.Client(verify=False) as client, \
            Journal.open_in(tmp_path) as journal:
        for tx_id in (vended, cancelled):
            order, request = paid_at_sandbox(sandbox, client, tx_id)
            journal.begin(order, "mixpay")
            journal.payment_created(tx_id, request)
        journal.paid_verified(vended, {})
        assert journal.start_vend(vended)
        journal.vend_result(vended, "vended", {}, disable_slot=False)
        journal.abandoned(cancelled, "cancelled", {"reason": "customer"},
                          code=claim_code(cancelled))

        with pytest.raises(AssertionError, match=f"received for {cancelled} .* is cancelled"):
            assert_money_truth(journal, sandbox, "mixpay")
        journal.paid_late(cancelled, {})  # the watch found the money: now it is owed
        assert assert_money_truth(tmp_path, sandbox, "mixpay").received == 2
