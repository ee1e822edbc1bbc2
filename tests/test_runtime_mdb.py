"""Keypad-first selling end to end: the real MDB driver over a pty against the simulated bridge
and machine, the real runtime and journal, the MixPay sandbox over loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from hardware.sim.mdb_bridge import SimulatedMdbMachine
from kiosk.claims import claim_code
from kiosk.config import Config, load_config
from kiosk.flow import CancelPressed, ClaimReason, Order, Screen
from kiosk.journal import Journal
from kiosk.payments.base import PaymentRequest
from kiosk.sim import Sandbox
from fakes import COLA, WATER, centrapay_table, mdb_vend, mixpay_table, write_kiosk_toml
from harness import Harness, pay


@pytest.fixture
def machine() -> Iterator[SimulatedMdbMachine]:
    with SimulatedMdbMachine({11: 250, 12: 200}) as simulation:
        yield simulation


@pytest.fixture
def config(tmp_path: Path, sandbox: Sandbox, machine: SimulatedMdbMachine) -> Config:
    """Keypad first: MixPay, the wallet picking the coin, the real MDB driver over a pty to the
    simulated machine (A1 is item 11, A2 sold by its price)."""
    payment = {"timeout_s": 60, "choose_asset": False, "poll_interval_s": 0.2,
               "mixpay": mixpay_table(sandbox.url)}
    return load_config(write_kiosk_toml(
        tmp_path, payment=payment, vend=mdb_vend(machine.port, patience_s=60),
        slots=({**WATER, "stock": 3, "mdb_item": 11}, {**COLA, "stock": 3})))


@pytest.fixture
def driver() -> None:
    """The ``harness`` (tests/conftest.py) drives the one the config names: the MDB driver."""
    return None


def test_a_keypad_pick_is_paid_on_the_screen_and_then_approved(
        harness: Harness, machine: SimulatedMdbMachine) -> None:
    harness.wait_screen(Screen.ATTRACT, timeout_s=15)
    machine.press(11)
    harness.wait_screen(Screen.AWAITING_PAYMENT)
    sale = harness.runtime.state.sale
    assert sale is not None and sale.keypad and sale.slot_id == "A1" and sale.request
    pay(sale.request.link)
    harness.wait_screen(Screen.THANK_YOU, timeout_s=20)
    assert machine.host_lines().count("C,VEND,2.50") == 1
    assert harness.lines[0]["outcome"] == "vended" and harness.lines[0]["slot"] == "A1"


def test_an_unmapped_item_is_sold_by_its_price(harness: Harness,
                                               machine: SimulatedMdbMachine) -> None:
    harness.wait_screen(Screen.ATTRACT, timeout_s=15)
    machine.press(12)  # A2 has no mdb_item: its price 2.00 matches
    harness.wait_screen(Screen.AWAITING_PAYMENT)
    sale = harness.runtime.state.sale
    assert sale is not None and sale.slot_id == "A2" and sale.request
    pay(sale.request.link)
    harness.wait_screen(Screen.THANK_YOU, timeout_s=20)
    assert "C,VEND,2.00" in machine.host_lines()


def test_a_cancelled_keypad_sale_denies_the_vend(harness: Harness,
                                                machine: SimulatedMdbMachine) -> None:
    harness.wait_screen(Screen.ATTRACT, timeout_s=15)
    machine.press(11)
    harness.wait_screen(Screen.AWAITING_PAYMENT)
    harness.runtime.post(CancelPressed())
    harness.wait_screen(Screen.CANCELLED)
    harness.wait_for(lambda: "C,STOP" in machine.host_lines(), timeout_s=5)
    assert not any(line.startswith("C,VEND,") for line in machine.host_lines())


def test_an_approved_vend_without_a_result_is_a_claim_never_an_automatic_refund(
        tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """The machine may still drop the item: the operator checks before any money goes back."""
    with SimulatedMdbMachine({11: 250}, faults={11: "no_answer"}) as machine:
        payment = {"gateway": "centrapay", "timeout_s": 60, "poll_interval_s": 0.2,
                   "centrapay": centrapay_table(sandbox.url)}
        path = write_kiosk_toml(
            tmp_path, machine={"currency": "NZD"}, payment=payment,
            vend=mdb_vend(machine.port, selection_timeout_s=5, dispense_timeout_s=5),
            slots=({**WATER, "stock": 3, "mdb_item": 11},))
        harness = Harness(load_config(path), driver=None)
        try:
            order, request = harness.buy("A1")
            pay(request.link)
            harness.wait_screen(Screen.VEND_FAILED, timeout_s=30)
            sale = harness.runtime.state.sale
            assert sale is not None and sale.claim_reason is ClaimReason.VEND_UNKNOWN
            assert sale.claim_code == claim_code(order.tx_id)   # ours, not a refund reference
            tx = harness.wait_status(order.tx_id, "vend_unknown")   # listed by --claims
            harness.runtime.settle(5, watches=True)
        finally:
            harness.close()
        assert machine.host_lines().count("C,VEND,2.50") == 1
        assert not any(line == "C,STOP" for line in machine.host_lines()[
            machine.host_lines().index("C,VEND,2.50"):])      # no deny mid-vend
        snapshot = sandbox.simulators["centrapay"].snapshot(  # type: ignore[attr-defined]
            request.payment_id)
        assert snapshot.refunds == ()
    assert tx["claim_code"] == claim_code(order.tx_id)
    assert [e["detail"]["outcome"] for e in tx["events"] if e["kind"] == "vend_result"] \
        == ["unknown"]
    assert not any(e["kind"] == "refund_requested" and e["detail"].get("method") == "gateway"
                   for e in tx["events"])


def interrupted_vend(config: Config, tx_id: str) -> None:
    """A paid MDB vend approved just before the kiosk died: journalled up to vend_dispensing."""
    order = Order(tx_id, "A1", "Water", Decimal("2.50"), "USD", None, int(time.time()) + 60)
    with Journal.open_in(config.machine.data_dir) as journal:
        journal.init_slots({"A1": 3})
        journal.begin(order, "mixpay")
        journal.payment_created(tx_id, PaymentRequest(tx_id, "x", order.expires_at))
        journal.paid_verified(tx_id, {})
        assert journal.start_vend(tx_id)
        journal.dispensing(tx_id)


@pytest.mark.parametrize(("line", "status", "stock"), [
    ("c,VEND,SUCCESS", "vended", 2), ("c,VEND,FAIL", "refund_due", 3)])
def test_the_machines_word_after_a_restart_settles_the_vend_it_was_dispensing(
        config: Config, machine: SimulatedMdbMachine, line: str, status: str,
        stock: int) -> None:
    tx_id = "5c0ffee0-1111-4a2b-8c3d-0e1f2a3b4c5d"
    interrupted_vend(config, tx_id)
    harness = Harness(config, driver=None)
    try:
        harness.wait_screen(Screen.VEND_FAILED, timeout_s=15)   # the claim, shown first
        assert harness.wait_status(tx_id, "vend_unknown")["claim_code"] == claim_code(tx_id)
        harness.wait_for(lambda: machine.host_lines().count("C,1") >= 1, timeout_s=15)
        machine.inject(line)   # the machine finishes the vend approved before
        tx = harness.wait_status(tx_id, status)
    finally:
        harness.close()
    assert [e["detail"]["outcome"] for e in tx["events"] if e["kind"] == "vend_resolved"] == [
        "vended" if status == "vended" else "no_drop"]
    with harness.journal() as journal:
        assert journal.slot_states()["A1"].stock == stock


def test_the_machines_late_word_never_settles_a_sale_it_cannot_single_out(
        config: Config, machine: SimulatedMdbMachine) -> None:
    first = "5c0ffee0-2222-4a2b-8c3d-0e1f2a3b4c5d"
    second = "5c0ffee0-3333-4a2b-8c3d-0e1f2a3b4c5d"
    interrupted_vend(config, first)
    interrupted_vend(config, second)
    harness = Harness(config, driver=None)
    try:
        harness.wait_status(second, "vend_unknown", timeout_s=15)
        harness.wait_for(lambda: machine.host_lines().count("C,1") >= 1, timeout_s=15)
        machine.inject("c,VEND,SUCCESS")
        time.sleep(1.0)
        harness.runtime.pump()
    finally:
        harness.close()
    for tx_id in (first, second):   # which one dropped? only the operator can tell
        assert harness.transaction(tx_id)["status"] == "vend_unknown"
