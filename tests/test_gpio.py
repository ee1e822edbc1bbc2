"""The GPIO vend driver against a simulated spiral machine on gpiozero mock pins.

Every test drives the real ``GpioDriver``; ``MockSpiralMachine`` plays the motors, the cam
switch and the drop beam. Outputs are checked through the mock pins' recorded histories.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero import Device, DigitalOutputDevice
from gpiozero.pins.mock import MockFactory, MockPin

from hardware.base import DriverHealth, VendOutcome, VendRequest, VendResult
from hardware.errors import HardwareError
from hardware.gpio import GpioDriver
from hardware.sim.gpio_machine import MockSpiralMachine, mock_gpio_driver

MOTORS = (5, 6, 13, 19)        # mock_gpio_driver's default direct wiring
ROWS, COLUMNS = (5, 6, 13), (16, 26)
HOME, DROP = 20, 21
FAST: dict[str, Any] = {"turn_s": 0.2, "leave_s": 0.02, "drop_after_s": 0.1,
                        "turn_timeout_s": 0.4, "drop_timeout_s": 0.3}

Build = Callable[..., tuple[GpioDriver, MockSpiralMachine]]


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """gpiozero's own pattern: a fresh MockFactory as the default, reset and restored after."""
    saved = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved


@pytest.fixture
def build(mock_factory: MockFactory) -> Iterator[Build]:
    made: list[tuple[GpioDriver, MockSpiralMachine]] = []

    def _build(**kwargs: Any) -> tuple[GpioDriver, MockSpiralMachine]:
        pair = mock_gpio_driver(factory=mock_factory, **{**FAST, **kwargs})
        made.append(pair)
        return pair

    yield _build
    for driver, machine in made:
        machine.close()
        driver.close()


def request(motor: str | None, slot: str = "A1") -> VendRequest:
    return VendRequest(slot_id=slot, price_minor=250, motor=motor)


def history(pin: MockPin) -> list[bool]:
    return [bool(change.state) for change in pin.states]


def on_times(pin: MockPin) -> list[float]:
    """How long each high stretch of an active-high output lasted."""
    return [change.timestamp for previous, change in zip(pin.states, pin.states[1:], strict=False)
            if previous.state and not change.state]


def turn_seconds(result: VendResult) -> float:
    match = re.search(r"turn (\d+\.\d+) s", result.detail)
    assert match, result.detail
    return float(match[1])


def idle(factory: MockFactory, pins: tuple[int, ...]) -> bool:
    return all(history(factory.pin(pin)) == [False] for pin in pins)


# --------------------------------------------------------------------------- vending

@pytest.mark.parametrize("home_active_low", [True, False])
@pytest.mark.parametrize("beam_active_low", [True, False])
def test_vend_turns_the_spiral_once_and_sees_the_drop(
        build: Build, mock_factory: MockFactory, home_active_low: bool,
        beam_active_low: bool) -> None:
    driver, machine = build(home_active_low=home_active_low, beam_active_low=beam_active_low)
    assert driver.health() == DriverHealth(True)
    # at rest the home line sits at its "at home" level, the beam at "clear"
    assert mock_factory.pin(HOME).state == (not home_active_low)
    assert mock_factory.pin(DROP).state == beam_active_low

    result = driver.vend(request("1"))

    assert result.outcome is VendOutcome.VENDED and not result.disables_slot
    assert "item dropped" in result.detail
    # (bounds wide enough for a loaded CI machine, narrow enough to tell one 0.2 s turn)
    assert 0.1 <= turn_seconds(result) <= 0.35
    motor = mock_factory.pin(5)
    motor.assert_states([False, True, False])
    assert history(motor) == [False, True, False]
    assert idle(mock_factory, MOTORS[1:])
    assert machine.turns("1") == 1 and machine.runs("1")[0].dropped
    assert driver.health() == DriverHealth(True)


