"""The sales journal: durability settings, the sale's steps, exactly-once, crash recovery."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kiosk.errors import JournalError
from kiosk.claims import claim_code, normalize_claim_code
from kiosk.journal import (
    OPEN_CLAIM_STATUSES,
    SCHEMA_VERSION,
    Journal,
    RecoveryReport,
    SlotState,
)
from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentState

REPO = Path(__file__).resolve().parents[1]
ISO_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
BTC = Asset(symbol="BTC", name="Bitcoin", network="Bitcoin", asset_id="c6d0c728-2624")


class FakeClock:
    """Starts at a fixed instant and moves 1.5 ms on every reading."""

    def __init__(self) -> None:
        self.t = datetime(2026, 11, 21, 10, 15, 3, 123456, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.t += timedelta(microseconds=1500)
        return self.t


def make_order(tx_id: str = "tx-1", slot: str = "A1", amount: str = "2.5",
               asset: Asset | None = BTC) -> Order:
    return Order(tx_id=tx_id, slot_id=slot, item_name="Sparkling water",
                 amount=Decimal(amount), currency="USD", asset=asset, expires_at=1_800_000_180)


def make_request(tx_id: str = "tx-1") -> PaymentRequest:
    return PaymentRequest(payment_id=f"trace-{tx_id}", link=f"https://pay.example/{tx_id}",
                          expires_at=1_800_000_200, crypto_amount=Decimal("0.00002950"),
                          crypto_symbol="BTC", reference="REF42")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db", now=clock) as j:
        yield j


def paid_sale(j: Journal, tx_id: str = "tx-1", slot: str = "A1") -> None:
    j.begin(make_order(tx_id, slot), "mixpay")
    j.payment_created(tx_id, make_request(tx_id))
    assert j.paid_verified(tx_id, {"paid_amount": Decimal("0.00002950")})


def kinds(j: Journal, tx_id: str) -> list[str]:
    return [event["kind"] for event in j.transaction(tx_id)["events"]]


# ---------------------------------------------------------------------- durability settings

def test_wal_full_sync_foreign_keys_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    j = Journal(path)
    conn = j._conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    j.close()

    other = sqlite3.connect(path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persisted in file
        assert other.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master")}
        assert {"transactions", "events", "slots", "events_tx_seq", "refunds"} <= tables
        assert other.execute("SELECT type FROM pragma_table_info('transactions')"
                             " WHERE name = 'amount'").fetchone()[0] == "TEXT"
    finally:
        other.close()


def test_journal_raises_synchronous_to_full_itself(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """FULL is SQLite's usual default, so start from a build whose default is OFF."""
    real_connect = sqlite3.connect

    def connect_with_sync_off(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA synchronous=OFF")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect_with_sync_off)
    with Journal(tmp_path / "journal.db") as j:
        assert j._conn is not None
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_open_in_creates_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "lib" / "vending-kiosk"
    with Journal.open_in(data_dir) as j:
        j.begin(make_order(), "mixpay")
    assert (data_dir / "journal.db").is_file()
    with Journal.open_in(data_dir) as again:
        assert [t["id"] for t in again.transactions()] == ["tx-1"]


def test_unusable_files_raise_journal_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an sqlite database at all" * 100)
    with pytest.raises(JournalError, match="garbage.db"):
        Journal(garbage)

    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(JournalError, match="schema version 7"):
        Journal(newer)

    j = Journal(tmp_path / "ok.db")
    j.close()
    j.close()  # idempotent
    with pytest.raises(JournalError, match="closed"):
        j.transactions()


# ---------------------------------------------------------------------- the happy path

def test_happy_path_events_shape_and_statuses(journal: Journal, clock: FakeClock) -> None:
    journal.init_slots({"A1": 5})
    statuses = []

    journal.begin(make_order(amount="2.5"), "mixpay")
    statuses.append(journal.transaction("tx-1")["status"])
    journal.payment_created("tx-1", make_request())
    statuses.append(journal.transaction("tx-1")["status"])
    assert journal.status_seen("tx-1", PaymentState.CONFIRMING, "pending", {"confirmations": 1})
    statuses.append(journal.transaction("tx-1")["status"])
    assert journal.paid_verified("tx-1", {"paid_amount": Decimal("0.00002950")})
    statuses.append(journal.transaction("tx-1")["status"])
    assert journal.start_vend("tx-1")
    statuses.append(journal.transaction("tx-1")["status"])
    journal.vend_result("tx-1", "vended", {"detail": "beam broken"}, disable_slot=False)
    statuses.append(journal.transaction("tx-1")["status"])

    assert statuses == ["creating", "awaiting", "confirming", "paid", "vending", "vended"]

    (tx,) = journal.transactions()
    assert json.loads(json.dumps(tx)) == tx  # plain JSON, as `kiosk journal --json` prints it
    assert {k: v for k, v in tx.items() if k != "events"} == {
        "id": "tx-1", "slot": "A1", "item_name": "Sparkling water", "amount": "2.50",
        "currency": "USD", "gateway": "mixpay", "asset": "BTC",
        "payment_id": "trace-tx-1", "payment_link": "https://pay.example/tx-1",
        "status": "vended", "claim_code": None,
        "created_at": tx["created_at"], "updated_at": tx["updated_at"]}
    assert [e["kind"] for e in tx["events"]] == [
        "payment_requested", "payment_created", "status_seen", "paid_verified",
        "vend_started", "vend_result"]
    stamps = [tx["created_at"], tx["updated_at"]] + [e["at"] for e in tx["events"]]
    assert all(ISO_MICROS.match(s) for s in stamps), stamps
    ats = [e["at"] for e in tx["events"]]
    assert ats == sorted(ats) and len(set(ats)) == len(ats)
    assert tx["created_at"] == "2026-11-21T10:15:03.124956+00:00"  # the injected clock
    assert tx["updated_at"] == ats[-1]

    details = [e["detail"] for e in tx["events"]]
    assert details[0] == {"slot": "A1", "amount": "2.50", "currency": "USD", "asset": "BTC"}
    assert details[1] == {"payment_id": "trace-tx-1", "link": "https://pay.example/tx-1",
                          "expires_at": 1_800_000_200, "crypto_amount": "0.00002950",
                          "crypto_symbol": "BTC", "reference": "REF42", "memo": None}
    assert details[2] == {"state": "confirming", "raw_status": "pending", "confirmations": 1}
    assert details[3] == {"paid_amount": "0.00002950"}
    assert details[5] == {"outcome": "vended", "detail": "beam broken"}

    assert journal.slot_states() == {"A1": SlotState(stock=4, disabled=False, disabled_reason="")}

    # amounts are TEXT in the file, never REAL
    conn = journal._conn
    assert conn is not None
    row = conn.execute("SELECT typeof(amount), amount FROM transactions").fetchone()
    assert tuple(row) == ("text", "2.50")


def test_amount_must_be_a_decimal(journal: Journal) -> None:
    order = make_order()
    bad = Order(**{**order.__dict__, "amount": 2.5})  # type: ignore[arg-type]
    with pytest.raises(JournalError, match="Decimal"):
        journal.begin(bad, "mixpay")
    assert journal.transactions() == []


def test_begin_twice_raises(journal: Journal) -> None:
    journal.begin(make_order(), "mixpay")
    with pytest.raises(JournalError, match="tx-1.*already exists"):
        journal.begin(make_order(), "wctpay")
    assert journal.transaction("tx-1")["gateway"] == "mixpay"
    assert kinds(journal, "tx-1") == ["payment_requested"]


# ---------------------------------------------------------------------- exactly once

def test_start_vend_is_exactly_once(journal: Journal) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    assert journal.start_vend("tx-1") is False  # not paid yet
    assert kinds(journal, "tx-1") == ["payment_requested", "payment_created"]

    assert journal.paid_verified("tx-1", {})
    assert journal.paid_verified("tx-1", {}) is False  # duplicate PAID
    assert journal.start_vend("tx-1") is True
    assert journal.start_vend("tx-1") is False
    journal.vend_result("tx-1", "jam", {}, disable_slot=True)
    assert journal.start_vend("tx-1") is False
    assert kinds(journal, "tx-1").count("vend_started") == 1
    assert kinds(journal, "tx-1").count("paid_verified") == 1


def test_start_vend_refused_after_recovery_marked_vend_unknown(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path) as j:
        paid_sale(j)
        assert j.start_vend("tx-1")
        j.dispensing("tx-1")
    with Journal(path) as j:
        report = j.recover()
        assert report.vend_unknown == ("tx-1",)
        assert j.transaction("tx-1")["status"] == "vend_unknown"
        assert j.start_vend("tx-1") is False
        with pytest.raises(JournalError, match="tx-1"):
            j.vend_result("tx-1", "vended", {}, disable_slot=False)
        assert kinds(j, "tx-1").count("vend_started") == 1
        assert "vend_result" not in kinds(j, "tx-1")


def test_start_vend_race_between_threads_and_connections(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first, second = Journal(path), Journal(path)
    try:
        paid_sale(first)
        barrier = threading.Barrier(16)
        results: list[bool] = []
        lock = threading.Lock()

        def worker(j: Journal) -> None:
            barrier.wait()
            won = j.start_vend("tx-1")
            with lock:
                results.append(won)

        threads = [threading.Thread(target=worker, args=(first if i % 2 else second,))
                   for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False] * 15 + [True]
        assert kinds(second, "tx-1").count("vend_started") == 1
    finally:
        first.close()
        second.close()


# ---------------------------------------------------------------------- crash after each step

CHILD = textwrap.dedent("""
    import os, sys
    from decimal import Decimal
    from pathlib import Path
    from kiosk.journal import Journal
    from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentState

    data_dir, steps = Path(sys.argv[1]), int(sys.argv[2])
    crash_in_commit = "in-commit" in sys.argv[3:]
    outcome = "no_drop" if "fails" in sys.argv[3:] else "vended"
    j = Journal.open_in(data_dir)
    j.init_slots({"A1": 3})
    asset = Asset("BTC", "Bitcoin", "Bitcoin", "c6d0c728-2624")
    order = Order("tx-crash", "A1", "Sparkling water", Decimal("2.50"), "USD", asset, 1800000180)
    actions = [
        lambda: j.begin(order, "mixpay"),
        lambda: j.payment_created("tx-crash", PaymentRequest(
            "trace-crash", "https://pay.example/crash", 1800000200, Decimal("0.0000295"), "BTC")),
        lambda: j.status_seen("tx-crash", PaymentState.CONFIRMING, "pending", {}),
        lambda: j.paid_verified("tx-crash", {"paid_amount": "0.0000295"}),
        lambda: j.start_vend("tx-crash"),
        lambda: j.dispensing("tx-crash"),
        lambda: j.vend_result("tx-crash", outcome, {}, False, claim="CLAIM-CODE"),
    ]
    for number, action in enumerate(actions[:steps], start=1):
        if crash_in_commit and number == steps:
            # die inside the last step, just as SQLite is asked to COMMIT it
            def die(statement):
                if statement.strip().upper() == "COMMIT":
                    os._exit(1)
            j._conn.set_trace_callback(die)
        action()
    os._exit(1)  # power cut: no close, no checkpoint
""")


def crash_child(data_dir: Path, steps: int, in_commit: bool = False,
                fails: bool = False) -> None:
    args = [sys.executable, "-c", CHILD, str(data_dir), str(steps)]
    if in_commit:
        args.append("in-commit")
    if fails:
        args.append("fails")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""


STEP_STATUS = ["creating", "awaiting", "confirming", "paid", "vending", "vending", "vended"]


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 6, 7],
                         ids=["begin", "payment_created", "status_seen", "paid_verified",
                              "start_vend", "dispensing", "vend_result"])
