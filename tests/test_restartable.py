"""A vend driver that cannot start is not ready with the reason and is opened again with
back-off; ``HardwareError`` never reaches the kiosk (nor a technician's self-test JSON)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from fakes import KIOSK, WATER, FakeTime, offline_kiosk_toml
from hardware.base import KeypadSelection, VendDriver, VendOutcome, VendRequest
from hardware.errors import HardwareError
from hardware.restartable import RETRY_MIN_S, RestartableDriver
from hardware.sim.driver import SimulatedDriver

REPO = Path(__file__).resolve().parents[1]
A1 = VendRequest("A1", 250)


class Opener:
    """Fails ``failures`` times ("no pin factory"), then opens a simulated machine."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.opened: list[SimulatedDriver] = []

    def __call__(self) -> VendDriver:
        if self.failures:
            self.failures -= 1
            raise HardwareError("cannot open the vend GPIO pins: no pin factory")
        self.opened.append(SimulatedDriver(turn_time_s=0))
        return self.opened[-1]


def test_a_driver_that_cannot_start_is_not_ready_and_is_opened_again_with_back_off() -> None:
    clock = FakeTime(100.0)
    opener = Opener(failures=2)
    driver = RestartableDriver("GPIO", opener, clock)
    heard: list[KeypadSelection] = []
    driver.set_selection_listener(heard.append)
    health = driver.health()
    assert not health.ready
    assert health.reason == "GPIO: cannot open the vend GPIO pins: no pin factory"
    assert driver.vend(A1).outcome is VendOutcome.DENIED          # nothing can move
    assert [p.passed for p in driver.probes([A1], move_motors=False)] == [False]
    clock.now += RETRY_MIN_S                                      # second try fails too...
    assert not driver.health().ready
    clock.now += RETRY_MIN_S                                      # ...and backs off further
    assert not driver.health().ready and opener.failures == 0
    clock.now += RETRY_MIN_S
    assert driver.health().ready                                  # the cable went in
    assert driver.vend(A1).outcome is VendOutcome.VENDED
    assert opener.opened[0].vended == ["A1"]
    driver.close()


def test_a_hardware_error_mid_vend_is_unknown_and_the_driver_is_reopened() -> None:
    clock = FakeTime(100.0)
    opener = Opener(failures=0)
    driver = RestartableDriver("MDB bridge", opener, clock)

    def broken(request: VendRequest) -> object:
        raise HardwareError("serial port vanished")

    opener.opened[0].vend = broken  # type: ignore[method-assign,assignment]
    assert driver.vend(A1).outcome is VendOutcome.UNKNOWN   # it may have begun: a claim
    assert driver.health().reason == "MDB bridge: serial port vanished"
    clock.now += RETRY_MIN_S
    assert driver.health().ready and len(opener.opened) == 2


def test_selftest_on_a_machine_without_gpio_still_prints_its_json(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(offline_kiosk_toml(
        tmp_path / "data", vend={"driver": "gpio", "gpio": {"motor_pins": [5, 6], "home_pin": 20,
                                                            "drop_pin": 21}},
        slots=({**WATER, "motor": 1},)))
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "no-such-factory", "SDL_VIDEODRIVER": "dummy",
           "PYTHONPATH": str(REPO)}
    done = subprocess.run([*KIOSK, "selftest", "--config", str(config),
                           "--no-network", "--json"], capture_output=True, text=True, env=env,
                          timeout=120, cwd=REPO)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    assert not checks["driver"]["passed"]
    assert checks["driver"]["reason"].startswith("GPIO: cannot open the vend GPIO pins")
