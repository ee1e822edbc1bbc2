"""Fixtures shared by the test modules: the gateway sandbox, a fake clock, the payer's browser,
and the runtime harness of the end-to-end tests (``harness.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fakes import FakeTime
from harness import Harness, mixpay_config, simulated_driver
from money import assert_money_truth

from hardware.sim.driver import SimulatedDriver
from kiosk.config import Config
from kiosk.sim import Sandbox


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sandbox(**options): the ``sandbox`` fixture's ``Sandbox`` options for a "
        "module or a test (``clock=True``: on the test's fake ``clock``)")


@pytest.fixture
def clock() -> FakeTime:
    """A fake clock at ``fakes.START``: moved by hand, and by the sleeps it is given."""
    return FakeTime()


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """Every simulated gateway on loopback, quick to confirm and with no rate limit in the way;
    a module or test marked ``pytest.mark.sandbox(**options)`` (rate limits, slow confirmations,
    the fake ``clock``) gets a sandbox with those options instead."""
    marker = request.node.get_closest_marker("sandbox")
    options = dict(marker.kwargs) if marker else {"confirm_s": 0.2,
                                                  "requests_per_minute": 10_000}
    if options.get("clock") is True:
        options["clock"] = request.getfixturevalue("clock")
    with Sandbox(**options) as running:
        yield running


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    """One sandbox for a whole module, with no rate limit in the way (a kiosk is in service only
    while its gateway answers)."""
    with Sandbox(requests_per_minute=10_000) as running:
        yield running


@pytest.fixture(scope="module")
def web() -> Iterator[httpx.Client]:
    """The payer's browser or phone wallet: one client per module (plain HTTP on loopback, so no
    CA bundle to load)."""
    with httpx.Client(verify=False) as client:
        yield client


@pytest.fixture
def config(tmp_path: Path, sandbox: Sandbox) -> Config:
    """A MixPay kiosk against the sandbox on the simulated machine, A2 jamming (a module with
    another kiosk defines its own)."""
    return mixpay_config(tmp_path, sandbox)


@pytest.fixture
def driver(config: Config) -> SimulatedDriver | None:
    """The ``harness``'s vend driver: the simulated machine with the config's faults (a module
    on the real MDB driver overrides it with None: the one the config names)."""
    return simulated_driver(config)


@pytest.fixture
def harness(config: Config, driver: SimulatedDriver | None,
            sandbox: Sandbox) -> Iterator[Harness]:
    """The runtime of ``config`` started; once the test is done, stopped and the money checked:
    whatever the test did, every payment the sandbox received is vended, refunded or claimed."""
    running = Harness(config, driver)
    yield running
    running.close()
    assert_money_truth(config.machine.data_dir, sandbox, config.payment.gateway)


@pytest.fixture(autouse=True)
def synchronised_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel of a test container may say its clock is not synchronised (adjtimex's
    TIME_ERROR), which would keep every in-process kiosk waiting for the clock. Tests of that
    wait give the runtime their own ``time_synced``; kiosks run as subprocesses set
    ``[machine] wait_for_time_sync = false``."""
    monkeypatch.setattr("kiosk.assembly.kernel_time_synced", lambda: True)