def test_crash_after_each_step_then_recover(tmp_path: Path, steps: int) -> None:
    crash_child(tmp_path, steps)
    wal = tmp_path / "journal.db-wal"
    assert wal.is_file() and wal.stat().st_size > 0  # the child's commits live only in the WAL

    with Journal.open_in(tmp_path) as j:
        before = j.transaction("tx-crash")
        assert before["status"] == STEP_STATUS[steps - 1]  # every committed step survived
        assert len(before["events"]) == steps

        report = j.recover()
        after = j.transaction("tx-crash")
        recovered = [e["detail"] for e in after["events"] if e["kind"] == "recovered"]

        if steps == 1:  # the QR was never shown: nobody can have paid, nothing to watch
            assert report == RecoveryReport((), (), (), closed=("tx-crash",))
            assert recovered == [{"action": "closed"}]
            assert after["status"] == "payment_failed"
            assert j.watched_orders() == []
        elif steps <= 3:  # payment still open: keep watching it
            assert report == RecoveryReport(vend_unknown=(), refund_due=(), watch=("tx-crash",))
            assert recovered == [{"action": "watch"}]
            assert after["status"] == STEP_STATUS[steps - 1]
            (order, request), = j.watched_orders()
            assert order == make_order("tx-crash", amount="2.50")
            assert request == PaymentRequest("trace-crash", "https://pay.example/crash",
                                             1_800_000_200, Decimal("0.0000295"), "BTC")
            # the customer paid while the Pi was off: a late payment, never a vend
            assert j.paid_late("tx-crash", {"paid_amount": "0.0000295"})
            assert j.transaction("tx-crash")["status"] == "paid_late"
            assert j.transaction("tx-crash")["claim_code"] == claim_code("tx-crash")
            assert j.paid_verified("tx-crash", {}) is False
        elif steps == 4:  # paid, never vended: the customer has gone
            assert report == RecoveryReport(vend_unknown=(), refund_due=("tx-crash",), watch=())
            assert after["status"] == "refund_due"
            assert after["claim_code"] == claim_code("tx-crash")
            assert recovered == [{"action": "refund_due", "claim_code": claim_code("tx-crash")}]
            assert j.find_by_claim_code(claim_code("tx-crash"))["id"] == "tx-crash"
        elif steps == 5:  # the driver was never told to dispense: a certain no-vend
            assert report == RecoveryReport((), ("tx-crash",), (), not_dispensed=("tx-crash",))
            assert (after["status"], after["claim_code"]) == ("refund_due",
                                                              claim_code("tx-crash"))
            assert recovered == [{"action": "not_dispensed"}]
            assert j.slot_states()["A1"].stock == 3
        elif steps == 6:  # told to dispense, result unknown: the operator checks, by a claim code
            assert report == RecoveryReport(vend_unknown=("tx-crash",), refund_due=(), watch=())
            assert after["status"] == "vend_unknown"
            assert after["claim_code"] == claim_code("tx-crash")
            assert recovered == [{"action": "vend_unknown"}]
            assert j.slot_states()["A1"].stock == 3
        else:  # finished before the crash: nothing to do
            assert report.empty
            assert after == before
            assert j.slot_states()["A1"].stock == 2

        # no crash point lets the sale vend (again)
        assert j.start_vend("tx-crash") is False
        assert kinds(j, "tx-crash").count("vend_started") == (1 if steps >= 5 else 0)
        assert j.transaction("tx-crash")["status"] not in ("vending", "creating", "paid")

        # recovering again settles nothing twice
        count = len(j.transaction("tx-crash")["events"])
        second = j.recover()
        assert second.vend_unknown == () and second.refund_due == () and second.closed == ()
        assert len(j.transaction("tx-crash")["events"]) == count
        assert j.start_vend("tx-crash") is False


