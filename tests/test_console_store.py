"""The console's store (vending_fleet.store) on SQLite and on a real PostgreSQL 15: every
``Store`` method, events stored once by id, late steps never overwriting newer ones, exact
Decimal totals, the claims desk, and two consoles on one database not counting twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from console_parts import both_databases_store_fixture, store_url_fixture
from postgres import module_postgres_fixture

from kiosk.claims import claim_code
from vending_fleet.model import (Alert, AuditEntry, CommandRecord, Role, Store, TotalsBy)
from vending_fleet.store import open_store

__all__ = ["both_databases_store_fixture", "module_postgres_fixture",   # found by pytest
           "store_url_fixture"]

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SALE_STEPS = ("payment_requested", "creating"), ("payment_created", "awaiting"), \
    ("paid_verified", "paid"), ("vend_started", "vending")


class Machine:
    """Builds a machine's payloads: events numbered as its journal's outbox does."""

    def __init__(self, machine: str = "m-001", journal: str = "6094013b7fc6",
                 currency: str = "USD") -> None:
        self.id, self.journal, self.currency, self.seq = machine, journal, currency, 0

    def event(self, at: datetime, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        return {"id": f"{self.journal}-{self.seq}", "machine": self.id,
                "at": at.isoformat(timespec="microseconds"), **fields}

    def step(self, tx: str, kind: str, status: str, at: datetime, amount: str = "2.50",
             item: str = "Water", asset: str | None = "USDT", gateway: str = "mixpay",
             **detail: Any) -> dict[str, Any]:
        return self.event(at, group="sale", kind=kind, tx=tx, status=status, slot="A1",
                          item=item, amount=amount, currency=self.currency, gateway=gateway,
                          asset=asset, detail=detail)

    def sale(self, tx: str, at: datetime, amount: str = "2.50", outcome: str = "vended",
             **options: Any) -> list[dict[str, Any]]:
        steps = [self.step(tx, kind, status, at + timedelta(seconds=i), amount, **options)
                 for i, (kind, status) in enumerate(SALE_STEPS)]
        status = {"vended": "vended", "unknown": "vend_unknown"}.get(outcome, "vend_failed")
        steps.append(self.step(tx, "vend_result", status, at + timedelta(seconds=5), amount,
                               outcome=outcome, **options))
        return steps

    def state(self, at: datetime, **fields: Any) -> dict[str, Any]:
        return self.event(at, kind="state", currency=self.currency, config_version="3b1f0c9d2e7a",
                          slots=[{"slot": "A1", "name": "Water", "price": "2.50", "stock": 49,
                                  "enabled": True, "disabled_reason": ""},
                                 {"slot": "A2", "name": "Cola", "price": "2.00", "stock": 0,
                                  "enabled": False, "disabled_reason": "jam"}],
                          open_claims=0, sales_today={"count": 2, "amount": "4.50"},
                          health={"in_service": True, "reason": ""}, **fields)


def record_all(store: Store, machine: str, events: list[dict[str, Any]],
               at: datetime = T0) -> list[bool]:
    return [store.record_event(machine, event, at) for event in events]


# -- machines, slots ------------------------------------------------------------------------

def test_machines_from_status_state_and_last_seen(store: Store) -> None:
    m = Machine()
    assert store.machines() == [] and store.machine("m-001") is None
    store.record_status("m-001", {"online": True, "machine": "m-001", "version": "0.1.0",
                                  "in_service": False, "reason": "out of service: restock"}, T0)
    store.record_state("m-001", m.state(T0), T0 + timedelta(seconds=1))
    store.record_event("m-001", m.event(T0 - DAY, group="service", kind="in_service",
                                        reason=""), T0 + timedelta(seconds=2))
    found = store.machine("m-001")
    assert found is not None
    assert (found.online, found.in_service, found.reason, found.version) == (
        True, False, "out of service: restock", "0.1.0")
    assert (found.currency, found.sales_today, found.open_claims, found.config_version) == (
        "USD", 2, 0, "3b1f0c9d2e7a")
    # last_seen: when the console last heard it (the event's own old ``at`` does not count)
    assert found.last_seen == T0 + timedelta(seconds=2)
    store.record_status("m-001", {"online": False, "machine": "m-001", "version": "0.1.0",
                                  "in_service": False, "reason": "connection lost"},
                        T0 + timedelta(seconds=1))
    after = store.machine("m-001")
    assert after is not None and not after.online and after.reason == "connection lost"
    assert after.last_seen == T0 + timedelta(seconds=2)       # a max, never moved back
    store.record_status("m-002", {"online": True, "machine": "m-002", "version": "0.2.0",
                                  "in_service": True, "reason": ""}, T0)
    assert [machine.id for machine in store.machines()] == ["m-001", "m-002"]
    other = store.machine("m-002")
    assert other is not None and other.currency == "" and other.sales_today == 0


def test_slots_from_the_latest_state(store: Store) -> None:
    m = Machine()
    newer = m.state(T0 + timedelta(minutes=5))
    older = m.state(T0)               # a lower seq: written before
    newer["id"], older["id"] = older["id"], newer["id"]
    newer["slots"][0]["price"] = "3.10"
    store.record_state("m-001", newer, T0)
    store.record_state("m-001", older, T0)      # a retained resend of an older state: ignored
    slots = store.slots("m-001")
    assert [(s.slot, s.name, s.price, s.currency, s.stock, s.enabled, s.disabled_reason)
            for s in slots] == [("A1", "Water", Decimal("3.10"), "USD", 49, True, ""),
                                ("A2", "Cola", Decimal("2.00"), "USD", 0, False, "jam")]
    assert isinstance(slots[0].price, Decimal)
    # A replaced journal starts at seq 1 again: its newer state wins by time.
    fresh = Machine(journal="aaaaaaaaaaaa").state(T0 + DAY)
    fresh["slots"] = fresh["slots"][:1]
    store.record_state("m-001", fresh, T0 + DAY)
    assert [s.slot for s in store.slots("m-001")] == ["A1"]
    store.record_state("m-002", Machine("m-002", currency="EUR").state(T0), T0)
    assert {(s.machine, s.currency) for s in store.slots()} == {("m-001", "USD"),
                                                                ("m-002", "EUR")}
    assert store.slots("m-404") == []


# -- events: once by id, in journal order ----------------------------------------------------

def test_an_event_is_stored_once_by_id(store: Store) -> None:
    m = Machine()
    events = m.sale("tx-1", T0)
    assert record_all(store, "m-001", events) == [True] * 5
    before = store.machine("m-001")
    assert record_all(store, "m-001", events, T0 + DAY) == [False] * 5
    assert store.machine("m-001") == before                 # a duplicate changes nothing
    assert len(store.sales(T0 - DAY, T0 + DAY)) == 1
    assert len(store.events_of("m-001", T0 - DAY)) == 5


def test_events_of_in_journal_order_whatever_the_arrival(store: Store) -> None:
    m = Machine()
    events = m.sale("tx-1", T0) + m.sale("tx-2", T0 + timedelta(minutes=1))
    arrival = events[5:] + events[:5]
    arrival.reverse()
    record_all(store, "m-001", arrival)
    assert [e["id"] for e in store.events_of("m-001", T0 - DAY)] == [e["id"] for e in events]
    assert [e["id"] for e in store.events_of("m-001", T0 + timedelta(minutes=1))] == [
        e["id"] for e in events[5:]]
    assert store.events_of("m-002", T0 - DAY) == []
    # seq 10 sorts after seq 9 (numbers, not text)
    assert [e["id"].rsplit("-", 1)[1] for e in store.events_of("m-001", T0 - DAY)] == [
        str(i) for i in range(1, 11)]


def test_late_steps_never_overwrite_a_newer_status(store: Store) -> None:
    m = Machine()
    unknown = m.sale("tx-1", T0, outcome="unknown")
    resolved = m.step("tx-1", "vend_resolved", "refund_due", T0 + timedelta(minutes=1),
                      outcome="no_drop", claim_code=claim_code("tx-1"))
    refunded = m.step("tx-1", "refund_done", "refunded", T0 + timedelta(minutes=2))
    # The newest first (a reconnect resent the older ones after it)
    record_all(store, "m-001", [refunded, resolved] + unknown)
    assert store.open_claims() == []
    settled = store.find_claim(claim_code("tx-1"))
    assert settled is not None and settled.status == "refunded"


# -- sales and totals -------------------------------------------------------------------------

def test_sales_are_vended_results_newest_first(store: Store) -> None:
    m, m2 = Machine(), Machine("m-002", "bbbbbbbbbbbb")
    record_all(store, "m-001", m.sale("tx-1", T0, "2.50"))
    record_all(store, "m-001", m.sale("tx-2", T0 + timedelta(hours=1), "2.00", item="Cola",
                                      asset=None))
    record_all(store, "m-001", m.sale("tx-3", T0 + timedelta(hours=2), outcome="jam"))
    record_all(store, "m-002", m2.sale("tx-4", T0 + timedelta(hours=3), "1.00"))
    sales = store.sales(T0, T0 + DAY)
    assert [s.tx for s in sales] == ["tx-4", "tx-2", "tx-1"]
    first = sales[-1]
    assert (first.machine, first.slot, first.item, first.amount, first.currency, first.gateway,
            first.asset, first.event_id) == ("m-001", "A1", "Water", Decimal("2.50"), "USD",
                                             "mixpay", "USDT", "6094013b7fc6-5")
    assert first.at == T0 + timedelta(seconds=5) and first.at.tzinfo is not None
    assert sales[1].asset == ""                                  # null: picked in the wallet
    assert [s.tx for s in store.sales(T0, T0 + DAY, machine="m-001")] == ["tx-2", "tx-1"]
    assert [s.tx for s in store.sales(T0, T0 + DAY, limit=1)] == ["tx-4"]
    # [start, end): the end is left out
    assert [s.tx for s in store.sales(T0, T0 + timedelta(hours=1, seconds=5))] == ["tx-1"]


def test_totals_are_exact_decimals_per_currency(store: Store) -> None:
    usd, eur = Machine(), Machine("m-002", "cccccccccccc", "EUR")
    late = datetime(2026, 11, 25, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 26th in UTC
    record_all(store, "m-001", usd.sale("a", T0, "0.1", item="Water", gateway="mixpay"))
    record_all(store, "m-001", usd.sale("b", T0, "0.2", item="Cola", asset=None,
                                        gateway="wctpay"))
    record_all(store, "m-001", usd.sale("c", late, "0.10", item="Water", asset="BTC"))
    record_all(store, "m-002", eur.sale("d", T0, "1.005", item="Water"))
    start, end = T0 - DAY, T0 + 2 * DAY
    by_day = store.totals(TotalsBy.DAY, start, end)
    assert [(t.key, t.currency, t.count, t.amount) for t in by_day] == [
        ("2026-11-25", "EUR", 1, Decimal("1.005")), ("2026-11-25", "USD", 2, Decimal("0.3")),
        ("2026-11-26", "USD", 1, Decimal("0.10"))]
    assert all(isinstance(t.amount, Decimal) for t in by_day)
    machine = {(t.key, t.currency): (t.count, t.amount)
               for t in store.totals(TotalsBy.MACHINE, start, end)}
    assert machine == {("m-001", "USD"): (3, Decimal("0.40")),
                       ("m-002", "EUR"): (1, Decimal("1.005"))}
    assert machine[("m-001", "USD")][1] == Decimal("0.4")       # exact, not 0.4000000001
    items = {(t.key, t.currency): t.amount for t in store.totals(TotalsBy.ITEM, start, end)}
    assert items == {("Water", "USD"): Decimal("0.20"), ("Cola", "USD"): Decimal("0.2"),
                     ("Water", "EUR"): Decimal("1.005")}
    assets = {(t.key, t.currency): t.count for t in store.totals(TotalsBy.ASSET, start, end)}
    assert assets == {("USDT", "USD"): 1, ("", "USD"): 1, ("BTC", "USD"): 1, ("USDT", "EUR"): 1}
    gateways = {(t.key, t.currency): t.count
                for t in store.totals(TotalsBy.GATEWAY, start, end)}
    assert gateways == {("mixpay", "USD"): 2, ("wctpay", "USD"): 1, ("mixpay", "EUR"): 1}
    assert store.totals(TotalsBy.DAY, T0 + 3 * DAY, T0 + 4 * DAY) == []


def test_a_float_amount_is_refused_not_rounded(store: Store) -> None:
    m = Machine()
    event = m.step("tx-1", "vend_result", "vended", T0)
    event["amount"] = 0.1
    with pytest.raises(ValueError):
        store.record_event("m-001", event, T0)
    assert store.sales(T0 - DAY, T0 + DAY) == [] and store.events_of("m-001", T0 - DAY) == []


# -- claims ---------------------------------------------------------------------------------

def test_open_claims_and_find_claim(store: Store) -> None:
    m = Machine()
    # A vend that may not have dropped: no claim code in its steps, derived from the tx.
    record_all(store, "m-001", m.sale("tx-unknown", T0 + timedelta(hours=1), outcome="unknown"))
    # Paid after the window closed: refund due, with a claim code.
    record_all(store, "m-001", [
        m.step("tx-late", "payment_requested", "creating", T0),
        m.step("tx-late", "expired", "expired", T0 + timedelta(minutes=5), reason="timeout"),
        m.step("tx-late", "paid_late", "paid_late", T0 + timedelta(minutes=6), refund_due=True,
               claim_code=claim_code("tx-late"))])
    # A jam, refund requested by claim (refund_requested detail carries the code and reason)
    record_all(store, "m-001", m.sale("tx-jam", T0 + timedelta(hours=2), outcome="jam"))
    store.record_event("m-001", m.step("tx-jam", "refund_requested", "refund_due",
                                       T0 + timedelta(hours=2, minutes=1), method="claim",
                                       claim_code=claim_code("tx-jam"), reason="jam"), T0)
    claims = store.open_claims()
    assert [(c.tx, c.status) for c in claims] == [
        ("tx-late", "paid_late"), ("tx-unknown", "vend_unknown"), ("tx-jam", "refund_due")]
    late = claims[0]
    assert (late.machine, late.code, late.amount, late.currency, late.opened_at) == (
        "m-001", claim_code("tx-late"), Decimal("2.50"), "USD", T0 + timedelta(minutes=6))
    assert claims[2].reason == "jam" and claims[1].reason == "unknown"
    assert claims[1].code == claim_code("tx-unknown")
    # Typed any way the kiosk forgives: lower case, no hyphen, O for 0, I/L for 1.
    code = claim_code("tx-jam")
    typed = code.lower().replace("-", "").replace("0", "o").replace("1", "l")
    found = store.find_claim(f" {typed} ")
    assert found is not None and found.tx == "tx-jam" and found.status == "refund_due"
    assert store.find_claim("ZZZZ-ZZZZ") is None and store.find_claim("--") is None
    # Settled from the console: the claim closes
    store.record_event("m-001", m.step("tx-jam", "claim_settled", "settled",
                                       T0 + timedelta(hours=3), how="item_given",
                                       source="fleet", command="c-1"), T0)
    assert [c.tx for c in store.open_claims()] == ["tx-late", "tx-unknown"]
    settled = store.find_claim(code)
    assert settled is not None and settled.status == "settled"


# -- commands -------------------------------------------------------------------------------

def command(command_id: str, machine: str = "m-001", at: datetime = T0) -> CommandRecord:
    return CommandRecord(id=command_id, machine=machine, command="set_price",
                         args={"slot": "A1", "price": "3.10"}, sent_by="ann", sent_at=at,
                         status="sent", reply=None)


def test_commands_and_replies(store: Store) -> None:
    m = Machine()
    store.command_sent(command("c-1"))
    store.command_sent(command("c-2", at=T0 + timedelta(minutes=1)))
    store.command_sent(command("c-3", "m-002", T0 + timedelta(minutes=2)))
    assert [(c.id, c.status, c.reply) for c in store.commands()] == [
        ("c-3", "sent", None), ("c-2", "sent", None), ("c-1", "sent", None)]
    applied = m.event(T0, kind="reply", command="c-1", status="applied", ok=True,
                      result={"slot": "A1", "price": "3.10"})
    assert store.record_reply("m-001", applied, T0)
    assert not store.record_reply("m-001", applied, T0)             # the same reply again
    replayed = m.event(T0, kind="reply", command="c-1", status="replayed", ok=False,
                       error="replayed: ...", first=applied)
    assert store.record_reply("m-001", replayed, T0)
    first = store.commands("m-001")[-1]
    assert (first.id, first.status, first.args) == ("c-1", "applied", {"slot": "A1",
                                                                       "price": "3.10"})
    assert first.reply is not None and first.reply["result"] == {"slot": "A1", "price": "3.10"}
    assert first.sent_at == T0 and first.sent_by == "ann"
    # An orphan (a command this console never sent): kept, nothing else changes.
    assert store.record_reply("m-001", m.event(T0, kind="reply", command="c-404",
                                               status="rejected", ok=False, error="x"), T0)
    # A machine answering for another's command does not touch it.
    store.record_reply("m-001", m.event(T0, kind="reply", command="c-3", status="applied",
                                        ok=True, result={}), T0)
    rejected = m.event(T0, kind="reply", command="c-2", status="rejected", ok=False,
                       error="set_price: ...")
    assert store.record_reply("m-001", rejected, T0)
    statuses = {c.id: c.status for c in store.commands()}
    assert statuses == {"c-1": "applied", "c-2": "rejected", "c-3": "sent"}
    assert [c.id for c in store.commands(limit=1)] == ["c-3"]
    assert [c.id for c in store.commands("m-002")] == ["c-3"]


# -- alerts, people -------------------------------------------------------------------------

def test_alerts_one_open_per_key(store: Store) -> None:
    alert = Alert(key="offline:m-001", machine="m-001", rule="offline", message="gone", since=T0)
    assert store.raise_alert(alert)
    assert not store.raise_alert(alert)
    assert [a.key for a in store.alerts()] == ["offline:m-001"]
    assert store.clear_alert("offline:m-001", T0 + timedelta(minutes=5))
    assert not store.clear_alert("offline:m-001", T0 + timedelta(minutes=6))
    assert store.alerts() == []
    assert store.raise_alert(Alert("offline:m-001", "m-001", "offline", "gone again",
                                   T0 + timedelta(hours=1)))
    history = store.alerts(active_only=False)
    assert [(a.message, a.cleared_at) for a in history] == [
        ("gone again", None), ("gone", T0 + timedelta(minutes=5))]


def test_users_sessions_and_audit(store: Store) -> None:
    ann = store.add_user("ann", Role.ADMIN, "hash-a")
    bob = store.add_user("bob", Role.VIEWER, "hash-b")
    with pytest.raises(ValueError):
        store.add_user("ann", Role.VIEWER, "other")
    assert store.user("ann") == ann and store.user("nobody") is None
    assert [u.name for u in store.users()] == ["ann", "bob"] and ann.id != bob.id
    now = datetime.now(UTC)
    session = store.start_session(ann, "s-1", "csrf-1", now + timedelta(hours=8), now)
    assert store.session("s-1", now) == session and session.user.role is Role.ADMIN
    assert store.session("s-1", now + timedelta(hours=9)) is None          # expired
    # starting a session clears the expired ones by the console's clock, not the computer's
    store.start_session(bob, "s-2", "csrf-2", now + timedelta(hours=1), now - timedelta(days=1))
    assert store.session("s-1", now) == session
    store.end_session("s-2")
    assert store.session("s-2", now) is None and store.session("s-404", now) is None
    store.audit(AuditEntry(T0, "ann", "login", {}))
    store.audit(AuditEntry(T0 + timedelta(seconds=1), "ann", "command",
                           {"machine": "m-001", "command": "set_price", "price": "3.10"}))
    log = store.audit_log()
    assert [(e.action, e.user, e.at) for e in log] == [
        ("command", "ann", T0 + timedelta(seconds=1)), ("login", "ann", T0)]
    assert log[0].detail["price"] == "3.10" and len(store.audit_log(limit=1)) == 1


# -- several consoles, several threads ------------------------------------------------------

def test_two_consoles_on_one_database_do_not_double_count(store_url: str) -> None:
    first, second = open_store(store_url), open_store(store_url)
    try:
        m = Machine()
        events = [e for i in range(10) for e in m.sale(f"tx-{i}", T0 + timedelta(minutes=i),
                                                         "0.1")]
        stored: list[bool] = []

        def ingest(store: Store, order: list[dict[str, Any]]) -> None:
            stored.extend(store.record_event("m-001", event, T0) for event in order)

        threads = [threading.Thread(target=ingest, args=(first, events)),
                   threading.Thread(target=ingest, args=(second, events[::-1]))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert stored.count(True) == len(events)                    # each stored once
        for store in (first, second):
            assert len(store.sales(T0 - DAY, T0 + DAY)) == 10
            [total] = store.totals(TotalsBy.MACHINE, T0 - DAY, T0 + DAY)
            assert (total.count, total.amount) == (10, Decimal("1.0"))
            assert len(store.events_of("m-001", T0 - DAY)) == 50
    finally:
        first.close()
        second.close()


def test_reads_while_another_thread_writes(store: Store) -> None:
    m = Machine()
    events = [e for i in range(30) for e in m.sale(f"tx-{i}", T0)]
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                store.sales(T0 - DAY, T0 + DAY)
                store.machines()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        record_all(store, "m-001", events)
    finally:
        done.set()
        reader.join()
    assert errors == [] and len(store.sales(T0 - DAY, T0 + DAY)) == 30


def test_open_store_urls(tmp_path: Path) -> None:
    for url in (str(tmp_path / "plain.db"), f"sqlite:///{tmp_path / 'url.db'}",
                "sqlite:///:memory:"):
        store = open_store(url)
        store.record_status("m-001", {"online": True}, T0)
        assert [m.id for m in store.machines()] == ["m-001"]
        store.close()
    assert (tmp_path / "plain.db").exists() and (tmp_path / "url.db").exists()
    reopened = open_store(str(tmp_path / "plain.db"))
    assert [m.id for m in reopened.machines()] == ["m-001"]        # it persisted
    reopened.close()
    with pytest.raises(ValueError):
        open_store("sqlite://")
