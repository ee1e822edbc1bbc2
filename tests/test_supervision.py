"""Workers that cannot die quietly: an unexpected exception in a worker is logged, puts the kiosk
out of service with the reason, and heals by itself; a wedged worker stops the watchdog."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fakes import FakeTime
from hardware.simulated import SimulatedDriver
from harness import Harness, mixpay_config, pay
from kiosk.config import Config
from kiosk.flow import DonePressed, Screen
from kiosk.payments.base import Order, PaymentRequest, PaymentStatus
from kiosk.payments.mixpay import MixPayGateway
from kiosk.payments.sandbox import Sandbox
from kiosk.worker import STALE_AFTER_S, SupervisedLoop


class Flaky(SupervisedLoop):
    """Fails its first ``failures`` turns, then counts good ones."""

    def __init__(self, failures: int, clock: FakeTime | None = None) -> None:
        super().__init__("test worker", *(() if clock is None else (clock,)))
        self.failures = failures
        self.good = 0

    def turn(self) -> float:
        if self.failures:
            self.failures -= 1
            raise KeyError("slot")
        self.good += 1
        return 0.01


def wait_until(condition: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert condition(), "timed out"  # type: ignore[operator]


def test_a_failing_turn_is_reported_retried_and_cleared() -> None:
    worker = Flaky(failures=1)
    worker.start()
    try:
        wait_until(lambda: worker.fault == "test worker failing: KeyError: 'slot'")
        assert worker.alive()
        wait_until(lambda: worker.good > 0, timeout_s=5)   # after a 1 s back-off
        assert worker.fault == ""
    finally:
        worker.stop()
    assert not worker.alive()


def test_a_worker_that_stops_turning_is_not_alive() -> None:
    clock = FakeTime(1000.0)
    worker = Flaky(failures=0, clock=clock)
    worker.start()
    try:
        wait_until(lambda: worker.good > 0)
        assert worker.alive()
        gate = threading.Event()
        worker.turn = lambda: gate.wait() and 0.0  # type: ignore[method-assign]
        time.sleep(0.1)                         # now stuck inside a turn
        clock.now += STALE_AFTER_S + 1
        assert not worker.alive()
        gate.set()
    finally:
        worker.stop()


@pytest.fixture
def config(tmp_path: Path, sandbox: Sandbox) -> Config:
    return mixpay_config(tmp_path, sandbox)


def test_a_crashing_payment_watcher_takes_the_kiosk_out_of_service_until_it_heals(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = threading.Event()
    real_status = MixPayGateway.status

    def status(self: MixPayGateway, order: Order, request: PaymentRequest) -> PaymentStatus:
        if broken.is_set():
            raise KeyError("paymentAmount")   # a bug, not a gateway error
        return real_status(self, order, request)

    monkeypatch.setattr(MixPayGateway, "status", status)
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        order, request = harness.buy("A1")
        broken.set()
        pay(request.link)
        harness.wait_for(lambda: "payment watcher failing: KeyError" in harness.runtime.watcher
                         .fault)
        assert harness.runtime.alive()          # failing, but alive: it keeps trying
        broken.clear()                          # the cause goes away: the sale completes
        harness.wait_screen(Screen.THANK_YOU, timeout_s=20)
        harness.runtime.post(DonePressed())
        harness.wait_screen(Screen.ATTRACT, timeout_s=10)
        assert harness.runtime.watcher.fault == ""
    finally:
        harness.close()


def test_the_health_check_puts_a_failing_watcher_out_of_service(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        harness.wait_screen(Screen.ATTRACT)
        monkeypatch.setattr(type(harness.runtime.watcher), "fault",
                            property(lambda self: "payment watcher failing: KeyError: 'x'"))
        harness.runtime._next_health_check = 0.0   # now, not in 30 s
        harness.wait_screen(Screen.OUT_OF_SERVICE)
        assert harness.runtime.state.hardware_fault == "payment watcher failing: KeyError: 'x'"
        monkeypatch.undo()
        harness.wait_screen(Screen.ATTRACT, timeout_s=10)
    finally:
        harness.close()