@pytest.mark.parametrize("steps", [4, 7], ids=["paid_verified", "vend_result"])
def test_crash_inside_a_step_leaves_none_of_it(tmp_path: Path, steps: int) -> None:
    crash_child(tmp_path, steps, in_commit=True)
    with Journal.open_in(tmp_path) as j:
        tx = j.transaction("tx-crash")
        assert len(tx["events"]) == steps - 1
        assert tx["status"] == STEP_STATUS[steps - 2]
        if steps == 7:
            # event, status, stock and slot are one commit: none of them happened
            assert j.slot_states()["A1"] == SlotState(stock=3, disabled=False, disabled_reason="")
            assert j.recover().vend_unknown == ("tx-crash",)
        else:
            assert j.recover().watch == ("tx-crash",)
        assert j.start_vend("tx-crash") is False


# ---------------------------------------------------------------------- late and abandoned

def test_paid_late_after_abandon(journal: Journal) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    journal.abandoned("tx-1", "cancelled", {"by": "customer"})
    assert journal.transaction("tx-1")["status"] == "cancelled"
    with pytest.raises(JournalError, match="tx-1.*cancelled -> paid"):
        journal.paid_verified("tx-1", {})

    assert journal.paid_late("tx-1", {"paid_amount": "0.0000295"}) is True
    tx = journal.transaction("tx-1")
    assert tx["status"] == "paid_late"
    assert tx["claim_code"] == claim_code("tx-1")
    assert tx["events"][-1]["kind"] == "paid_late"
    assert tx["events"][-1]["detail"] == {"paid_amount": "0.0000295", "refund_due": True,
                                          "claim_code": claim_code("tx-1")}
    assert journal.paid_late("tx-1", {}) is False  # duplicate
    assert journal.paid_verified("tx-1", {}) is False
    assert journal.start_vend("tx-1") is False
    assert kinds(journal, "tx-1").count("paid_late") == 1

    journal.refund_done("tx-1", {"by": "operator"})
    assert journal.transaction("tx-1")["status"] == "refunded"


