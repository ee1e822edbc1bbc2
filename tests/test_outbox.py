"""The fleet outbox (kiosk.journal.outbox, outbox_rows and the hooks in the journal's steps):
every journal change worth reporting adds its row in the same commit, ids stable across
restarts, telemetry dropped before facts, the publisher woken only after a commit that added
rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_journal import FakeClock, make_order, make_request

from kiosk.config.fleet import Broker, FleetConfig
from kiosk.errors import JournalError
from kiosk.fleet.link import FleetLink, Identity
from kiosk.journal import Journal
from kiosk.journal.outbox_rows import EVENT, REPLY, STATE
from kiosk.payments.base import Order, PaymentState

SALE_KEYS = {"group", "kind", "at", "tx", "status", "slot", "item", "amount", "currency",
             "gateway", "asset", "detail"}


class Wakes:
    """The fleet link's wake callback: counts its calls, and those for journal facts."""

    def __init__(self) -> None:
        self.count = 0
        self.facts = 0

    def __call__(self, facts: bool) -> None:
        self.count += 1
        self.facts += facts


def whole_sale(j: Journal, tx_id: str = "tx-1") -> None:
    j.begin(make_order(tx_id), "mixpay")
    j.payment_created(tx_id, make_request(tx_id))
    assert j.status_seen(tx_id, PaymentState.CONFIRMING, "pending", {"confirmations": 1})
    assert j.paid_verified(tx_id, {"paid_amount": Decimal("0.00002950")})
    assert j.start_vend(tx_id)
    j.vend_result(tx_id, "vended", {"detail": "beam broken"}, disable_slot=False)


def operator_actions(j: Journal) -> None:
    j.operator_event("pin_ok", {})
    j.operator_change("A1", "restock", {"count": 5}, stock=5)
    j.record_selftest(True, [{"name": "journal", "ok": True}])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock, wakes: Wakes) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db", now=clock) as j:
        j.init_slots({"A1": 5})
        j.enable_outbox(1000, wakes)
        yield j


def payloads(j: Journal) -> list[dict[str, Any]]:
    return [row.payload for row in j.outbox_batch(10_000)]


def seqs(j: Journal) -> list[int]:
    return [row.seq for row in j.outbox_batch(10_000)]


# --------------------------------------------------------------------------- off by default

