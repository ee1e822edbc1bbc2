"""Workers that cannot die quietly: an unexpected exception in a worker is logged, puts the kiosk
out of service with the reason, and heals by itself; a wedged worker stops the watchdog."""

from __future__ import annotations

import threading
import time

import pytest

from fakes import FakeTime
from hardware.sim.driver import SimulatedDriver
from harness import Harness, mixpay_status_fails, pay, wait_until
from kiosk.config import Config
from kiosk.flow import CreatePayment, DonePressed, Screen
from kiosk import worker as worker_module
from kiosk.claims import claim_code
from kiosk.errors import JournalError
from kiosk.journal import Journal
from kiosk.runtime.payments import PaymentEffects
from kiosk.worker import STALE_AFTER_S, EffectWorker, SupervisedLoop


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


def test_a_crashing_payment_watcher_takes_the_kiosk_out_of_service_until_it_heals(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    # a bug, not a gateway error
    broken = mixpay_status_fails(monkeypatch, lambda: KeyError("paymentAmount"))
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
        harness.runtime.health.check_now()   # now, not in 30 s
        harness.wait_screen(Screen.OUT_OF_SERVICE)
        assert harness.runtime.state.hardware_fault == "payment watcher failing: KeyError: 'x'"
        monkeypatch.undo()
        harness.wait_screen(Screen.ATTRACT, timeout_s=10)
    finally:
        harness.close()


# ---------------------------------------------------------------- the runtime's effect workers


def test_an_effect_task_failure_is_reported_handed_over_and_heals() -> None:
    clock = FakeTime(1000.0)
    worker = EffectWorker("sale", stale_after_s=60.0, clock=clock)
    failures: list[Exception] = []
    done = threading.Event()

    def broken() -> None:
        raise KeyError("slot")

    try:
        worker.submit(broken, on_failure=failures.append, done=done.set)
        assert done.wait(5)
        assert [type(f) for f in failures] == [KeyError]
        assert worker.fault == "sale worker failing: KeyError: 'slot'"
        clock.now += worker_module.EFFECT_BACKOFF_MIN_S    # the back-off is over: in service
        assert worker.fault == ""
        done.clear()
        worker.submit(lambda: (_ for _ in ()).throw(JournalError("database or disk is full")),
                      done=done.set)
        assert done.wait(5)
        assert worker.fault == "database or disk is full"   # a known fault, said as it is
        clock.now += worker_module.EFFECT_BACKOFF_MIN_S
        assert worker.fault            # failing again: the back-off doubled
        clock.now += worker_module.EFFECT_BACKOFF_MIN_S
        assert worker.fault == ""
    finally:
        worker.shutdown()


def test_an_effect_task_that_never_returns_stops_the_watchdog() -> None:
    clock = FakeTime(1000.0)
    worker = EffectWorker("sale", stale_after_s=60.0, clock=clock)
    release, started = threading.Event(), threading.Event()
    worker.submit(lambda: (started.set(), release.wait(10)) and None)
    try:
        assert started.wait(5) and worker.alive()
        clock.now += 61
        assert not worker.alive()
    finally:
        release.set()
        worker.shutdown()
    assert worker.alive()


def test_a_bug_creating_the_payment_ends_the_sale_at_once_and_heals(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "EFFECT_BACKOFF_MIN_S", 0.5)

    def create_payment(self: PaymentEffects, effect: CreatePayment) -> None:
        raise KeyError("payee")

    monkeypatch.setattr(PaymentEffects, "create_payment", create_payment)
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        harness.wait_screen(Screen.ATTRACT)
        harness.choose("A1")
        # Not the 45 s create backstop: the failure reaches the sale at once.
        harness.wait_screen(Screen.PAYMENT_FAILED, timeout_s=5)
        harness.wait_for(lambda: harness.runtime.state.hardware_fault
                         == "sale worker failing: KeyError: 'payee'")
        monkeypatch.undo()
        harness.runtime.post(DonePressed())
        harness.wait_screen(Screen.ATTRACT, timeout_s=10)
    finally:
        harness.close()


def test_a_bug_after_the_vend_started_is_an_unknown_result_with_a_claim(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Journal.vend_result
    calls: list[str] = []

    def vend_result(self: Journal, tx_id: str, *args: object, **kwargs: object) -> None:
        calls.append(tx_id)
        if len(calls) == 1:
            raise RuntimeError("injected")     # a bug, not a JournalError
        real(self, tx_id, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Journal, "vend_result", vend_result)
    harness = Harness(config, SimulatedDriver(turn_time_s=0))
    try:
        order, request = harness.buy("A1")
        pay(request.link)
        harness.wait_screen(Screen.VEND_FAILED)
        assert harness.runtime.state.sale is not None
        assert harness.runtime.state.sale.claim_code == claim_code(order.tx_id)
        tx = harness.wait_status(order.tx_id, "vend_unknown")
        assert tx["claim_code"] == claim_code(order.tx_id)
        assert [e["kind"] for e in tx["events"]].count("vend_started") == 1
    finally:
        harness.close()