def test_paid_late_refused_for_a_sale_already_paid(journal: Journal) -> None:
    paid_sale(journal, "tx-paid")
    assert journal.paid_late("tx-paid", {}) is False  # paid_verified, not vended yet
    assert journal.start_vend("tx-paid")
    assert journal.paid_late("tx-paid", {}) is False  # vend started
    journal.vend_result("tx-paid", "vended", {}, disable_slot=False)
    assert journal.paid_late("tx-paid", {}) is False  # a duplicate PAID after the vend
    tx = journal.transaction("tx-paid")
    assert tx["status"] == "vended" and tx["claim_code"] is None
    assert "paid_late" not in kinds(journal, "tx-paid")


def test_abandon_refused_after_paid_verified(journal: Journal) -> None:
    paid_sale(journal)
    for kind in ("cancelled", "expired", "payment_failed"):
        with pytest.raises(JournalError, match="tx-1.*paid"):
            journal.abandoned("tx-1", kind, {})
    assert journal.transaction("tx-1")["status"] == "paid"
    assert kinds(journal, "tx-1") == ["payment_requested", "payment_created", "paid_verified"]
    with pytest.raises(ValueError):
        journal.abandoned("tx-1", "vended", {})


@pytest.mark.parametrize("kind", ["cancelled", "expired", "payment_failed"])
def test_abandon_kinds(journal: Journal, kind: str) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    journal.abandoned("tx-1", kind, {"reason": "test"})
    tx = journal.transaction("tx-1")
    assert tx["status"] == kind
    assert tx["events"][-1] == {"at": tx["updated_at"], "kind": kind,
                                "detail": {"reason": "test"}}
    with pytest.raises(JournalError, match=f"tx-1.*{kind} -> expired"):
        journal.abandoned("tx-1", "expired", {})


def test_watch_of_abandoned_and_recovered_payments(journal: Journal) -> None:
    journal.begin(make_order("tx-cancelled"), "mixpay")
    journal.payment_created("tx-cancelled", make_request("tx-cancelled"))
    journal.abandoned("tx-cancelled", "cancelled", {})
    journal.begin(make_order("tx-open"), "mixpay")
    journal.payment_created("tx-open", make_request("tx-open"))
    journal.begin(make_order("tx-nopay"), "mixpay")
    journal.abandoned("tx-nopay", "cancelled", {})  # never reached the gateway: nothing to watch
    paid_sale(journal, "tx-paid")

    watched = {order.tx_id: request for order, request in journal.watched_orders()}
    assert set(watched) == {"tx-cancelled", "tx-open"}
    assert watched["tx-open"] == make_request("tx-open")

    journal.close_watch("tx-cancelled", PaymentState.EXPIRED, {"reason": "window closed"})
    journal.close_watch("tx-open", PaymentState.FAILED, {"reason": "rejected"})
    assert journal.transaction("tx-cancelled")["status"] == "cancelled"  # abandon reason kept
    assert journal.transaction("tx-open")["status"] == "payment_failed"
    last = journal.transaction("tx-open")["events"][-1]
    assert last["kind"] == "status_seen"
    assert last["detail"] == {"state": "failed", "raw_status": "failed", "reason": "rejected"}
    assert journal.watched_orders() == []
    assert journal.recover().watch == ()
    with pytest.raises(ValueError):
        journal.close_watch("tx-open", PaymentState.PAID, {})


# ---------------------------------------------------------------------- vend results and slots