def test_matrix_energises_only_its_row_and_column(build: Build,
                                                  mock_factory: MockFactory) -> None:
    driver, machine = build(wiring="matrix", motor_pins=(), row_pins=ROWS, column_pins=COLUMNS)

    result = driver.vend(request("2,1"))

    assert result.vended, result.detail
    row, column = mock_factory.pin(6), mock_factory.pin(16)
    assert history(row) == [False, True, False] and history(column) == [False, True, False]
    assert idle(mock_factory, (5, 13, 26))
    assert [run.motor for run in machine.runs()] == ["2,1"]
    assert machine.peak_motors_on == 1


def test_active_low_relays_are_switched_on_by_a_low_pin(build: Build,
                                                        mock_factory: MockFactory) -> None:
    driver, _ = build(active_high=False)
    pins = [mock_factory.pin(pin) for pin in MOTORS]
    assert all(pin.state for pin in pins)  # off = high from the moment the pins are claimed
    for pin in pins:
        pin.clear_states()

    assert driver.vend(request("3")).vended

    assert history(pins[2]) == [True, False, True]
    assert all(history(pin) == [True] for pin in (pins[0], pins[1], pins[3]))


def test_slow_spiral_vends_and_reports_its_turn_time(build: Build) -> None:
    driver, _ = build(faults={"1": "slow"}, turn_timeout_s=1.0)

    result = driver.vend(request("1"))

    assert result.vended
    assert 0.45 <= turn_seconds(result) <= 0.85  # three times the 0.2 s turn


# --------------------------------------------------------------------------- failures

@pytest.mark.parametrize(("fault", "detail", "longest_on_s", "ready_after"), [
    ("jam_leaving", "home not left within 0.4 s", 0.45, True),
    ("jam_returning", "home not regained within 0.4 s", 0.47, False),
])
def test_jam_switches_the_motor_off_at_once(
        build: Build, mock_factory: MockFactory, fault: str, detail: str,
        longest_on_s: float, ready_after: bool) -> None:
    driver, _ = build(faults={"1": fault})

    result = driver.vend(request("1"))

    assert result.outcome is VendOutcome.JAM and result.disables_slot
    assert detail in result.detail
    motor = mock_factory.pin(5)
    assert history(motor) == [False, True, False]
    [on_s] = on_times(motor)
    # Off as soon as the 0.4 s timeout ran out (the driver's clock starts a moment before
    # the pin goes on, so a loaded machine shows a little less).
    assert 0.3 <= on_s <= longest_on_s
    health = driver.health()
    assert health.ready is ready_after
    if not ready_after:  # the spiral stalled mid-turn: the technician is told where to look
        assert "spiral not at home position" in health.reason
        assert "motor 1 turned last" in health.reason


def test_jam_after_the_item_fell_says_so(build: Build) -> None:
    driver, _ = build(faults={"1": "jam_returning"}, drop_after_s=0.05)

    result = driver.vend(request("1"))

    assert result.outcome is VendOutcome.JAM
    assert "an item did cross the drop beam" in result.detail


def test_missed_drop_gets_one_quarter_turn_nudge(build: Build,
                                                 mock_factory: MockFactory) -> None:
    driver, machine = build(faults={"1": "drop_on_nudge"})

    result = driver.vend(request("1"))

    assert result.outcome is VendOutcome.VENDED, result.detail
    assert "item dropped after a" in result.detail and "nudge" in result.detail
    motor = mock_factory.pin(5)
    assert history(motor) == [False, True, False, True, False]  # the turn, then one nudge
    turn_on, nudge_on = on_times(motor)
    assert turn_on / 4 * 0.7 <= nudge_on <= turn_on / 4 * 1.3  # a quarter of the measured turn
    turn, nudge = machine.runs("1")
    assert (turn.turns, turn.dropped) == (1, False) and (nudge.turns, nudge.dropped) == (0, True)


