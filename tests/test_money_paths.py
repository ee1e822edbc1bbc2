"""Every payment that reached the gateway ends vended, refunded or with a claim the operator
sees in ``kiosk journal --claims``, and the screen says what is true: each path through the
real runtime, the production MixPay client, the sandbox over loopback HTTP and the journal on
disk."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from harness import Harness, kinds, mixpay_config, mixpay_status_fails, pay

from hardware.sim.driver import SimulatedDriver
from kiosk import cli
from kiosk.claims import claim_code
from kiosk.config import Config
from kiosk.errors import GatewayUnavailable
from kiosk.flow import (
    CancelPressed,
    ClaimReason,
    DonePressed,
    ItemChosen,
    Screen,
    StartTapped,
)
from kiosk.payments.base import PaymentRequest
from kiosk.payments.mixpay import MixPayGateway
from kiosk.sim import Fault, Sandbox
from money import assert_money_truth

SHORT_WINDOW_S = 15   # the shortest payment window the config allows


@pytest.fixture
def config(tmp_path: Path, sandbox: Sandbox) -> Config:
    """A2 fails without jamming; ``harness`` (tests/conftest.py) checks the money after each
    test: whatever the path, every payment the sandbox received is vended, refunded or
    claimed."""
    return mixpay_config(tmp_path, sandbox, a2_fault="no_drop")


def open_claims(config: Config, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """``kiosk journal --claims --json`` as the operator runs it: transaction id -> code."""
    capsys.readouterr()
    assert cli.main(["journal", "--data-dir", str(config.machine.data_dir), "--claims",
                     "--json"]) == 0
    return {tx["id"]: tx["claim_code"] for tx in json.loads(capsys.readouterr().out)}


def pay_half(request: PaymentRequest) -> None:
    httpx.post(f"{request.link}/pay", data={"part": "half"}, timeout=5).raise_for_status()


def shown_claim(harness: Harness) -> tuple[str, ClaimReason | None]:
    sale = harness.runtime.state.sale
    assert sale is not None
    return sale.claim_code, sale.claim_reason


# ---------------------------------------------------------------- part paid


def test_part_paid_then_cancel_is_an_open_claim_with_the_code_shown(
        harness: Harness, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    order, request = harness.buy("A1")
    pay_half(request)
    harness.wait_screen(Screen.UNDERPAID)
    harness.runtime.post(CancelPressed())
    harness.wait_screen(Screen.CANCELLED)
    code = claim_code(order.tx_id)
    assert shown_claim(harness) == (code, ClaimReason.PART_PAID)
    tx = harness.wait_status(order.tx_id, "refund_due")
    assert tx["claim_code"] == code
    assert kinds(tx)[-2:] == ["cancelled", "refund_requested"]
    assert open_claims(config, capsys) == {order.tx_id: code}
    harness.close()

    restarted = Harness(config, SimulatedDriver(turn_time_s=0))  # and after a restart
    try:
        restarted.wait_screen(Screen.ATTRACT)
        assert open_claims(config, capsys) == {order.tx_id: code}
    finally:
        restarted.close()


def test_part_paid_when_the_window_runs_out_is_an_open_claim(
        tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    config = mixpay_config(tmp_path, sandbox, timeout_s=SHORT_WINDOW_S)
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        order, request = harness.buy("A1")
        pay_half(request)
        harness.wait_screen(Screen.UNDERPAID)
        harness.wait_screen(Screen.EXPIRED, timeout_s=SHORT_WINDOW_S + 5)
        assert shown_claim(harness) == (claim_code(order.tx_id), ClaimReason.PART_PAID)
        tx = harness.wait_status(order.tx_id, "refund_due")
        assert "expired" in kinds(tx)
        assert open_claims(config, capsys) == {order.tx_id: claim_code(order.tx_id)}
    finally:
        harness.close()
    assert_money_truth(config.machine.data_dir, sandbox, "mixpay")


# ---------------------------------------------------------------- cancelled, then paid


def test_cancel_never_says_not_charged_and_a_late_payment_settles_by_that_code(
        harness: Harness, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    order, request = harness.buy("A1")
    harness.runtime.post(CancelPressed())
    harness.wait_screen(Screen.CANCELLED)
    code = claim_code(order.tx_id)
    # MixPay cannot cancel a payment link: the customer keeps a reference, not a promise.
    assert shown_claim(harness) == (code, ClaimReason.MAYBE_PAID)
    tx = harness.wait_status(order.tx_id, "cancelled")
    assert tx["claim_code"] == code and open_claims(config, capsys) == {}

    pay(request.link)  # the wallet had already sent it
    tx = harness.wait_status(order.tx_id, "paid_late")
    assert tx["claim_code"] == code
    assert open_claims(config, capsys) == {order.tx_id: code}
    assert harness.driver is not None and harness.driver.vended == []


# ---------------------------------------------------------------- status checks failing


def test_paid_while_status_checks_fail_gets_a_code_and_is_found_once_they_answer(
        tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    outage = mixpay_status_fails(
        monkeypatch, lambda: GatewayUnavailable("mixpay GET /payments_result: connect error"))
    config = mixpay_config(tmp_path, sandbox, timeout_s=SHORT_WINDOW_S)
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        order, request = harness.buy("A1")
        outage.set()
        pay(request.link)
        harness.wait_screen(Screen.EXPIRED, timeout_s=SHORT_WINDOW_S + 5)
        code = claim_code(order.tx_id)
        assert shown_claim(harness) == (code, ClaimReason.MAYBE_PAID)
        harness.wait_status(order.tx_id, "expired")
        outage.clear()  # the gateway answers again: the watch finds the money
        tx = harness.wait_status(order.tx_id, "paid_late", timeout_s=45)
        assert tx["claim_code"] == code
        assert open_claims(config, capsys) == {order.tx_id: code}
        assert harness.driver is not None and harness.driver.vended == []
    finally:
        harness.close()
    assert_money_truth(config.machine.data_dir, sandbox, "mixpay")


# ---------------------------------------------------------------- gateway down


def test_gateway_down_is_out_of_service_until_it_answers_again(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    outage = threading.Event()
    real_send = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: object) -> httpx.Response:
        if outage.is_set():
            raise httpx.ConnectError("connection refused", request=request)
        return real_send(self, request, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx.Client, "send", send)
    harness.wait_screen(Screen.ATTRACT)
    outage.set()
    # The next customer is the first to notice: the kiosk probes the gateway before a coin is
    # chosen, and stops asking for money instead of offering the same failure again.
    harness.runtime.post(StartTapped())
    harness.runtime.post(ItemChosen("A1"))
    harness.wait_screen(Screen.OUT_OF_SERVICE)
    assert harness.runtime.state.hardware_fault.startswith("payments unavailable: ")
    harness.runtime.post(StartTapped())
    time.sleep(0.5)
    harness.runtime.pump()
    assert harness.runtime.state.screen is Screen.OUT_OF_SERVICE
    outage.clear()
    harness.wait_screen(Screen.ATTRACT, timeout_s=30)  # re-probed with back-off: back by itself
    _, request = harness.buy("A1")
    pay(request.link)
    harness.wait_screen(Screen.THANK_YOU)


def test_a_failed_create_is_watched_only_until_the_gateways_expiry(
        tmp_path: Path, sandbox: Sandbox) -> None:
    config = mixpay_config(tmp_path, sandbox, timeout_s=SHORT_WINDOW_S)
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        harness.wait_screen(Screen.ATTRACT)
        sandbox.inject("mixpay", Fault("http_503", path="one_time_payment"), count=1)
        harness.choose("A1", wallet=True)
        harness.wait_screen(Screen.PAYMENT_FAILED)
        assert harness.runtime.watcher.pending() == 1   # the reply may have been lost
        # The payment was never created: every poll is "not found" until its expiry passes.
        harness.wait_for(lambda: harness.runtime.watcher.pending() == 0,
                         timeout_s=SHORT_WINDOW_S + 45)
    finally:
        harness.close()


# ---------------------------------------------------------------- a slot that keeps failing


def test_a_slot_that_fails_twice_in_a_row_goes_off_sale(harness: Harness, config: Config) -> None:
    for attempt in (1, 2):
        _, request = harness.buy("A2")   # no_drop: a failure that does not disable alone
        pay(request.link)
        harness.wait_screen(Screen.VEND_FAILED)
        assert shown_claim(harness)[1] is ClaimReason.VEND_FAILED
        if attempt == 1:
            time.sleep(0.3)
            harness.runtime.pump()
            assert "A2" not in harness.runtime.state.disabled
            harness.runtime.post(DonePressed())
    harness.wait_for(lambda: "A2" in harness.runtime.state.disabled)
    with harness.journal() as journal:
        assert journal.slot_states()["A2"].disabled_reason == "2 failed vends in a row"
        journal.set_slot("A2", enabled=True)     # the operator re-enables it: a clean slate
        assert not journal.slot_states()["A2"].disabled


# ---------------------------------------------------------------- a spoofed success


def test_a_paid_status_that_fails_verification_is_a_claim_never_a_vend(
        harness: Harness, config: Config, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The gateway says "success" for another payee: money may have gone somewhere.
    monkeypatch.setattr(MixPayGateway, "_verification_problem",
                        lambda self, data, order: "payeeId mismatch")
    order, request = harness.buy("A1")
    pay(request.link)
    harness.wait_screen(Screen.PAYMENT_FAILED)
    code = claim_code(order.tx_id)
    assert shown_claim(harness) == (code, ClaimReason.UNVERIFIED)
    tx = harness.wait_status(order.tx_id, "refund_due")
    assert "paid_verified" not in kinds(tx) and "vend_started" not in kinds(tx)
    assert open_claims(config, capsys) == {order.tx_id: code}
    assert harness.driver is not None and harness.driver.vended == []
