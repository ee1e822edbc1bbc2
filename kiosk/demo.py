"""``kiosk demo``: the whole product on one computer.

A gateway sandbox on loopback, the simulated machine, the demo catalogue, and the real kiosk
(flow, journal, MixPay client, UI) pointed at them through an ordinary config file. With
``--customers N`` it stages a mix of customers, plays them through the real UI, pays from a
simulated phone over HTTP at the sandbox's checkout page, and checks each outcome.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from kiosk.autopilot import Autopilot, CustomerPlan, slot_for_customer
from kiosk.config import Config, load_config
from kiosk.assembly import products
from kiosk.flow import Outcome, initial_state
from kiosk.payments.base import Order, PaymentRequest
from kiosk.payments.sandbox import Sandbox
from kiosk.session import run_kiosk

log = logging.getLogger(__name__)

STAGED_WINDOW_S = 20          # short payment windows keep ten customers near a minute
INTERACTIVE_WINDOW_S = 120
CANCEL_AFTER_S = 1.5
PAY_AFTER_S = 1.0
LATE_PAY_AFTER_S = CANCEL_AFTER_S + 2.0

# Scenario of customer k (0-based); customers past the list pay normally.
SCENARIOS = ("pay", "cancel", "expire", "pay", "underpay_then_top_up", "cancel_then_pay")
EXPECTED = {"pay": Outcome.VENDED, "underpay_then_top_up": Outcome.VENDED,
            "cancel": Outcome.CANCELLED, "cancel_then_pay": Outcome.CANCELLED,
            "expire": Outcome.EXPIRED}
CANCELLING = frozenset({"cancel", "cancel_then_pay"})

CONFIG_TEMPLATE = """\
# Written by `kiosk demo`: the sandbox gateway on loopback and a simulated machine.
[machine]
id = "demo-0001"
currency = "USD"
locale = "en"
data_dir = "{data_dir}"

[display]
fullscreen = false

[payment]
gateway = "mixpay"
timeout_s = {window_s}
choose_asset = true
assets = ["BTC", "ETH", "USDT", "LTC"]
poll_interval_s = 1.0

[payment.mixpay]
payee_id = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"
settlement_asset_id = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
quote_asset_id = "usd"
api_base = "{api_base}"
checkout_base = "{checkout_base}"

[vend]
driver = "simulated"

[vend.simulated]
faults = {{ A4 = "jam" }}
turn_time_s = 0.5

[[slot]]
id = "A1"
name = "Sparkling water"
price = "2.50"
stock = 8
image = "water.png"

[[slot]]
id = "A2"
name = "Cola"
price = "2.00"
stock = 8
image = "cola.png"

[[slot]]
id = "A3"
name = "Sea salt crisps"
price = "1.75"
stock = 8
image = "crisps.png"

[[slot]]
id = "A4"
name = "Dark chocolate bar"
price = "1.50"
stock = 8
image = "chocolate.png"

[[slot]]
id = "B1"
name = "Cold brew coffee"
price = "3.20"
stock = 8
image = "coffee.png"

[[slot]]
id = "B2"
name = "Orange juice"
price = "2.80"
stock = 8
image = "juice.png"
"""


@dataclass(frozen=True)
class DemoOptions:
    headless: bool = False
    customers: int | None = None
    data_dir: Path | None = None
    screenshots: Path | None = None
    lan_address: str | None = None


@dataclass(frozen=True)
class StagedCustomer:
    index: int
    scenario: str
    slot: str
    expected: Outcome


def plan_customers(count: int, config: Config) -> list[StagedCustomer]:
    """What each staged customer will do and must get, replaying the autopilot's slot rule."""
    state = initial_state(products(config), {s.id: s.stock for s in config.slots},
                          frozenset(), "", 0.0)
    faults = config.vend.simulated.faults
    staged = []
    for index in range(count):
        scenario = SCENARIOS[index] if index < len(SCENARIOS) else "pay"
        slot = slot_for_customer(index, state)
        assert slot is not None, "the demo catalogue ran out of stock"
        expected = EXPECTED[scenario]
        if expected is Outcome.VENDED and slot in faults and faults[slot] != "slow":
            expected = Outcome.VEND_FAILED
            if faults[slot] in ("jam", "motor_fault"):
                state = replace(state, disabled=state.disabled | {slot})
        elif expected is Outcome.VENDED:
            state = replace(state, stock={**state.stock, slot: state.stock[slot] - 1})
        staged.append(StagedCustomer(index, scenario, slot, expected))
    return staged