@pytest.mark.parametrize(("leave_s", "ready_after"), [(0.02, False), (0.08, True)])
def test_nudge_past_the_home_notch_leaves_the_spiral_off_home(
        build: Build, leave_s: float, ready_after: bool) -> None:
    # One shared home line cannot tell a nudged spiral from a stuck one: the technician is told.
    driver, _ = build(faults={"1": "drop_on_nudge"}, leave_s=leave_s)

    assert driver.vend(request("1")).vended

    health = driver.health()
    assert health.ready is ready_after
    if not ready_after:
        assert "spiral not at home position" in health.reason and "motor 1" in health.reason
        assert driver.vend(request("2")).outcome is VendOutcome.DENIED


def test_no_drop_after_the_nudge(build: Build, mock_factory: MockFactory) -> None:
    driver, machine = build(faults={"1": "no_drop"}, nudge_s=0.06)

    result = driver.vend(request("1"))

    assert result.outcome is VendOutcome.NO_DROP and not result.disables_slot
    assert "no drop after nudge" in result.detail and "turn 0." in result.detail
    motor = mock_factory.pin(5)
    assert history(motor) == [False, True, False, True, False]
    assert on_times(motor)[1] == pytest.approx(0.06, abs=0.02)
    assert not any(run.dropped for run in machine.runs())


@pytest.mark.parametrize(("motor", "wiring"), [
    ("9", "direct"), ("0", "direct"), ("2,1", "direct"), ("x", "direct"), (None, "direct"),
    ("3", "matrix"), ("4,1", "matrix"), ("1,3", "matrix"),
])
def test_motor_outside_the_wiring_is_a_motor_fault(
        build: Build, mock_factory: MockFactory, motor: str | None, wiring: str) -> None:
    pins = {"direct": {}, "matrix": {"motor_pins": (), "row_pins": ROWS,
                                     "column_pins": COLUMNS}}[wiring]
    driver, machine = build(wiring=wiring, **pins)

    result = driver.vend(request(motor))

    assert result.outcome is VendOutcome.MOTOR_FAULT and result.disables_slot
    assert "is not wired" in result.detail
    assert idle(mock_factory, (*MOTORS, *COLUMNS))
    assert machine.runs() == []


