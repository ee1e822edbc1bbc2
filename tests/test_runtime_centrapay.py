"""The runtime with a gateway that can void and refund (Centrapay), against its simulator over
loopback HTTP: automatic refunds, voids on cancel, and a void when the status goes unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.sim.driver import SimulatedDriver
from fakes import centrapay_table, simulated_machine, write_kiosk_toml
from kiosk.config import Config, load_config
from kiosk.flow import CancelPressed, Screen
from kiosk.journal import Journal
from kiosk.errors import GatewayRejected
from kiosk.payments.base import RefundResult
from kiosk.payments.centrapay import CentrapayGateway
from kiosk.sim import Fault, Sandbox
from harness import Harness, kinds, pay, simulated_driver, wait_until


@pytest.fixture
def config(tmp_path: Path, sandbox: Sandbox) -> Config:
    """A Centrapay kiosk (NZD) on the simulated machine, A2 failing without jamming;
    ``harness`` (tests/conftest.py) checks the money after each test."""
    payment = {"gateway": "centrapay", "timeout_s": 60, "poll_interval_s": 0.2,
               "centrapay": centrapay_table(sandbox.url)}
    return load_config(write_kiosk_toml(tmp_path, machine={"id": "test-02", "currency": "NZD"},
                                        payment=payment, **simulated_machine("no_drop")))


def simulated(sandbox: Sandbox, request_id: str):  # type: ignore[no-untyped-def]
    return sandbox.simulators["centrapay"].snapshot(request_id)  # type: ignore[attr-defined]


def test_a_failed_vend_is_refunded_in_full_and_shows_the_short_code(
        harness: Harness, sandbox: Sandbox, config: Config) -> None:
    settings = harness.runtime.flow.settings
    assert settings.auto_refund and not settings.choose_asset  # the app picks the asset
    order, request = harness.buy("A2")
    pay(request.link)
    harness.wait_screen(Screen.VEND_FAILED)
    sale = harness.runtime.state.sale
    assert sale is not None and sale.claim_code == request.reference  # Centrapay's shortCode
    harness.wait_for(lambda: simulated(sandbox, request.payment_id).refunds != ())
    [refund] = simulated(sandbox, request.payment_id).refunds
    assert refund.amount == 200 and refund.external_ref == f"refund-{order.tx_id}"
    harness.runtime.settle(5, watches=False)
    with Journal.open_in(config.machine.data_dir) as journal:
        tx = journal.transaction(order.tx_id)
    assert tx["status"] == "refunded"
    assert kinds(tx)[-2:] == ["refund_requested", "refund_done"]


def test_cancel_voids_the_payment_request(harness: Harness, sandbox: Sandbox) -> None:
    order, request = harness.buy("A1")
    harness.runtime.post(CancelPressed())
    harness.wait_screen(Screen.CANCELLED)
    harness.wait_for(lambda: simulated(sandbox, request.payment_id).status == "cancelled")
    assert simulated(sandbox, request.payment_id).cancellation_reason == "CANCELLED_BY_MERCHANT"
    assert harness.driver.vended == []


def test_an_unknown_status_voids_the_request_and_ends_the_sale(harness: Harness,
                                                               sandbox: Sandbox) -> None:
    order, request = harness.buy("A1")
    path = f"/api/payment-requests/{request.payment_id}"
    sandbox.inject("centrapay", Fault("http_503", path=path, method="GET"), count=1000)
    harness.wait_screen(Screen.PAYMENT_FAILED)
    sale = harness.runtime.state.sale
    assert sale is not None and "unknown" in sale.message
    harness.wait_for(lambda: simulated(sandbox, request.payment_id).status == "cancelled")
    assert harness.driver.vended == []


def test_a_refund_that_fails_on_three_restarts_is_refunded_once_on_the_fourth(
        config: Config, sandbox: Sandbox) -> None:
    """The refund queue lives in the journal: every start tries again, with one reference."""
    sandbox.inject("centrapay", Fault("http_503", path="/refund"), count=3)
    harness = Harness(config, simulated_driver(config))
    order, request = harness.buy("A2")
    pay(request.link)
    harness.wait_screen(Screen.VEND_FAILED)
    for restart in (1, 2, 3):
        harness.wait_for(lambda tries=restart: queued_attempts(config) == tries)
        harness.close()   # power cut before the next try
        harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        harness.wait_for(lambda: simulated(sandbox, request.payment_id).refunds != ())
        harness.runtime.settle(5, watches=True)
    finally:
        harness.close()
    [refund] = simulated(sandbox, request.payment_id).refunds
    assert refund.external_ref == f"refund-{order.tx_id}" and refund.amount == 200
    with Journal.open_in(config.machine.data_dir) as journal:
        tx = journal.transaction(order.tx_id)
        assert journal.pending_refunds() == []
    assert tx["status"] == "refunded"
    assert kinds(tx).count("refund_requested") == 1 and kinds(tx).count("refund_done") == 1
    references = {e["detail"]["reference"] for e in tx["events"]
                  if e["kind"] in ("refund_requested", "refund_done")}
    assert references == {f"refund-{order.tx_id}"}


def test_a_refund_the_gateway_refuses_becomes_an_operator_claim(
        harness: Harness, sandbox: Sandbox, config: Config,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> RefundResult:
        raise GatewayRejected("centrapay POST /refund: rejected", code="REFUND_WINDOW_CLOSED")

    monkeypatch.setattr(CentrapayGateway, "refund", refuse)
    order, request = harness.buy("A2")
    pay(request.link)
    harness.wait_screen(Screen.VEND_FAILED)
    harness.wait_for(lambda: "refund refused" in last_event(config, order.tx_id))
    with Journal.open_in(config.machine.data_dir) as journal:
        tx = journal.transaction(order.tx_id)
        assert journal.pending_refunds() == []
    assert tx["status"] == "refund_due" and tx["claim_code"] == request.reference
    assert simulated(sandbox, request.payment_id).refunds == ()


def queued_attempts(config: Config) -> int:
    with Journal.open_in(config.machine.data_dir) as journal:
        pending = journal.pending_refunds()
    return pending[0].attempts if pending else 0


def last_event(config: Config, tx_id: str) -> str:
    with Journal.open_in(config.machine.data_dir) as journal:
        return str(journal.transaction(tx_id)["events"][-1]["detail"])


def test_a_paid_vend_stopped_before_the_machine_was_told_is_refunded_after_the_restart(
        config: Config, sandbox: Sandbox) -> None:
    """A crash after vend_started but before vend_dispensing: certainly nothing dropped."""
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    order, request = harness.buy("A1")
    harness.close()                      # the power goes before the customer's payment is seen
    pay(request.link)
    wait_until(lambda: simulated(sandbox, request.payment_id).status == "paid",   # confirmed there
               5, poll_s=0.05)
    with Journal.open_in(config.machine.data_dir) as journal:
        assert journal.paid_verified(order.tx_id, {})
        assert journal.start_vend(order.tx_id)     # ...and again just as the vend began
    restarted = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        restarted.wait_for(lambda: simulated(sandbox, request.payment_id).refunds != ())
        restarted.runtime.settle(5, watches=True)
        tx = restarted.wait_status(order.tx_id, "refunded")
    finally:
        restarted.close()
    assert restarted.driver is not None and restarted.driver.vended == []
    [refund] = simulated(sandbox, request.payment_id).refunds
    assert refund.external_ref == f"refund-{order.tx_id}"
    assert {"action": "not_dispensed"} in [e["detail"] for e in tx["events"]
                                           if e["kind"] == "recovered"]