def test_vend_result_updates_stock_and_disables_on_jam(journal: Journal) -> None:
    journal.init_slots({"A1": 1, "A2": 4})
    for tx_id in ("tx-a", "tx-b"):
        paid_sale(journal, tx_id, "A1")
        assert journal.start_vend(tx_id)
        journal.vend_result(tx_id, "vended", {}, disable_slot=False)
    assert journal.slot_states()["A1"].stock == 0  # never below zero

    paid_sale(journal, "tx-jam", "A2")
    assert journal.start_vend("tx-jam")
    journal.vend_result("tx-jam", "jam", {"detail": "home switch stuck"}, disable_slot=True)
    assert journal.slot_states()["A2"] == SlotState(stock=4, disabled=True,
                                                    disabled_reason="jam")
    tx = journal.transaction("tx-jam")
    assert tx["status"] == "vend_failed"
    assert tx["events"][-1]["detail"] == {"outcome": "jam", "detail": "home switch stuck"}

    paid_sale(journal, "tx-lost", "A2")
    assert journal.start_vend("tx-lost")
    journal.vend_result("tx-lost", "unknown", {}, disable_slot=False)
    assert journal.transaction("tx-lost")["status"] == "vend_unknown"

    with pytest.raises(JournalError, match="tx-jam"):
        journal.vend_result("tx-jam", "vended", {}, disable_slot=False)  # result already in
    paid_sale(journal, "tx-unstarted")
    with pytest.raises(JournalError, match="tx-unstarted"):
        journal.vend_result("tx-unstarted", "vended", {}, disable_slot=False)
    assert journal.transaction("tx-unstarted")["status"] == "paid"


def test_init_slots_keeps_journalled_stock(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path) as j:
        j.init_slots({"A1": 5})
        paid_sale(j)
        assert j.start_vend("tx-1")
        j.vend_result("tx-1", "vended", {}, disable_slot=False)
    with Journal(path) as j:
        j.init_slots({"A1": 5, "B1": 2})
        assert j.slot_states() == {
            "A1": SlotState(stock=4, disabled=False, disabled_reason=""),
            "B1": SlotState(stock=2, disabled=False, disabled_reason="")}
        j.set_slot("A1", stock=8)
        j.set_slot("B1", enabled=False)
        assert j.slot_states()["A1"].stock == 8
        assert j.slot_states()["B1"] == SlotState(stock=2, disabled=True,
                                                  disabled_reason="operator")
        j.set_slot("B1", enabled=True)
        assert j.slot_states()["B1"].disabled is False


# ---------------------------------------------------------------------- status_seen

def test_status_seen_dedup_and_no_downgrade(journal: Journal) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    assert journal.status_seen("tx-1", PaymentState.AWAITING, "unpaid", {}) is True
    assert journal.status_seen("tx-1", PaymentState.AWAITING, "unpaid", {"poll": 2}) is False
    assert journal.status_seen("tx-1", PaymentState.UNDERPAID, "partial",
                               {"remaining": Decimal("0.00001")}) is True
    assert journal.transaction("tx-1")["status"] == "underpaid"
    assert journal.status_seen("tx-1", PaymentState.UNDER_REVIEW, "review", {}) is True
    assert journal.transaction("tx-1")["status"] == "under_review"
    assert journal.status_seen("tx-1", PaymentState.AWAITING, "unpaid", {}) is True  # not last
    seen = [e["detail"] for e in journal.transaction("tx-1")["events"]
            if e["kind"] == "status_seen"]
    assert seen == [{"state": "awaiting", "raw_status": "unpaid"},
                    {"state": "underpaid", "raw_status": "partial", "remaining": "0.00001"},
                    {"state": "under_review", "raw_status": "review"},
                    {"state": "awaiting", "raw_status": "unpaid"}]

    assert journal.paid_verified("tx-1", {})
    assert journal.status_seen("tx-1", PaymentState.CONFIRMING, "pending", {}) is True
    assert journal.transaction("tx-1")["status"] == "paid"  # never downgraded
    assert journal.start_vend("tx-1")
    assert journal.status_seen("tx-1", PaymentState.PAID, "success", {}) is True
    assert journal.transaction("tx-1")["status"] == "vending"


# ---------------------------------------------------------------------- claims and refunds

def test_claim_code_format_and_determinism() -> None:
    code = claim_code("3f2c9a1e-7b4d-4c1a-9a63-0d2b8f5e6a71")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", code)
    assert code == claim_code("3f2c9a1e-7b4d-4c1a-9a63-0d2b8f5e6a71")
    codes = {claim_code(f"tx-{n}") for n in range(2000)}
    assert len(codes) == 2000
    assert not any(set(c) & set("ILOU") for c in codes)
    assert normalize_claim_code(" abcd-efgh ") == "ABCDEFGH"
    assert normalize_claim_code("o1il-x") == "0111X"


def test_claim_issued_and_lookup(journal: Journal) -> None:
    paid_sale(journal)
    assert journal.start_vend("tx-1")
    journal.vend_result("tx-1", "no_drop", {}, disable_slot=False)
    code = claim_code("tx-1")
    journal.claim_issued("tx-1", code, "no_drop")
    tx = journal.transaction("tx-1")
    assert tx["status"] == "refund_due" and tx["claim_code"] == code
    assert tx["events"][-1]["kind"] == "refund_requested"
    assert tx["events"][-1]["detail"] == {"method": "claim", "claim_code": code,
                                          "reason": "no_drop"}

    journal.begin(make_order("tx-other"), "mixpay")
    for typed in (code, code.lower(), code.replace("-", ""), f" {code.lower()} "):
        found = journal.find_by_claim_code(typed)
        assert found is not None and found["id"] == "tx-1"
    assert journal.find_by_claim_code(claim_code("tx-other")) is None  # never issued
    assert journal.find_by_claim_code("----") is None

    journal.refund_done("tx-1", {"by": "operator"})
    journal.claim_issued("tx-1", code, "reprinted")
    assert journal.transaction("tx-1")["status"] == "refunded"  # stays refunded
    with pytest.raises(JournalError, match="tx-1.*refunded -> refunded"):
        journal.refund_done("tx-1", {})


