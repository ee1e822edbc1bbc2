"""The runtime driven by flow events instead of taps, against the real sandbox and journal, with
its MixPay test kiosk and the waits: shared by the end-to-end runtime tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import mixpay_table, simulated_machine, write_kiosk_toml

from hardware.sim.driver import SimulatedDriver
from kiosk.assembly import build_runtime
from kiosk.config import Config, load_config
from kiosk.flow import CoinChosen, ItemChosen, Order, Screen, StartTapped
from kiosk.journal import Journal
from kiosk.payments.base import PaymentRequest, PaymentStatus
from kiosk.payments.mixpay import MixPayGateway
from kiosk.sim import Sandbox
from kiosk.runtime import Runtime


def mixpay_toml(tmp_path: Path, sandbox: Sandbox, *, a2_fault: str = "jam",
                timeout_s: int | None = 60, poll_interval_s: float | None = 0.2,
                machine: dict[str, object] | None = None) -> Path:
    """``tmp_path``/kiosk.toml: a MixPay kiosk (machine "test-01", USD) against ``sandbox`` on
    the simulated machine (A1 works, A2 has ``a2_fault``); ``timeout_s`` or
    ``poll_interval_s`` None: the config's default."""
    timing = {"timeout_s": timeout_s, "poll_interval_s": poll_interval_s}
    payment = {"gateway": "mixpay", **{key: value for key, value in timing.items()
                                       if value is not None},
               "mixpay": mixpay_table(sandbox.url)}
    return write_kiosk_toml(tmp_path, machine={"id": "test-01", "currency": "USD",
                                               **(machine or {})},
                            payment=payment, **simulated_machine(a2_fault))


def mixpay_config(tmp_path: Path, sandbox: Sandbox, **options: Any) -> Config:
    """The config of ``mixpay_toml(tmp_path, sandbox, **options)``."""
    return load_config(mixpay_toml(tmp_path, sandbox, **options))


def simulated_driver(config: Config) -> SimulatedDriver:
    """The simulated machine with the faults ``config`` gives it, turning at once."""
    return SimulatedDriver(config.vend.simulated.faults, turn_time_s=0)


def mixpay_status_fails(monkeypatch: pytest.MonkeyPatch,
                        error: Callable[[], Exception]) -> threading.Event:
    """MixPay's status checks raise ``error()`` while the event returned is set."""
    failing = threading.Event()
    real_status = MixPayGateway.status

    def status(self: MixPayGateway, order: Order, request: PaymentRequest) -> PaymentStatus:
        if failing.is_set():
            raise error()
        return real_status(self, order, request)

    monkeypatch.setattr(MixPayGateway, "status", status)
    return failing


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0, *,
               step: Callable[[], object] = lambda: None, poll_s: float = 0.01,
               what: Callable[[], str] = lambda: "timed out") -> None:
    """Run ``step`` and check ``condition`` every ``poll_s`` until it holds; fail saying
    ``what()`` once ``timeout_s`` have passed without it."""
    deadline = time.monotonic() + timeout_s
    while True:
        step()
        if condition():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(what())
        time.sleep(poll_s)


class Harness:
    """A runtime driven by flow events instead of taps, with its finished sales collected."""

    poll_s = 0.02   # how often ``wait_for`` pumps the runtime

    def __init__(self, config: Config, driver: SimulatedDriver | None, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        """``driver`` None: the one the config names (the real MDB driver, say)."""
        self.lines: list[dict[str, Any]] = []
        self.config = config
        self.driver = driver
        self.runtime: Runtime = build_runtime(config, self.lines.append, driver=driver,
                                              clock=clock, wall_clock=wall_clock)
        self.runtime.start()

    def journal(self) -> Journal:
        return Journal.open_in(self.config.machine.data_dir)

    def transaction(self, tx_id: str) -> dict[str, Any]:
        with self.journal() as journal:
            return journal.transaction(tx_id)

    def wait_status(self, tx_id: str, status: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """Wait until the journal has ``tx_id`` in ``status``; return the transaction."""
        self.wait_for(lambda: self.transaction(tx_id)["status"] == status, timeout_s)
        return self.transaction(tx_id)

    def wait_for(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Pump the runtime until ``condition`` holds."""
        wait_until(condition, timeout_s, step=self.runtime.pump, poll_s=self.poll_s,
                   what=self.timed_out)

    def timed_out(self) -> str:
        return f"timed out on screen {self.runtime.state.screen}"

    def wait_screen(self, screen: Screen, timeout_s: float = 10.0) -> None:
        self.wait_for(lambda: self.runtime.state.screen is screen, timeout_s)

    def choose(self, slot: str, *, wallet: bool = False) -> Any:
        """Tap start, ``slot`` and a coin: the first offered, or with ``wallet`` none (the
        customer's wallet picks). Return the coins offered."""
        self.runtime.post(StartTapped())
        self.runtime.post(ItemChosen(slot))
        self.wait_for(lambda: self.sale_assets() is not None)  # the detail/confirm step
        assets = self.sale_assets()
        self.runtime.post(CoinChosen(None if wallet else assets[0]))
        return assets

    def buy(self, slot: str) -> tuple[Order, PaymentRequest]:
        self.wait_screen(Screen.ATTRACT)
        choose_asset = self.runtime.flow.settings.choose_asset
        assert bool(self.choose(slot, wallet=not choose_asset)) == choose_asset
        self.wait_screen(Screen.AWAITING_PAYMENT)
        sale = self.runtime.state.sale
        assert sale is not None and sale.order is not None and sale.request is not None
        return sale.order, sale.request

    def sale_assets(self) -> Any:
        sale = self.runtime.state.sale
        return sale.assets if sale else None

    def close(self) -> None:
        self.runtime.close()


def pay(link: str) -> None:
    httpx.post(f"{link}/pay", timeout=5).raise_for_status()


def kinds(journal_tx: dict[str, Any]) -> list[str]:
    return [event["kind"] for event in journal_tx["events"]]


