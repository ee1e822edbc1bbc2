"""The runtime driven by flow events instead of taps, against the real sandbox and journal:
shared by the end-to-end runtime tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fakes import simulated_machine_toml

from hardware.simulated import SimulatedDriver
from kiosk.assembly import build_runtime
from kiosk.config import Config, load_config
from kiosk.flow import CoinChosen, ItemChosen, Order, Screen, StartTapped
from kiosk.journal import Journal
from kiosk.payments.base import PaymentRequest
from kiosk.payments.sandbox import Sandbox
from kiosk.runtime import Runtime

MIXPAY_CONFIG = """
[machine]
id = "test-01"
currency = "USD"
data_dir = "{data_dir}"
{machine_extra}
[payment]
gateway = "mixpay"
timeout_s = {timeout_s}
poll_interval_s = 0.2

[payment.mixpay]
payee_id = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"
settlement_asset_id = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
api_base = "{api_base}"
checkout_base = "{checkout_base}"

"""


def mixpay_config(tmp_path: Path, sandbox: Sandbox, *, a2_fault: str = "jam",
                  timeout_s: int = 60, machine_extra: str = "") -> Config:
    """A MixPay kiosk on the simulated machine (A1 works, A2 has ``a2_fault``)."""
    path = tmp_path / "kiosk.toml"
    template = MIXPAY_CONFIG + simulated_machine_toml(a2_fault)
    path.write_text(template.format(data_dir=tmp_path / "data", api_base=sandbox.mixpay_api_base,
                                    checkout_base=sandbox.checkout_base, timeout_s=timeout_s,
                                    machine_extra=machine_extra))
    return load_config(path)


class Harness:
    """A runtime driven by flow events instead of taps, with its finished sales collected."""

    def __init__(self, config: Config, driver: SimulatedDriver | None, *,
                 wall_clock: Callable[[], float] = time.time) -> None:
        """``driver`` None: the one the config names (the real MDB driver, say)."""
        self.lines: list[dict[str, Any]] = []
        self.config = config
        self.driver = driver
        self.runtime: Runtime = build_runtime(config, self.lines.append, driver=driver,
                                              wall_clock=wall_clock)
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
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.runtime.pump()
            if condition():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out on screen {self.runtime.state.screen}")

    def wait_screen(self, screen: Screen, timeout_s: float = 10.0) -> None:
        self.wait_for(lambda: self.runtime.state.screen is screen, timeout_s)

    def buy(self, slot: str) -> tuple[Order, PaymentRequest]:
        self.wait_screen(Screen.ATTRACT)
        self.runtime.post(StartTapped())
        self.runtime.post(ItemChosen(slot))
        self.wait_for(lambda: self.sale_assets() is not None)  # the detail/confirm step
        assets = self.sale_assets()
        assert bool(assets) == self.runtime.flow.settings.choose_asset
        self.runtime.post(CoinChosen(assets[0] if assets else None))
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