def test_refund_flow_and_refused_transitions(journal: Journal) -> None:
    paid_sale(journal)
    assert journal.start_vend("tx-1")
    with pytest.raises(JournalError, match="tx-1.*vending -> refund_due"):
        journal.refund_requested("tx-1", {})
    journal.vend_result("tx-1", "motor_fault", {}, disable_slot=True)
    journal.refund_requested("tx-1", {"via": "gateway"})
    assert journal.transaction("tx-1")["status"] == "refund_due"
    journal.refund_done("tx-1", {"refund_id": "r-1"})
    assert journal.transaction("tx-1")["status"] == "refunded"

    journal.begin(make_order("tx-2"), "mixpay")
    with pytest.raises(JournalError, match="tx-2.*creating -> refund_due"):
        journal.claim_issued("tx-2", claim_code("tx-2"), "nothing was paid")
    journal.payment_created("tx-2", make_request("tx-2"))
    with pytest.raises(JournalError, match="tx-2.*awaiting -> awaiting"):
        journal.payment_created("tx-2", make_request("tx-2"))
    assert kinds(journal, "tx-2") == ["payment_requested", "payment_created"]


# ---------------------------------------------------------------------- unknown tx, threads

UNKNOWN_TX_CALLS: list[Callable[[Journal], Any]] = [
    lambda j: j.payment_created("nope", make_request("nope")),
    lambda j: j.status_seen("nope", PaymentState.AWAITING, "x", {}),
    lambda j: j.paid_verified("nope", {}),
    lambda j: j.start_vend("nope"),
    lambda j: j.vend_result("nope", "vended", {}, False),
    lambda j: j.claim_issued("nope", "AAAA-AAAA", "x"),
    lambda j: j.refund_requested("nope", {}),
    lambda j: j.refund_done("nope", {}),
    lambda j: j.abandoned("nope", "cancelled", {}),
    lambda j: j.paid_late("nope", {}),
    lambda j: j.close_watch("nope", PaymentState.EXPIRED, {}),
    lambda j: j.transaction("nope"),
]


@pytest.mark.parametrize("call", UNKNOWN_TX_CALLS)
def test_unknown_tx_raises_journal_error(journal: Journal, call: Callable[[Journal], Any]) -> None:
    with pytest.raises(JournalError, match="nope"):
        call(journal)
    assert journal.transactions() == []
    conn = journal._conn
    assert conn is not None
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_threads_append_concurrently(journal: Journal) -> None:
    threads_n, polls = 8, 25
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def sale(n: int) -> None:
        try:
            tx_id = f"tx-{n}"
            barrier.wait()
            journal.begin(make_order(tx_id, slot=f"S{n}"), "mixpay")
            journal.payment_created(tx_id, make_request(tx_id))
            for i in range(polls):
                assert journal.status_seen(tx_id, PaymentState.CONFIRMING, f"pending-{i}", {})
            assert journal.paid_verified(tx_id, {})
            assert journal.start_vend(tx_id)
            journal.vend_result(tx_id, "vended", {}, disable_slot=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=sale, args=(n,)) for n in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    txs = journal.transactions()
    assert sorted(t["id"] for t in txs) == sorted(f"tx-{n}" for n in range(threads_n))
    for tx in txs:
        assert tx["status"] == "vended"
        assert [e["kind"] for e in tx["events"]] == (
            ["payment_requested", "payment_created"] + ["status_seen"] * polls
            + ["paid_verified", "vend_started", "vend_result"])
        assert [e["detail"]["raw_status"] for e in tx["events"][2:2 + polls]] == \
            [f"pending-{i}" for i in range(polls)]


def test_transactions_limit_returns_latest_oldest_first(journal: Journal) -> None:
    for n in range(5):
        journal.begin(make_order(f"tx-{n}"), "mixpay")
    assert [t["id"] for t in journal.transactions(limit=2)] == ["tx-3", "tx-4"]
    assert [t["id"] for t in journal.transactions()] == [f"tx-{n}" for n in range(5)]
    assert journal.transactions(limit=0) == []


def old_journal(tmp_path: Path, script: str) -> Path:
    """``tmp_path``/journal.db as an older version left it: ``script`` makes its tables and sets
    its ``user_version``."""
    path = tmp_path / "journal.db"
    old = sqlite3.connect(path)
    old.executescript(script)
    old.close()
    return path


def test_a_version_1_journal_is_migrated_in_place(tmp_path: Path) -> None:
    path = old_journal(
        tmp_path, "CREATE TABLE transactions (id TEXT PRIMARY KEY, slot TEXT NOT NULL,"
        " item_name TEXT NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL,"
        " gateway TEXT NOT NULL, asset TEXT NULL, payment_id TEXT NULL,"
        " payment_link TEXT NULL, expires_at INTEGER NOT NULL, status TEXT NOT NULL,"
        " claim_code TEXT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
        "PRAGMA user_version = 1;")
    with Journal(path) as journal:
        at = journal.record_selftest(False, [{"name": "config", "passed": False}])
        assert journal.selftests() == [{"at": at, "passed": False,
                                        "checks": [{"name": "config", "passed": False}]}]
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


