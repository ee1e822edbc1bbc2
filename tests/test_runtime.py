"""The runtime end to end without pygame: real sandbox over loopback HTTP, real journal on disk,
the production MixPay client, the simulated machine."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from hardware.base import DriverHealth
from hardware.sim.driver import SimulatedDriver
from harness import Harness, kinds, pay
from kiosk.assembly import build_gateway
from kiosk.claims import claim_code
from kiosk.config import Config
from kiosk.flow import CancelPressed, ClaimReason, DonePressed, Order, Screen
from kiosk.errors import JournalError
from kiosk.journal import Journal
from kiosk.payments.base import PaymentRequest
from kiosk.sim import Sandbox

# ``config`` and ``harness`` (the money checked after each test): tests/conftest.py


def test_a_paid_sale_is_journalled_before_each_step_and_vends_once(harness: Harness,
                                                                   config: Config) -> None:
    order, request = harness.buy("A1")
    assert request.link.startswith(config.payment.mixpay.checkout_base + "/code/")
    pay(request.link)
    harness.wait_screen(Screen.THANK_YOU)
    assert harness.driver.vended == ["A1"]
    assert harness.lines[0]["outcome"] == "vended" and harness.lines[0]["amount"] == "2.50"
    harness.close()
    with Journal.open_in(config.machine.data_dir) as journal:
        tx = journal.transaction(order.tx_id)
        stock = journal.slot_states()["A1"].stock
    events = kinds(tx)
    assert tx["status"] == "vended" and stock == 2
    assert events.index("payment_created") < events.index("paid_verified") \
        < events.index("vend_started") < events.index("vend_result")
    assert events.count("vend_started") == 1


def test_a_jam_gives_a_claim_code_and_disables_the_slot(harness: Harness,
                                                        config: Config) -> None:
    order, request = harness.buy("A2")
    pay(request.link)
    harness.wait_screen(Screen.VEND_FAILED)
    sale = harness.runtime.state.sale
    assert sale is not None and sale.claim_code == claim_code(order.tx_id)
    harness.wait_for(lambda: "A2" in harness.runtime.state.disabled)
    harness.close()
    with Journal.open_in(config.machine.data_dir) as journal:
        tx = journal.transaction(order.tx_id)
        assert journal.slot_states()["A2"].disabled
    assert tx["claim_code"] == sale.claim_code
    assert "refund_requested" in kinds(tx) and tx["status"] == "refund_due"


def test_money_after_cancel_is_journalled_as_paid_late_never_vended(harness: Harness,
                                                                     config: Config) -> None:
    order, request = harness.buy("A1")
    harness.runtime.post(CancelPressed())
    harness.wait_screen(Screen.CANCELLED)
    pay(request.link)  # the customer paid anyway: MixPay cannot cancel a payment link

    def journalled_late() -> bool:
        with Journal.open_in(config.machine.data_dir) as journal:
            return journal.transaction(order.tx_id)["status"] == "paid_late"

    harness.wait_for(journalled_late)
    assert harness.driver.vended == []
    assert harness.lines[0]["outcome"] == "cancelled"


def test_the_kiosk_refuses_to_take_money_when_the_machine_is_not_ready(config: Config) -> None:
    driver = SimulatedDriver(turn_time_s=0)
    driver.set_health(DriverHealth(ready=False, reason="door open"))
    harness = Harness(config, driver)
    try:
        harness.wait_screen(Screen.OUT_OF_SERVICE)
        time.sleep(0.3)
        harness.runtime.pump()
        assert harness.runtime.state.screen is Screen.OUT_OF_SERVICE
        assert harness.runtime.state.hardware_fault == "door open"
    finally:
        harness.close()


def test_a_payment_made_while_the_kiosk_was_off_is_found_at_start(config: Config,
                                                                   sandbox: Sandbox) -> None:
    gateway = build_gateway(config)
    order = Order("5b0c51c6-94d3-4c51-9b8e-3f0f0d1f7a11", "A1", "Water",
                  config.slot("A1").price, "USD", None, int(time.time()) + 60)
    with Journal.open_in(config.machine.data_dir) as journal:
        journal.begin(order, "mixpay")
        request = gateway.create(order)
        journal.payment_created(order.tx_id, request)
    gateway.close()
    pay(request.link)  # ...and then the power went out before the kiosk saw it

    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        def late() -> bool:
            with Journal.open_in(config.machine.data_dir) as journal:
                return journal.transaction(order.tx_id)["status"] == "paid_late"
        harness.wait_for(late)
        assert harness.driver.vended == []
    finally:
        harness.close()
    with Journal.open_in(config.machine.data_dir) as journal:
        events = kinds(journal.transaction(order.tx_id))
    assert "recovered" in events and "paid_late" in events and "vend_started" not in events


def test_a_vend_cut_short_by_a_crash_is_never_repeated(config: Config) -> None:
    order = Order("0e3c3d7e-3b4c-4c7f-8a77-0f2d6f5b9c21", "A1", "Water",
                  config.slot("A1").price, "USD", None, int(time.time()) + 60)
    with Journal.open_in(config.machine.data_dir) as journal:
        journal.begin(order, "mixpay")
        journal.payment_created(order.tx_id, PaymentRequest(order.tx_id, "x", order.expires_at))
        journal.paid_verified(order.tx_id, {})
        assert journal.start_vend(order.tx_id)
        journal.dispensing(order.tx_id)   # the machine was told: it may have dropped it
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        # Minutes ago: the customer may still be there, so their claim comes first.
        harness.wait_screen(Screen.VEND_FAILED)
        sale = harness.runtime.state.sale
        assert sale is not None and sale.tx_id == order.tx_id
        assert (sale.claim_code, sale.claim_reason) == (claim_code(order.tx_id),
                                                        ClaimReason.VEND_UNKNOWN)
        harness.runtime.post(DonePressed())
        harness.wait_screen(Screen.ATTRACT)
    finally:
        harness.close()
    with Journal.open_in(config.machine.data_dir) as journal:
        tx = journal.transaction(order.tx_id)
        assert not journal.start_vend(order.tx_id)
    assert tx["status"] == "vend_unknown" and harness.driver.vended == []
    assert tx["claim_code"] == claim_code(order.tx_id)


def test_a_sale_interrupted_long_ago_does_not_take_the_screen(config: Config) -> None:
    order = Order("7d1c0f5e-0b3a-4f7c-9a51-2c4e6d8f0a13", "A1", "Water",
                  config.slot("A1").price, "USD", None, int(time.time()) + 60)
    config.machine.data_dir.mkdir(parents=True)

    def two_hours_ago() -> datetime:
        return datetime.now(timezone.utc) - timedelta(hours=2)

    with Journal(config.machine.data_dir / "journal.db", now=two_hours_ago) as journal:
        journal.begin(order, "mixpay")
        journal.payment_created(order.tx_id, PaymentRequest(order.tx_id, "x", order.expires_at))
        journal.paid_verified(order.tx_id, {})
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        harness.wait_screen(Screen.ATTRACT)
    finally:
        harness.close()
    with Journal.open_in(config.machine.data_dir) as journal:
        assert journal.transaction(order.tx_id)["status"] == "refund_due"


def test_an_unreadable_journal_stops_the_kiosk_before_it_sells(config: Config) -> None:
    data_dir = config.machine.data_dir
    data_dir.mkdir(parents=True)
    (data_dir / "journal.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError):
        Harness(config, SimulatedDriver(turn_time_s=0))


def test_a_failed_recovery_keeps_the_kiosk_out_of_service(config: Config,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Journal) -> None:
        raise JournalError("disk I/O error")

    monkeypatch.setattr(Journal, "recover", broken)
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        harness.wait_for(lambda: "start-up failed" in harness.runtime.state.hardware_fault)
        assert harness.runtime.state.screen is Screen.OUT_OF_SERVICE
        assert "disk I/O error" in harness.runtime.state.hardware_fault
    finally:
        harness.close()


def test_a_rejected_operator_file_keeps_the_kiosk_out_of_service_with_the_reason(
        config: Config) -> None:
    from kiosk.firstboot import ERRORS_FILE_NAME

    config.machine.data_dir.mkdir(parents=True)
    (config.machine.data_dir / ERRORS_FILE_NAME).write_text(
        "operator file rejected (1 error(s)):\n/boot/firmware/vending-kiosk.toml: [slot[0]] "
        "price: not a number\n")
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        harness.wait_for(lambda: "rejected" in harness.runtime.state.hardware_fault)
        time.sleep(2.5)  # a health re-check must not clear it
        harness.runtime.pump()
        assert harness.runtime.state.screen is Screen.OUT_OF_SERVICE
        assert "price" in harness.runtime.state.hardware_fault
    finally:
        harness.close()
