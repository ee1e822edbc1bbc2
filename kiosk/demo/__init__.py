"""``kiosk demo``: the whole product on one computer.

A gateway sandbox on loopback, the simulated machine, the demo catalogue, and the real kiosk
(flow, journal, production gateway client, UI) pointed at them through ordinary config files.
With ``--customers N`` it stages a mix of customers, plays them through the real UI, pays from
a simulated phone over HTTP at the sandbox, and checks each outcome.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kiosk.assembly import products
from kiosk.autopilot import Autopilot, CustomerPlan, slot_for_customer
from kiosk.config import Config, load_config
from kiosk.demo.configs import write_demo_config
from kiosk.demo.machines import DemoMachine, demo_machine
from kiosk.demo.phone import SimulatedPhone
from kiosk.flow import Outcome, initial_state
from kiosk.payments.base import Order, PaymentRequest
from kiosk.payments.sandbox import Sandbox
from kiosk.runtime import Runtime
from kiosk.session import run_kiosk

log = logging.getLogger(__name__)

STAGED_WINDOW_S = 20          # short payment windows keep ten customers near a minute
INTERACTIVE_WINDOW_S = 120
CANCEL_AFTER_S = 1.5
LATE_PAY_AFTER_S = CANCEL_AFTER_S + 2.0
GATEWAYS = ("mixpay", "wctpay", "centrapay")

# Scenario of customer k (0-based); customers past the list pay normally.
SCENARIOS = ("pay", "cancel", "expire", "pay", "underpay_then_top_up", "cancel_then_pay")
EXPECTED = {"pay": Outcome.VENDED, "underpay_then_top_up": Outcome.VENDED,
            "cancel": Outcome.CANCELLED, "cancel_then_pay": Outcome.CANCELLED,
            "expire": Outcome.EXPIRED}
CANCELLING = frozenset({"cancel", "cancel_then_pay"})



@dataclass(frozen=True)
class DemoOptions:
    headless: bool = False
    customers: int | None = None
    data_dir: Path | None = None
    screenshots: Path | None = None
    lan_address: str | None = None
    gateway: str = "mixpay"
    driver: str = "simulated"


@dataclass(frozen=True)
class StagedCustomer:
    index: int
    scenario: str
    slot: str
    expected: Outcome


def plan_customers(count: int, config: Config,
                   failing: Mapping[str, bool]) -> list[StagedCustomer]:
    """What each staged customer will do and must get, replaying the autopilot's slot rule.

    ``failing`` maps each slot whose vends fail to whether that failure disables the slot.
    """
    state = initial_state(products(config), {s.id: s.stock for s in config.slots},
                          frozenset(), "", 0.0)
    staged = []
    for index in range(count):
        scenario = SCENARIOS[index] if index < len(SCENARIOS) else "pay"
        if scenario == "underpay_then_top_up" and config.payment.gateway == "centrapay":
            scenario = "pay"  # a Centrapay request is paid whole; there is nothing to top up
        slot = slot_for_customer(index, state)
        assert slot is not None, "the demo catalogue ran out of stock"
        expected = EXPECTED[scenario]
        if expected is Outcome.VENDED and slot in failing:
            expected = Outcome.VEND_FAILED
            if failing[slot]:
                state = replace(state, disabled=state.disabled | {slot})
        elif expected is Outcome.VENDED:
            state = replace(state, stock={**state.stock, slot: state.stock[slot] - 1})
        staged.append(StagedCustomer(index, scenario, slot, expected))
    return staged


def run_demo(options: DemoOptions) -> int:
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"kiosk demo: data directory {data_dir}", file=sys.stderr)
    host = "0.0.0.0" if options.lan_address else "127.0.0.1"
    staged_run = options.customers is not None
    window_s = STAGED_WINDOW_S if staged_run else INTERACTIVE_WINDOW_S
    # MixPay allows 60 requests a minute, Centrapay 200: the sandbox plays the chosen one.
    rate = 60 if options.gateway == "mixpay" else 200
    with Sandbox(host=host, confirm_s=1.0 if staged_run else 3.0,
                 requests_per_minute=rate) as sandbox:
        if options.lan_address:
            sandbox.public_base = f"http://{options.lan_address}:{urlsplit(sandbox.url).port}"
        with demo_machine(options.driver) as machine:
            config = load_config(write_demo_config(data_dir, options.gateway, options.driver,
                                                   sandbox, window_s, machine.mdb_port))
            print(f"kiosk demo: {options.gateway} sandbox at {sandbox.base(options.gateway)}; "
                  f"pay there: {_where_to_pay(options.gateway, sandbox)}", file=sys.stderr)
            if not staged_run:
                ok = run_kiosk(config, headless=options.headless,
                               screenshots=options.screenshots,
                               driver=machine.driver_for(config))
                return 0 if ok else 1
            phone = SimulatedPhone(options.gateway, sandbox.base(options.gateway))
            try:
                return _staged(config, options, phone, machine)
            finally:
                phone.close()


def _where_to_pay(gateway: str, sandbox: Sandbox) -> str:
    if gateway == "wctpay":  # the QR holds a coin URI: the sandbox's wallet page pays it
        return f"{sandbox.base(gateway, public=True)}/wallet"
    return "open the link in the QR code"


def _staged(config: Config, options: DemoOptions, phone: SimulatedPhone,
            machine: DemoMachine) -> int:
    assert options.customers is not None
    staged = plan_customers(options.customers, config, machine.failing)
    outcomes: list[dict[str, Any]] = []

    def plan(index: int) -> CustomerPlan:
        cancelling = staged[index].scenario in CANCELLING
        return CustomerPlan(cancel_after_s=CANCEL_AFTER_S if cancelling else None)

    def act(index: int, order: Order, request: PaymentRequest) -> None:
        scenario = staged[index].scenario
        if scenario == "pay":
            phone.later(lambda: phone.pay(order, request))
        elif scenario == "underpay_then_top_up":
            phone.later(lambda: phone.underpay_then_top_up(order, request))
        elif scenario == "cancel_then_pay":
            phone.later(lambda: phone.pay(order, request, LATE_PAY_AFTER_S))

    def settle(runtime: Runtime) -> None:
        # Late payments (a customer who cancelled, then paid) must reach the journal.
        runtime.settle(STAGED_WINDOW_S + 45, watches=True)

    autopilot = Autopilot(len(staged), plan, on_payment_shown=act)
    budget = 30.0 + len(staged) * (STAGED_WINDOW_S + 10)
    finished = run_kiosk(config, headless=options.headless, screenshots=options.screenshots,
                         autopilot=autopilot, on_sale=outcomes.append, max_run_s=budget,
                         before_close=settle, driver=machine.driver_for(config))
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

