"""Keypad-first selling end to end: the real MDB driver over a pty against the simulated bridge
and machine, the real runtime and journal, the MixPay sandbox over loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from hardware.mdb_sim import SimulatedMdbMachine
from kiosk.claims import claim_code
from kiosk.config import load_config
from kiosk.flow import CancelPressed, ClaimReason, Order, Screen
from kiosk.journal import Journal
from kiosk.payments.base import PaymentRequest
from kiosk.payments.sandbox import Sandbox
from test_runtime import Harness, pay

CONFIG = """
[machine]
data_dir = "{data_dir}"

[payment]
timeout_s = 60
choose_asset = false
poll_interval_s = 0.2

[payment.mixpay]
payee_id = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"
settlement_asset_id = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
api_base = "{api_base}"
checkout_base = "{checkout_base}"

[vend]
driver = "mdb"

[vend.mdb]
port = "{port}"
patience_s = 60

[[slot]]
id = "A1"
name = "Water"
price = "2.50"
stock = 3
mdb_item = 11

[[slot]]
id = "A2"
name = "Cola"
price = "2.00"
stock = 3
"""


@pytest.fixture
def machine() -> Iterator[SimulatedMdbMachine]:
    with SimulatedMdbMachine({11: 250, 12: 200}) as simulation:
        yield simulation


@pytest.fixture
def harness(tmp_path: Path, machine: SimulatedMdbMachine) -> Iterator[Harness]:
    with Sandbox(confirm_s=0.2, requests_per_minute=10_000) as sandbox:
        path = tmp_path / "kiosk.toml"
        path.write_text(CONFIG.format(data_dir=tmp_path / "data", port=machine.port,
                                      api_base=sandbox.mixpay_api_base,
                                      checkout_base=sandbox.checkout_base))
        running = Harness(load_config(path), driver=None)
        yield running
        running.close()


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
    deadline = time.monotonic() + 5
    while "C,STOP" not in machine.host_lines() and time.monotonic() < deadline:
        harness.runtime.pump()
        time.sleep(0.05)
    assert "C,STOP" in machine.host_lines()
    assert not any(line.startswith("C,VEND,") for line in machine.host_lines())


CENTRAPAY_MDB = """
[machine]
currency = "NZD"
data_dir = "{data_dir}"

[payment]
gateway = "centrapay"
timeout_s = 60
poll_interval_s = 0.2

[payment.centrapay]
api_base = "{api_base}"
config_id = "sandbox-config"
api_key = "sandbox-key"

[vend]
driver = "mdb"

[vend.mdb]
port = "{port}"
selection_timeout_s = 5
dispense_timeout_s = 5

[[slot]]
id = "A1"
name = "Water"
price = "2.50"
stock = 3
mdb_item = 11
"""


def test_an_approved_vend_without_a_result_is_a_claim_never_an_automatic_refund(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The machine may still drop the item: the operator checks before any money goes back."""
    with SimulatedMdbMachine({11: 250}, faults={11: "no_answer"}) as machine, \
            Sandbox(confirm_s=0.2, requests_per_minute=10_000) as sandbox:
        path = tmp_path / "kiosk.toml"
        path.write_text(CENTRAPAY_MDB.format(data_dir=tmp_path / "data", port=machine.port,
                                             api_base=sandbox.base("centrapay")))
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


def interrupted_vend(config_path: Path, tx_id: str) -> None:
    """A paid MDB vend approved just before the kiosk died: journalled up to vend_dispensing."""
    config = load_config(config_path)
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
        tmp_path: Path, machine: SimulatedMdbMachine, line: str, status: str,
        stock: int) -> None:
    with Sandbox(confirm_s=0.2, requests_per_minute=10_000) as sandbox:
        path = tmp_path / "kiosk.toml"
        path.write_text(CONFIG.format(data_dir=tmp_path / "data", port=machine.port,
                                      api_base=sandbox.mixpay_api_base,
                                      checkout_base=sandbox.checkout_base))
        tx_id = "5c0ffee0-1111-4a2b-8c3d-0e1f2a3b4c5d"
        interrupted_vend(path, tx_id)
        harness = Harness(load_config(path), driver=None)
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
        tmp_path: Path, machine: SimulatedMdbMachine) -> None:
    with Sandbox(confirm_s=0.2, requests_per_minute=10_000) as sandbox:
        path = tmp_path / "kiosk.toml"
        path.write_text(CONFIG.format(data_dir=tmp_path / "data", port=machine.port,
                                      api_base=sandbox.mixpay_api_base,
                                      checkout_base=sandbox.checkout_base))
        first = "5c0ffee0-2222-4a2b-8c3d-0e1f2a3b4c5d"
        second = "5c0ffee0-3333-4a2b-8c3d-0e1f2a3b4c5d"
        interrupted_vend(path, first)
        interrupted_vend(path, second)
        harness = Harness(load_config(path), driver=None)
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