# ---------------------------------------------------------------------- money-truth steps

def test_a_part_paid_sale_abandoned_opens_its_claim_in_the_same_commit(journal: Journal) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    code = claim_code("tx-1")
    journal.abandoned("tx-1", "cancelled", {"reason": "customer"}, code=code, open_claim=True)
    tx = journal.transaction("tx-1")
    assert (tx["status"], tx["claim_code"]) == ("refund_due", code)
    assert kinds(journal, "tx-1")[-2:] == ["cancelled", "refund_requested"]
    assert tx["events"][-2]["detail"] == {"reason": "customer", "claim_code": code}
    # The rest may still arrive: it is watched, and settles by the same code.
    assert [order.tx_id for order, _ in journal.watched_orders()] == ["tx-1"]
    assert journal.paid_late("tx-1", {"paid_amount": "0.0000295"})
    assert journal.transaction("tx-1")["claim_code"] == code
    assert journal.watched_orders() == []


def test_a_code_given_on_cancel_is_kept_without_opening_a_claim(journal: Journal) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    journal.abandoned("tx-1", "cancelled", {"reason": "customer"}, code=claim_code("tx-1"))
    tx = journal.transaction("tx-1")
    assert (tx["status"], tx["claim_code"]) == ("cancelled", claim_code("tx-1"))
    assert journal.find_by_claim_code(claim_code("tx-1"))["id"] == "tx-1"  # the operator's look-up
    assert tx["status"] not in OPEN_CLAIM_STATUSES


def test_a_payment_that_fails_verification_after_the_sale_ended_is_a_claim(
        journal: Journal) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    journal.abandoned("tx-1", "expired", {})
    journal.claim_issued("tx-1", claim_code("tx-1"), "verification failed: payeeId mismatch")
    assert journal.transaction("tx-1")["status"] == "refund_due"
    journal.begin(make_order("tx-2"), "mixpay")
    with pytest.raises(JournalError, match="creating -> refund_due"):  # no payment exists
        journal.claim_issued("tx-2", claim_code("tx-2"), "nothing")


def test_a_requote_is_journalled_and_is_what_a_restart_watches(journal: Journal) -> None:
    journal.begin(make_order(), "wctpay")
    journal.payment_created("tx-1", make_request())
    new = PaymentRequest("trace-tx-1", "bitcoin:bc1q?amount=0.00003100", 1_800_000_400,
                         Decimal("0.00003100"), "BTC")
    journal.requoted("tx-1", new)
    tx = journal.transaction("tx-1")
    assert tx["payment_link"] == new.link
    assert tx["events"][-1]["kind"] == "requoted"
    assert tx["events"][-1]["detail"]["crypto_amount"] == "0.00003100"
    [(order, request)] = journal.watched_orders()
    assert request == new


def test_a_slot_failing_n_vends_in_a_row_goes_off_sale_and_a_vend_resets_the_count(
        journal: Journal) -> None:
    journal.init_slots({"A1": 5})
    outcomes = ["no_drop", "vended", "no_drop", "timeout", "jam"]
    for n, outcome in enumerate(outcomes):
        paid_sale(journal, f"tx-{n}")
        assert journal.start_vend(f"tx-{n}")
        journal.vend_result(f"tx-{n}", outcome, {}, disable_slot=False, disable_after=2)
        if n < len(outcomes) - 1:
            assert not journal.slot_states()["A1"].disabled, outcome
    # no_drop, then a timeout (the customer, not the slot), then a jam: two failures in a row
    assert journal.slot_states()["A1"] == SlotState(4, True, "2 failed vends in a row")
    journal.set_slot("A1", enabled=True)
    paid_sale(journal, "tx-9")
    assert journal.start_vend("tx-9")
    journal.vend_result("tx-9", "no_drop", {}, disable_slot=False, disable_after=2)
    assert not journal.slot_states()["A1"].disabled   # re-enabled: counting starts again


def test_the_refund_queue_survives_a_restart_and_ends_done_or_given_up(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path) as journal:
        for tx_id in ("tx-1", "tx-2"):
            paid_sale(journal, tx_id)
            assert journal.start_vend(tx_id)
            journal.vend_result(tx_id, "jam", {}, disable_slot=False)
            assert journal.queue_refund(tx_id, f"refund-{tx_id}", "vend jam", "REF42", {})
        assert not journal.queue_refund("tx-1", "refund-tx-1", "again", "REF42", {})
        journal.refund_attempt_failed("tx-1", "HTTP 503")
    with Journal(path) as journal:   # a restart
        pending = {refund.tx_id: refund for refund in journal.pending_refunds()}
        assert set(pending) == {"tx-1", "tx-2"}
        assert (pending["tx-1"].attempts, pending["tx-1"].reference) == (1, "refund-tx-1")
        journal.refund_done("tx-1", {"reference": "refund-tx-1"})
        journal.refund_given_up("tx-2", "refund refused: closed")
        assert journal.pending_refunds() == []
        assert journal.transaction("tx-1")["status"] == "refunded"
        tx2 = journal.transaction("tx-2")
    assert (tx2["status"], tx2["claim_code"]) == ("refund_due", "REF42")
    assert tx2["events"][-1]["detail"]["reason"] == "refund refused: closed"