class SimulatedPhone:
    """Pays at the sandbox's hosted checkout page over HTTP, as a customer's phone would."""

    def __init__(self, api_base: str) -> None:
        self._api_base = api_base
        self._http = httpx.Client(timeout=10.0)
        self._threads: list[threading.Thread] = []

    def act(self, scenario: str, order: Order, request: PaymentRequest) -> None:
        steps: dict[str, Callable[[], None]] = {
            "pay": lambda: self._pay_after(PAY_AFTER_S, request.link),
            "underpay_then_top_up": lambda: self._underpay_then_top_up(order, request),
            "cancel_then_pay": lambda: self._pay_after(LATE_PAY_AFTER_S, request.link),
        }
        step = steps.get(scenario)
        if step is not None:
            thread = threading.Thread(target=_logged(step), name="phone", daemon=True)
            self._threads.append(thread)
            thread.start()

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)
        self._http.close()

    def _pay_after(self, delay_s: float, link: str, amount: Decimal | None = None) -> None:
        time.sleep(delay_s)
        page = self._http.get(link)
        page.raise_for_status()
        form = {"amount": str(amount)} if amount is not None else {}
        self._http.post(f"{link}/pay", data=form).raise_for_status()

    def _underpay_then_top_up(self, order: Order, request: PaymentRequest) -> None:
        payable = self._payable(order)
        half = (payable / 2).quantize(Decimal("0.00000001"))
        self._pay_after(PAY_AFTER_S, request.link, half)
        self._pay_after(3.0, request.link, payable - half)

    def _payable(self, order: Order) -> Decimal:
        reply = self._http.get(f"{self._api_base}/payments_result",
                               params={"traceId": order.tx_id})
        reply.raise_for_status()
        return Decimal(str(reply.json()["data"]["payableAmount"]))


def _logged(step: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            step()
        except httpx.HTTPError as exc:
            log.error("simulated phone could not pay: %s", exc)
    return run


def run_demo(options: DemoOptions) -> int:
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"kiosk demo: data directory {data_dir}", file=sys.stderr)
    host = "0.0.0.0" if options.lan_address else "127.0.0.1"
    staged_run = options.customers is not None
    with Sandbox(host=host, confirm_s=1.0 if staged_run else 3.0) as sandbox:
        port = urlsplit(sandbox.url).port
        public = f"http://{options.lan_address}:{port}" if options.lan_address else None
        config = _write_config(data_dir, sandbox, public,
                               STAGED_WINDOW_S if staged_run else INTERACTIVE_WINDOW_S)
        print(f"kiosk demo: sandbox at {sandbox.url}; open a QR link in a browser to pay",
              file=sys.stderr)
        if not staged_run:
            ok = run_kiosk(config, headless=options.headless, screenshots=options.screenshots)
            return 0 if ok else 1
        return _staged(config, options, sandbox.mixpay_api_base)


def _write_config(data_dir: Path, sandbox: Sandbox, public_base: str | None,
                  window_s: int) -> Config:
    checkout = sandbox.checkout_base if public_base is None else \
        public_base + sandbox.checkout_base.removeprefix(sandbox.url)
    text = CONFIG_TEMPLATE.format(data_dir=data_dir, window_s=window_s,
                                  api_base=sandbox.mixpay_api_base, checkout_base=checkout)
    path = data_dir / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _staged(config: Config, options: DemoOptions, api_base: str) -> int:
    assert options.customers is not None
    staged = plan_customers(options.customers, config)
    phone = SimulatedPhone(api_base)
    outcomes: list[dict[str, Any]] = []

    def plan(index: int) -> CustomerPlan:
        cancelling = staged[index].scenario in CANCELLING
        return CustomerPlan(cancel_after_s=CANCEL_AFTER_S if cancelling else None)

    autopilot = Autopilot(len(staged), plan,
                          on_payment_shown=lambda i, o, r: phone.act(staged[i].scenario, o, r))
    budget = 30.0 + len(staged) * (STAGED_WINDOW_S + 10)

    def settle(runtime: Any) -> None:
        # Late payments (a customer who cancelled, then paid) must reach the journal.
        runtime.watcher.wait_idle(timeout_s=STAGED_WINDOW_S + 45)

    try:
        finished = run_kiosk(config, headless=options.headless, screenshots=options.screenshots,
                             autopilot=autopilot, on_sale=outcomes.append, max_run_s=budget,
                             before_close=settle)
    finally:
        phone.close()
    return _report(staged, outcomes, finished)


def _report(staged: list[StagedCustomer], outcomes: list[dict[str, Any]], finished: bool) -> int:
    failures = 0 if finished else 1
    for customer in staged:
        got = outcomes[customer.index]["outcome"] if customer.index < len(outcomes) else None
        mark = "ok" if got == customer.expected.value else "WRONG"
        failures += mark != "ok"
        print(f"kiosk demo: customer {customer.index + 1} ({customer.scenario}, "
              f"slot {customer.slot}): expected {customer.expected.value}, got {got} [{mark}]",
              file=sys.stderr)
    print(f"kiosk demo: {len(staged) - failures} of {len(staged)} customers as expected",
          file=sys.stderr)
    return 0 if failures == 0 else 1

