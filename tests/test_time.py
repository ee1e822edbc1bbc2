"""Time on a Pi without a real-time clock: no money before the clock is synchronised, and a
wall clock stepped mid-sale moves no deadline (the runtime's ``now`` is monotonic)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness import Harness, kinds, mixpay_config, pay, simulated_driver
from kiosk.flow import Screen
from kiosk.sim import Sandbox
from kiosk.time_sync import WAITING, clock_fault, kernel_time_synced


class SteppedWall:
    """The wall clock, stepped by ``offset_s`` (what NTP does to a Pi that booted stale)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


def test_no_money_is_taken_before_the_clock_is_synchronised(
        tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool | None] = [False]
    monkeypatch.setattr("kiosk.assembly.kernel_time_synced", lambda: synced[0])
    config = mixpay_config(tmp_path, sandbox)
    harness = Harness(config, simulated_driver(config))
    try:
        harness.wait_for(lambda: harness.runtime.state.hardware_fault == (
            f"{WAITING}: not yet synchronised with network time (NTP)"))
        assert harness.runtime.state.screen is Screen.OUT_OF_SERVICE
        synced[0] = True                          # NTP set the clock
        harness.wait_screen(Screen.ATTRACT)
        synced[0] = False                         # trusted once is trusted for good
        order, request = harness.buy("A1")
        pay(request.link)
        tx = harness.wait_status(order.tx_id, "vended")
        assert kinds(tx).count("vend_result") == 1
    finally:
        harness.close()


def test_a_machine_offline_by_design_does_not_wait(
        tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    def never_asked() -> bool:
        raise AssertionError("the kernel was asked although the operator turned the wait off")

    monkeypatch.setattr("kiosk.assembly.kernel_time_synced", never_asked)
    config = mixpay_config(tmp_path, sandbox, machine={"wait_for_time_sync": False})
    harness = Harness(config, simulated_driver(config))
    try:
        harness.wait_screen(Screen.ATTRACT)
    finally:
        harness.close()


@pytest.mark.parametrize("step_s", [86_400.0, -86_400.0], ids=["a day ahead", "a day back"])
def test_a_sale_completes_across_a_wall_clock_step(tmp_path: Path, sandbox: Sandbox,
                                                   step_s: float) -> None:
    wall = SteppedWall()
    config = mixpay_config(tmp_path, sandbox)
    harness = Harness(config, simulated_driver(config),
                      wall_clock=wall)
    try:
        order, request = harness.buy("A1")
        before = harness.runtime.state.wall_offset_s
        wall.offset_s = step_s
        harness.wait_for(lambda: abs(harness.runtime.state.wall_offset_s - before - step_s) < 1)
        # A day forward would have closed the payment window at once; a day back, kept it open
        # a day. Neither: the QR stays up, the payment is taken, the item is vended.
        assert harness.runtime.state.screen is Screen.AWAITING_PAYMENT
        pay(request.link)
        tx = harness.wait_status(order.tx_id, "vended")
        assert kinds(tx).count("vend_result") == 1
        with harness.journal() as journal:   # the gateway's date, as given
            assert journal.sale(order.tx_id)[0].expires_at == order.expires_at
        harness.wait_screen(Screen.THANK_YOU)
    finally:
        harness.close()


def test_the_out_of_service_reason_says_what_to_do() -> None:
    assert clock_fault(True) == ""
    assert clock_fault(False).startswith(WAITING)
    assert "wait_for_time_sync = false" in clock_fault(None)


def test_the_kernel_is_asked_without_changing_the_clock() -> None:
    before = time.time()
    assert kernel_time_synced() in (True, False, None)
    assert abs(time.time() - before) < 5   # read-only: the clock was not set by the call