def test_a_refund_being_sent_cannot_also_be_settled_by_hand(tmp_path: Path) -> None:
    """While the gateway is asked for the refund the operator's settle_claim is refused (the
    customer would be paid twice); after a try that did not go through it is allowed, and a
    refund settled meanwhile is not sent."""
    from kiosk.errors import CommandRefused
    from kiosk.journal.commands import Settlement

    def settle(journal: Journal, command_id: str) -> dict[str, Any]:
        return journal.fleet_command(command_id, "claim_settled", {}, {},
                                     settle=Settlement("tx-1", "refund_sent", "bank 42"))

    path = tmp_path / "journal.db"
    with Journal(path) as journal:
        paid_sale(journal, "tx-1")
        assert journal.start_vend("tx-1")
        journal.vend_result("tx-1", "jam", {}, disable_slot=False)
        assert journal.queue_refund("tx-1", "refund-tx-1", "vend jam", "REF42", {})
        assert journal.refund_sending("tx-1")
        with pytest.raises(CommandRefused, match="asking the gateway for this refund"):
            settle(journal, "c-1")
        assert journal.transaction("tx-1")["status"] == "refund_due"
    with Journal(path) as journal:         # stopped during the gateway's call: tried again
        assert [r.tx_id for r in journal.pending_refunds()] == ["tx-1"]
        journal.refund_attempt_failed("tx-1", "HTTP 503")
        assert settle(journal, "c-2")["status"] == "applied"
        assert journal.transaction("tx-1")["status"] == "refunded"
        assert journal.pending_refunds() == []
        assert not journal.refund_sending("tx-1")       # settled by hand: never sent


def test_a_version_3_journal_gains_slot_failures_and_the_refund_queue(tmp_path: Path) -> None:
    path = old_journal(tmp_path, "CREATE TABLE slots (id TEXT PRIMARY KEY, stock INTEGER NOT NULL,"
                       " disabled INTEGER NOT NULL DEFAULT 0,"
                       " disabled_reason TEXT NOT NULL DEFAULT '');"
                       "INSERT INTO slots VALUES ('A1', 4, 0, '');"
                       "PRAGMA user_version = 3;")
    with Journal(path) as journal:
        assert journal.slot_states() == {"A1": SlotState(4, False, "")}
        assert journal.pending_refunds() == []
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    check.close()


@pytest.mark.parametrize("outcome", ["no_drop", "unknown"])
def test_a_failed_vend_and_what_it_owes_are_one_commit(journal: Journal, outcome: str) -> None:
    paid_sale(journal)
    assert journal.start_vend("tx-1")
    journal.vend_result("tx-1", outcome, {}, disable_slot=False, claim=claim_code("tx-1"))
    tx = journal.transaction("tx-1")
    assert tx["claim_code"] == claim_code("tx-1")
    assert tx["status"] == ("vend_unknown" if outcome == "unknown" else "refund_due")
    assert kinds(journal, "tx-1")[-2:] == ["vend_result", "refund_requested"]
    assert journal.recover().empty   # nothing left for recovery to finish


def test_a_failed_vend_queues_its_refund_in_the_same_commit(journal: Journal) -> None:
    paid_sale(journal)
    assert journal.start_vend("tx-1")
    journal.vend_result("tx-1", "jam", {}, disable_slot=True, claim="REF42",
                        refund_reference="refund-tx-1")
    [refund] = journal.pending_refunds()
    assert (refund.tx_id, refund.reference, refund.claim_code) == ("tx-1", "refund-tx-1", "REF42")
    paid_sale(journal, "tx-2")
    assert journal.start_vend("tx-2")   # the item may have dropped: a claim, never a refund
    journal.vend_result("tx-2", "unknown", {}, disable_slot=False, claim="REF42",
                        refund_reference="refund-tx-2")
    assert [r.tx_id for r in journal.pending_refunds()] == ["tx-1"]
    assert journal.transaction("tx-2")["claim_code"] == claim_code("tx-2")


def test_recovery_finishes_a_failed_vend_left_without_its_claim(journal: Journal) -> None:
    """A journal written before result and claim shared a commit, killed between the two."""
    for tx_id, outcome in (("tx-1", "no_drop"), ("tx-2", "unknown")):
        paid_sale(journal, tx_id)
        assert journal.start_vend(tx_id)
        journal.vend_result(tx_id, outcome, {}, disable_slot=False)
    report = journal.recover()
    assert (report.refund_due, report.vend_unknown) == (("tx-1",), ("tx-2",))
    for tx_id in ("tx-1", "tx-2"):
        assert journal.transaction(tx_id)["claim_code"] == claim_code(tx_id)
    assert journal.transaction("tx-2")["status"] == "vend_unknown"
    assert journal.recover().empty


@pytest.mark.parametrize("in_commit", [False, True], ids=["after", "inside"])
def test_a_kill_around_a_failed_vend_never_leaves_it_without_its_claim(
        tmp_path: Path, in_commit: bool) -> None:
    crash_child(tmp_path, 7, in_commit=in_commit, fails=True)
    with Journal.open_in(tmp_path) as j:
        j.recover()
        tx = j.transaction("tx-crash")
        # Killed after: the result and its claim together. Inside: neither, so recovery
        # finds a vend the machine was told to do, with no result: unknown, claimed.
        assert tx["claim_code"] == ("CLAIM-CODE" if not in_commit else claim_code("tx-crash"))
        assert tx["status"] in OPEN_CLAIM_STATUSES
        assert kinds(j, "tx-crash").count("refund_requested") == 1