def test_a_journal_without_a_fleet_writes_no_outbox_rows(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.db", now=FakeClock()) as j:
        j.init_slots({"A1": 5})
        whole_sale(j)
        operator_actions(j)
        j.report(EVENT, {"group": "service", "kind": "out_of_service"}, fact=False)
        j.command_refused("c-1", "unsigned", record=False)
        assert j.outbox_size() == 0
        assert j.outbox_batch(100) == []
        assert j.transaction("tx-1")["status"] == "vended"   # the sale itself was kept


# --------------------------------------------------------------------------- a sale's rows

def test_each_sale_step_adds_exactly_one_row_in_order(journal: Journal) -> None:
    sizes = []
    journal.begin(make_order(), "mixpay")
    sizes.append(journal.outbox_size())
    journal.payment_created("tx-1", make_request())
    sizes.append(journal.outbox_size())
    assert journal.status_seen("tx-1", PaymentState.CONFIRMING, "pending", {"confirmations": 1})
    sizes.append(journal.outbox_size())
    assert journal.paid_verified("tx-1", {"paid_amount": Decimal("0.00002950")})
    sizes.append(journal.outbox_size())
    assert journal.start_vend("tx-1")
    sizes.append(journal.outbox_size())
    journal.vend_result("tx-1", "vended", {"detail": "beam broken"}, disable_slot=False)
    sizes.append(journal.outbox_size())
    assert sizes == [1, 2, 3, 4, 5, 6]

    rows = payloads(journal)
    assert [(row["kind"], row["status"]) for row in rows] == [
        ("payment_requested", "creating"), ("payment_created", "awaiting"),
        ("status_seen", "confirming"), ("paid_verified", "paid"),
        ("vend_started", "vending"), ("vend_result", "vended")]
    events = journal.transaction("tx-1")["events"]
    assert [row["kind"] for row in rows] == [event["kind"] for event in events]
    assert [row["at"] for row in rows] == [event["at"] for event in events]
    for row in rows:
        assert set(row) == SALE_KEYS
        assert {key: row[key] for key in SALE_KEYS - {"kind", "at", "status", "detail"}} == {
            "group": "sale", "tx": "tx-1", "slot": "A1", "item": "Sparkling water",
            "amount": "2.50", "currency": "USD", "gateway": "mixpay", "asset": "BTC"}
        assert isinstance(row["amount"], str)
    assert rows[0]["detail"] == {"slot": "A1", "amount": "2.50", "currency": "USD",
                                 "asset": "BTC"}
    assert rows[3]["detail"] == {"paid_amount": "0.00002950"}
    assert rows[5]["detail"] == {"outcome": "vended", "detail": "beam broken"}
    assert seqs(journal) == sorted(seqs(journal))


def test_a_sale_without_an_asset_reports_asset_none(journal: Journal) -> None:
    order = make_order()
    journal.begin(Order(**{**order.__dict__, "asset": None}), "centrapay")
    (row,) = payloads(journal)
    assert row["asset"] is None and row["gateway"] == "centrapay"


def test_a_repeated_status_adds_no_row(journal: Journal) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    assert journal.status_seen("tx-1", PaymentState.CONFIRMING, "pending", {})
    assert journal.status_seen("tx-1", PaymentState.CONFIRMING, "pending", {}) is False
    assert journal.outbox_size() == 3


def test_a_failed_vend_reports_its_claim_in_the_same_commit(journal: Journal,
                                                            wakes: Wakes) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    assert journal.paid_verified("tx-1", {})
    assert journal.start_vend("tx-1")
    before = wakes.count
    journal.vend_result("tx-1", "jam", {}, disable_slot=True, claim="ABCD-EFGH")
    assert wakes.count == before + 1                     # one commit, one wake
    tail = payloads(journal)[-2:]
    assert [(row["kind"], row["status"]) for row in tail] == [
        ("vend_result", "vend_failed"), ("refund_requested", "refund_due")]


# --------------------------------------------------------------------------- other rows

def test_operator_and_selftest_rows(journal: Journal) -> None:
    operator_actions(journal)
    rows = payloads(journal)
    assert [(row["group"], row["kind"]) for row in rows] == [
        ("operator", "pin_ok"), ("operator", "restock"), ("selftest", "selftest")]
    assert rows[0]["detail"] == {}
    assert rows[1]["detail"] == {"slot": "A1", "count": 5}
    assert rows[2]["passed"] is True and rows[2]["checks"] == [{"name": "journal", "ok": True}]
    assert [row["at"] for row in rows[:2]] == [e["at"] for e in journal.operator_events()]
    assert rows[2]["at"] == journal.selftests()[0]["at"]
    assert all(row.topic == EVENT for row in journal.outbox_batch(10))


def test_a_refused_command_is_reported_as_a_reply(journal: Journal) -> None:
    journal.command_refused("c-1", "unsigned", record=False)
    topics = [(row.topic, row.payload.get("group"), row.payload["kind"])
              for row in journal.outbox_batch(10)]
    assert topics == [(EVENT, "operator", "command_refused"), (REPLY, None, "reply")]
    reply = journal.outbox_batch(10)[1].payload
    assert (reply["command"], reply["status"], reply["error"]) == ("c-1", "rejected", "unsigned")


def test_an_answer_only_reply_is_telemetry_and_journals_nothing(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.db") as j:
        j.enable_outbox(2, Wakes())
        j.answer_only("c-9", "unsigned: flood")
        (row,) = j.outbox_batch(10)
        assert row.topic == REPLY
        assert {k: row.payload[k] for k in ("kind", "command", "status", "ok", "error")} == {
            "kind": "reply", "command": "c-9", "status": "rejected", "ok": False,
            "error": "unsigned: flood"}
        assert j.operator_events() == []
        j.operator_event("f1", {})
        j.operator_event("f2", {})                       # over the limit: the answer goes
        assert [p["kind"] for p in payloads(j)] == ["f1", "f2"]


def test_report_dates_a_row_now_unless_it_says_when(journal: Journal, clock: FakeClock) -> None:
    journal.report(EVENT, {"group": "service", "kind": "out_of_service"}, fact=False)
    now = clock.t.isoformat(timespec="microseconds")
    journal.report(EVENT, {"group": "service", "kind": "in_service", "at": "then"}, fact=False)
    first, second = payloads(journal)
    assert first["at"] == now
    assert second["at"] == "then"


# --------------------------------------------------------------------------- ids

ID = re.compile(r"^([0-9a-f]{12})-(\d+)$")


def test_ids_are_journal_id_and_seq_unique_and_stable_across_reopening(
        tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "journal.db"
    with Journal(path, now=clock) as j:
        assert j.journal_id == ""
        j.enable_outbox(1000, Wakes())
        first_id = j.journal_id
        assert re.fullmatch(r"[0-9a-f]{12}", first_id)
        whole_sale(j)
        before = j.outbox_batch(100)
    assert len(before) == 6
    assert [row.id for row in before] == [f"{first_id}-{row.seq}" for row in before]
    assert len({row.id for row in before}) == 6
    assert all(ID.match(row.id) for row in before)

    with Journal(path, now=clock) as again:
        again.enable_outbox(1000, Wakes())
        assert again.journal_id == first_id
        after = again.outbox_batch(100)
        assert after == before
        again.operator_event("pin_ok", {})
        newest = again.outbox_batch(100)[-1]
        assert newest.id == f"{first_id}-{before[-1].seq + 1}"


def test_a_wake_says_whether_the_commit_added_a_journal_fact(journal: Journal,
                                                             wakes: Wakes) -> None:
    """The link looks at its state snapshot again only after a fact: its own snapshot row
    (telemetry) wakes it to publish, not to read the journal again."""
    journal.report("state", {"kind": "state", "slots": []}, fact=False)
    assert (wakes.count, wakes.facts) == (1, 0)
    journal.operator_event("pin_ok", {})
    assert (wakes.count, wakes.facts) == (2, 1)


def test_the_file_remembers_its_outbox_until_it_is_disabled(tmp_path: Path) -> None:
    """Another writer of a fleet kiosk's journal (``kiosk selftest``) reports too, waking
    nobody; ``disable_outbox`` (a kiosk started without a fleet) empties it and stops it."""
    path = tmp_path / "journal.db"
    wakes = Wakes()
    with Journal(path) as j:
        j.enable_outbox(1000, wakes)
        j.operator_event("pin_ok", {})
    with Journal(path) as other:
        other.record_selftest(True, [])
        assert [p["group"] for p in payloads(other)] == ["operator", "selftest"]
    assert wakes.count == 1
    with Journal(path) as j:
        j.disable_outbox()
        assert j.outbox_size() == 0
        j.operator_event("pin_ok", {})
        j.record_selftest(True, [])
        assert j.outbox_size() == 0
    with Journal(path) as j:
        j.operator_event("pin_ok", {})
        assert j.outbox_size() == 0


def test_another_journal_file_has_another_id(tmp_path: Path) -> None:
    ids = []
    for name in ("one.db", "two.db"):
        with Journal(tmp_path / name) as j:
            j.enable_outbox(1000, Wakes())
            j.operator_event("pin_ok", {})
            ids.append(j.outbox_batch(1)[0].id)
    assert ids[0].endswith("-1") and ids[1].endswith("-1")
    assert ids[0] != ids[1]


# --------------------------------------------------------------------------- one transaction

def test_a_refused_step_leaves_no_row(journal: Journal, wakes: Wakes) -> None:
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    before, woken = payloads(journal), wakes.count
    with pytest.raises(JournalError, match="vend_result without a pending vend_started"):
        journal.vend_result("tx-1", "vended", {}, disable_slot=False)
    assert journal.start_vend("tx-1") is False        # not paid: refused, nothing written
    with pytest.raises(JournalError):
        journal.begin(make_order(), "mixpay")         # already exists
    with pytest.raises(JournalError):
        journal.payment_created("tx-nope", make_request("tx-nope"))
    assert payloads(journal) == before
    assert wakes.count == woken


def test_an_illegal_transition_after_a_written_update_is_rolled_back(journal: Journal) -> None:
    """payment_created writes the payment's id before its step is checked: the refusal rolls
    back that write and adds no outbox row."""
    whole_sale(journal)
    size = journal.outbox_size()
    with pytest.raises(JournalError):
        journal.payment_created("tx-1", make_request("tx-other"))
    assert journal.outbox_size() == size
    assert journal.transaction("tx-1")["payment_id"] == "trace-tx-1"


def test_a_step_failing_after_its_row_was_added_takes_the_row_with_it(
        journal: Journal, wakes: Wakes, monkeypatch: pytest.MonkeyPatch) -> None:
    """abandoned(open_claim=True) adds the abandon row, then opens the claim: a failure of the
    claim rolls back both, and nobody is woken for a row that is not there."""
    journal.begin(make_order(), "mixpay")
    journal.payment_created("tx-1", make_request())
    size, woken = journal.outbox_size(), wakes.count

    def broken_claim(*args: Any, **kwargs: Any) -> str:
        raise JournalError("disk on fire")

    monkeypatch.setattr(journal, "_issue_claim", broken_claim)
    with pytest.raises(JournalError, match="disk on fire"):
        journal.abandoned("tx-1", "cancelled", {}, open_claim=True)
    assert journal.outbox_size() == size
    assert wakes.count == woken
    assert journal.transaction("tx-1")["status"] == "awaiting"


# --------------------------------------------------------------------------- publishing

def test_outbox_sent_removes_exactly_those_rows(journal: Journal) -> None:
    whole_sale(journal)
    rows = journal.outbox_batch(100)
    sent = [rows[0].seq, rows[2].seq, rows[5].seq]
    journal.outbox_sent(sent)
    assert seqs(journal) == [rows[1].seq, rows[3].seq, rows[4].seq]
    journal.outbox_sent([rows[0].seq, 999_999])        # acknowledged twice, or unknown: no harm
    assert journal.outbox_size() == 3


def test_seq_keeps_growing_after_deletes(journal: Journal) -> None:
    journal.operator_event("a", {})
    journal.operator_event("b", {})
    last = journal.outbox_batch(10)[-1]
    journal.outbox_sent(seqs(journal))
    assert journal.outbox_size() == 0
    journal.operator_event("c", {})
    (row,) = journal.outbox_batch(10)
    assert row.seq == last.seq + 1 and row.id != last.id


def test_seq_never_reused_after_emptying_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path) as j:
        j.enable_outbox(1000, Wakes())
        for kind in "abc":
            j.operator_event(kind, {})
        used = {row.id for row in j.outbox_batch(10)}
        j.outbox_sent(seqs(j))
    with Journal(path) as j:
        j.enable_outbox(1000, Wakes())
        j.operator_event("d", {})
        (row,) = j.outbox_batch(10)
    assert row.id not in used and row.seq == 4


def test_outbox_batch_pages_in_order(journal: Journal) -> None:
    for number in range(7):
        journal.operator_event(f"e{number}", {})
    pages, after = [], 0
    while page := journal.outbox_batch(3, after=after):
        pages.append([row.payload["kind"] for row in page])
        after = page[-1].seq
    assert pages == [["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6"]]
    assert journal.outbox_batch(3, after=after) == []
    assert journal.outbox_size() == 7                    # reading deletes nothing


def test_a_newer_state_replaces_the_unsent_one(journal: Journal) -> None:
    journal.report(STATE, {"kind": "state", "in_service": True}, fact=False)
    journal.operator_event("pin_ok", {})
    journal.report(STATE, {"kind": "state", "in_service": False}, fact=False)
    rows = journal.outbox_batch(10)
    assert [(row.topic, row.payload.get("in_service")) for row in rows] == [
        (EVENT, None), (STATE, False)]
    journal.report(STATE, {"kind": "state", "in_service": True}, fact=False)
    states = [row for row in journal.outbox_batch(10) if row.topic == STATE]
    assert len(states) == 1 and states[0].payload["in_service"] is True


# --------------------------------------------------------------------------- the limit

def test_over_the_limit_the_oldest_telemetry_goes_first(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.db") as j:
        j.enable_outbox(4, Wakes())
        j.report(EVENT, {"group": "service", "kind": "t1"}, fact=False)
        j.operator_event("f1", {})
        j.report(EVENT, {"group": "service", "kind": "t2"}, fact=False)
        j.operator_event("f2", {})
        assert [p["kind"] for p in payloads(j)] == ["t1", "f1", "t2", "f2"]
        j.operator_event("f3", {})
        assert [p["kind"] for p in payloads(j)] == ["f1", "t2", "f2", "f3"]
        j.report(EVENT, {"group": "service", "kind": "t3"}, fact=False)
        assert [p["kind"] for p in payloads(j)] == ["f1", "f2", "f3", "t3"]
        assert j.outbox_size() == 4


def test_facts_are_never_dropped_even_past_the_limit(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.db") as j:
        j.enable_outbox(3, Wakes())
        j.report(EVENT, {"group": "service", "kind": "t1"}, fact=False)
        for number in range(6):
            j.operator_event(f"f{number}", {})
        assert [p["kind"] for p in payloads(j)] == [f"f{number}" for number in range(6)]
        j.report(EVENT, {"group": "service", "kind": "t2"}, fact=False)
        # Nothing but facts to make room: the new telemetry row itself goes, no fact.
        assert [p["kind"] for p in payloads(j)] == [f"f{number}" for number in range(6)]
        j.command_refused("c-1", "unsigned", record=False)   # replies are facts too
        assert j.outbox_size() == 8


def test_sale_rows_are_facts(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.db") as j:
        j.enable_outbox(2, Wakes())
        whole_sale(j)
        assert j.outbox_size() == 6
        j.report(EVENT, {"group": "service", "kind": "t1"}, fact=False)
        assert j.outbox_size() == 6 and all(p["group"] == "sale" for p in payloads(j))
        # The one state snapshot stays, however full: it is the latest, and the console's
        # retained state would otherwise stay stale until the next change.
        j.report(STATE, {"kind": "state"}, fact=False)
        assert j.outbox_size() == 7 and payloads(j)[-1]["kind"] == "state"
        j.report(STATE, {"kind": "state", "n": 2}, fact=False)
        assert j.outbox_size() == 7 and payloads(j)[-1].get("n") == 2


# --------------------------------------------------------------------------- waking

def test_wake_after_a_commit_that_added_rows_only(journal: Journal, wakes: Wakes) -> None:
    assert wakes.count == 0
    journal.begin(make_order(), "mixpay")
    assert wakes.count == 1
    journal.operator_event("pin_ok", {})
    assert wakes.count == 2
    journal.report(STATE, {"kind": "state"}, fact=False)
    assert wakes.count == 3

    journal.set_slot("A1", stock=3)                      # journalled, not reported
    journal.init_slots({"B1": 2})
    journal.outbox_batch(10)
    journal.outbox_size()
    journal.outbox_sent(seqs(journal))
    assert journal.transactions()[0]["id"] == "tx-1"
    assert journal.start_vend("tx-1") is False           # refused: no row
    assert wakes.count == 3


def test_no_wake_without_an_outbox(tmp_path: Path) -> None:
    wakes = Wakes()
    with Journal(tmp_path / "journal.db") as j:
        j.operator_event("pin_ok", {})
        j.enable_outbox(1000, wakes)
        assert wakes.count == 0                          # enabling reports nothing
        j.operator_event("pin_ok", {})
        assert wakes.count == 1 and j.outbox_size() == 1


def test_no_wake_when_the_commit_is_rolled_back(journal: Journal, wakes: Wakes) -> None:
    journal.begin(make_order(), "mixpay")
    woken = wakes.count
    with pytest.raises(JournalError):
        journal.vend_result("tx-1", "vended", {}, disable_slot=False)
    with pytest.raises(JournalError):
        journal.begin(make_order(), "mixpay")
    assert wakes.count == woken
    journal.operator_event("pin_ok", {})                 # and the next commit still wakes
    assert wakes.count == woken + 1


def test_a_commit_after_the_fleet_link_stopped_still_succeeds(tmp_path: Path) -> None:
    """The journal wakes the link after each commit; once the link has stopped (the kiosk
    shutting down while a worker still writes), that wake-up must not turn a committed step
    into an error."""
    class Quiet:
        def service(self) -> tuple[bool, str]:
            return True, ""

        def state(self) -> dict[str, Any]:
            return {}

    with Journal.open_in(tmp_path) as journal:
        link = FleetLink(FleetConfig(brokers=(Broker("127.0.0.1", 9, False),)),
                         Identity("m-001", "test"), journal, Quiet())
        link.start()
        link.stop()
        at = journal.operator_event("restock", {"slot": "A1"})   # must not raise
        assert journal.latest_operator_event(("restock",)) == {
            "at": at, "kind": "restock", "detail": {"slot": "A1"}}
        assert journal.outbox_size() >= 1          # kept for the next start of the link