def test_output_that_cannot_be_driven_is_a_motor_fault(
        build: Build, mock_factory: MockFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    driver, _ = build()
    pin = mock_factory.pin(5)
    write = pin._set_state

    def broken(value: bool) -> None:
        if value:
            raise OSError("relay board unplugged")
        write(value)

    monkeypatch.setattr(pin, "_set_state", broken)

    result = driver.vend(request("1"))

    assert result.outcome is VendOutcome.MOTOR_FAULT
    assert "GPIO 5 could not be switched on" in result.detail
    assert "relay board unplugged" in result.detail
    assert history(pin) == [False]
    assert driver.vend(request("2", slot="A2")).vended  # the driver is still usable


# --------------------------------------------------------------------------- never left on

@pytest.mark.parametrize("failing_wait", [1, 2])  # waiting to leave home / to regain it
def test_exception_mid_vend_leaves_the_motor_off(
        build: Build, mock_factory: MockFactory, monkeypatch: pytest.MonkeyPatch,
        failing_wait: int) -> None:
    driver, _ = build()
    wait = driver._wait
    calls = 0

    def failing(event: threading.Event, deadline: float) -> bool:
        nonlocal calls
        calls += 1
        if calls == failing_wait:
            time.sleep(0.03)  # the motor is on and the cam has left home
            raise RuntimeError("GPIO chip went away")
        return wait(event, deadline)

    monkeypatch.setattr(driver, "_wait", failing)

    with pytest.raises(RuntimeError, match="GPIO chip went away"):
        driver.vend(request("1"))

    motor = mock_factory.pin(5)
    assert history(motor) == [False, True, False] and not motor.state
    assert "busy" not in driver.health().reason  # the lock was released


def test_watchdog_switches_off_a_motor_whose_vend_hangs(
        build: Build, mock_factory: MockFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    driver, _ = build(max_on_s=0.15)
    release = threading.Event()

    def hung(event: threading.Event, deadline: float) -> bool:
        release.wait(5)
        return False

    monkeypatch.setattr(driver, "_wait", hung)
    results: list[VendResult] = []
    vend = threading.Thread(target=lambda: results.append(driver.vend(request("1"))))
    vend.start()
    time.sleep(0.4)

    motor = mock_factory.pin(5)
    assert vend.is_alive()  # the vend is still stuck in its wait...
    assert history(motor) == [False, True, False]  # ...but its motor was forced off
    assert on_times(motor)[0] == pytest.approx(0.15, abs=0.05)
    release.set()
    vend.join(2)
    [result] = results
    assert result.outcome is VendOutcome.JAM
    assert "the watchdog switched the motor off after 0.1 s" in result.detail


def test_only_one_motor_turns_at_a_time(build: Build, mock_factory: MockFactory) -> None:
    driver, machine = build()
    pins = [mock_factory.pin(5), mock_factory.pin(6)]
    for pin in pins:
        pin.clear_states()
    start = threading.Barrier(2)
    results: dict[str, VendResult] = {}

    def vend(motor: str) -> None:
        start.wait()
        results[motor] = driver.vend(request(motor, slot=f"A{motor}"))

    threads = [threading.Thread(target=vend, args=(motor,)) for motor in ("1", "2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert all(result.vended for result in results.values()), results
    intervals = []
    for pin in pins:
        assert history(pin) == [False, True, False]
        on_at = pin.states[1].timestamp
        intervals.append((on_at, on_at + pin.states[2].timestamp))
    (first_on, first_off), (second_on, second_off) = sorted(intervals)
    assert first_off < second_on  # the second motor waited for the first to stop
    assert machine.peak_motors_on == 1


# --------------------------------------------------------------------------- health, probes

def test_blocked_beam_makes_the_driver_not_ready(build: Build,
                                                 mock_factory: MockFactory) -> None:
    driver, machine = build()
    machine.block_beam()

    health = driver.health()
    result = driver.vend(request("1"))

    assert not health.ready and "drop beam blocked" in health.reason
    assert result.outcome is VendOutcome.DENIED and "drop beam blocked" in result.detail
    assert idle(mock_factory, MOTORS)
    machine.clear_beam()
    assert driver.health() == DriverHealth(True)


def test_spiral_left_mid_turn_makes_the_driver_not_ready(build: Build,
                                                         mock_factory: MockFactory) -> None:
    driver, machine = build()
    machine.turn_by_hand("2", 0.5)

    health = driver.health()
    result = driver.vend(request("1"))

    assert not health.ready and "spiral not at home position" in health.reason
    assert result.outcome is VendOutcome.DENIED and not result.disables_slot
    assert idle(mock_factory, MOTORS)
    machine.turn_by_hand("2", 0.5)
    assert driver.health() == DriverHealth(True)


def test_probes_without_move_motors_never_turn_a_motor(build: Build,
                                                       mock_factory: MockFactory) -> None:
    driver, machine = build()
    requests = [request(str(n), slot=f"A{n}") for n in range(1, 5)]

    assert [(p.name, p.passed) for p in driver.probes(requests, move_motors=False)] == [
        ("drop_beam", True), ("home_switch", True)]
    machine.block_beam()
    beam, home = driver.probes(requests, move_motors=False)

    assert not beam.passed and "drop beam blocked" in beam.reason and home.passed
    assert idle(mock_factory, MOTORS)
    assert machine.runs() == []


def test_probes_with_move_motors_turn_each_motor_home_to_home(
        build: Build, mock_factory: MockFactory) -> None:
    faults = {"1": "no_drop", "2": "jam_leaving", "3": "jam_returning"}
    driver, machine = build(faults=faults)
    requests = [request(motor, slot=f"A{motor}") for motor in ("1", "2", "3", "4", "9")]

    probes = driver.probes(requests, move_motors=True)

    beam, home, *motors = probes
    assert beam.passed and home.passed  # both read before anything moved
    by_slot = {p.slot: p for p in motors}
    assert all(p.name == "motor" for p in motors)
    assert by_slot["A1"].passed and "home to home in 0." in by_slot["A1"].reason  # no drop needed
    assert not by_slot["A2"].passed and "jam: home not left" in by_slot["A2"].reason
    assert not by_slot["A3"].passed and "jam: home not regained" in by_slot["A3"].reason
    assert not by_slot["A4"].passed  # motor 3 stalled off home: turning 4 could not be sensed
    assert "not turned: spiral not at home position" in by_slot["A4"].reason
    assert not by_slot["A9"].passed and "not wired" in by_slot["A9"].reason
    for pin in (5, 6, 13):
        assert history(mock_factory.pin(pin)) == [False, True, False]
    assert idle(mock_factory, (19,))
    assert machine.turns("1") == 1


# --------------------------------------------------------------------------- lifecycle

def test_close_twice_switches_everything_off_and_releases_the_pins(
        build: Build, mock_factory: MockFactory) -> None:
    driver, _ = build()
    with driver:
        assert driver.vend(request("1")).vended

    driver.close()

    assert driver.health() == DriverHealth(False, "GPIO driver closed")
    with pytest.raises(HardwareError, match="closed"):
        driver.vend(request("1"))
    assert not any(mock_factory.pin(pin).state for pin in MOTORS)
    with DigitalOutputDevice(5), DigitalOutputDevice(HOME):  # the pins are free again
        pass


def test_default_pin_factory_from_the_environment(
        mock_factory: MockFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    Device.pin_factory = None  # gpiozero picks one on the first device, as on a Pi

    with GpioDriver(wiring="direct", motor_pins=MOTORS, home_pin=HOME, drop_pin=DROP,
                    turn_timeout_s=0.4, drop_timeout_s=0.3) as driver:
        factory = Device.pin_factory
        assert isinstance(factory, MockFactory) and factory is not mock_factory
        with MockSpiralMachine(factory, wiring="direct", motor_pins=MOTORS, home_pin=HOME,
                               drop_pin=DROP, turn_s=0.2, leave_s=0.02, drop_after_s=0.1):
            assert driver.vend(request("4")).vended
        assert history(factory.pin(19)) == [False, True, False]
    factory.reset()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"wiring": "star", "motor_pins": MOTORS}, "wiring must be one of"),
    ({"wiring": "direct"}, "direct wiring needs motor_pins"),
    ({"wiring": "matrix", "row_pins": ROWS}, "matrix wiring needs column_pins"),
    ({"wiring": "direct", "motor_pins": MOTORS, "turn_timeout_s": 0}, "turn_timeout_s"),
])
def test_impossible_configuration_is_refused(mock_factory: MockFactory, kwargs: dict[str, Any],
                                             message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GpioDriver(home_pin=HOME, drop_pin=DROP, **kwargs)
    assert not mock_factory.pins  # refused before any pin was claimed


def test_pin_in_use_is_a_hardware_error_and_frees_what_was_opened(
        mock_factory: MockFactory) -> None:
    with pytest.raises(HardwareError, match="cannot open the vend GPIO pins"):
        GpioDriver(wiring="direct", motor_pins=MOTORS, home_pin=5, drop_pin=DROP)
    with DigitalOutputDevice(5), DigitalOutputDevice(6):  # nothing stays claimed
        pass


def test_mock_machine_refuses_unknown_faults_and_frees_the_pins(
        build: Build, mock_factory: MockFactory) -> None:
    with pytest.raises(ValueError, match="unknown mock fault 'melt'"):
        build(faults={"1": "melt"})
    with pytest.raises(ValueError, match="not wired"):
        build(faults={"9": "no_drop"})
    driver, _ = build()  # the failed builds released their pins
    assert driver.vend(request("1")).vended
