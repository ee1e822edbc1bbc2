"""The simulated dispenser's fault knobs, and the VendDriver contract it shares with real ones."""

from __future__ import annotations

import threading

import pytest

from hardware.base import DriverHealth, VendOutcome, VendRequest
from hardware.sim.driver import SimulatedDriver


def request(slot: str) -> VendRequest:
    return VendRequest(slot_id=slot, price_minor=250)


def test_vends_and_records_the_slot() -> None:
    driver = SimulatedDriver(turn_time_s=0)
    result = driver.vend(request("A1"))
    assert result.vended and not result.disables_slot
    assert driver.vended == ["A1"]


@pytest.mark.parametrize(("fault", "outcome", "disables"), [
    ("jam", VendOutcome.JAM, True),
    ("motor_fault", VendOutcome.MOTOR_FAULT, True),
    ("no_drop", VendOutcome.NO_DROP, False),
])
def test_faults_fail_only_their_slot(fault: str, outcome: VendOutcome, disables: bool) -> None:
    driver = SimulatedDriver({"A2": fault}, turn_time_s=0)
    result = driver.vend(request("A2"))
    assert result.outcome is outcome and result.disables_slot is disables
    assert driver.vend(request("A1")).vended
    assert driver.vended == ["A1"]


def test_slow_vends_after_three_turn_times() -> None:
    slept: list[float] = []
    driver = SimulatedDriver({"A1": "slow"}, turn_time_s=0.5, sleep=slept.append)
    assert driver.vend(request("A1")).vended
    assert driver.vend(request("A2")).vended
    assert slept == [1.5, 0.5]


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="melt"):
        SimulatedDriver({"A1": "melt"})


def test_offline_machine_denies_without_moving() -> None:
    driver = SimulatedDriver(turn_time_s=0)
    driver.set_health(DriverHealth(ready=False, reason="door open"))
    assert driver.health() == DriverHealth(False, "door open")
    result = driver.vend(request("A1"))
    assert result.outcome is VendOutcome.DENIED and "door open" in result.detail
    assert driver.vended == []


def test_one_vend_at_a_time() -> None:
    running = 0
    overlap = []
    lock = threading.Lock()

    def turn(seconds: float) -> None:
        nonlocal running
        with lock:
            running += 1
            overlap.append(running)
        threading.Event().wait(0.01)
        with lock:
            running -= 1

    driver = SimulatedDriver(turn_time_s=1, sleep=turn)
    threads = [threading.Thread(target=driver.vend, args=(request(f"A{i}"),)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(overlap) == 1 and len(driver.vended) == 6
