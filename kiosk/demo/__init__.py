"""``kiosk demo``: the whole product on one computer.

A gateway sandbox on loopback, the simulated machine, the demo catalogue, and the real kiosk
(flow, journal, production gateway client, UI) pointed at them through ordinary config files.
With ``--customers N`` it stages a mix of customers, plays them through the real UI, pays from
a simulated phone over HTTP at the sandbox, and checks each outcome. Once the kiosk has settled
(late payments found, refunds done) it holds the journal to the money the sandbox received
(``kiosk.audit``): every payment vended, refunded or an open claim.

Customer k plays ``SCENARIOS[k]`` (past the list: pay). The first ten are what ``--customers
10`` (the end-to-end tests' run, about two minutes per gateway) plays; the order keeps the
payments watched longest early, so that the run does not end waiting for them:

1. pay: vended
2. gateway_outage: the gateway stops answering just as the customer confirms; the payment
   cannot be created (payment failed, no QR, nothing asked); the kiosk goes out of service
   and comes back by itself when the gateway answers again
3. pay: vended, served normally after the outage
4. pay at the jammed slot: vend failed, refunded (Centrapay) or a claim code
5. part_paid_then_cancel: half paid, then Cancel: cancelled, an open claim for the part
6. expire: nobody pays
7. pay_while_status_fails: every status call fails while the customer pays; the window closes
   with a code (expired), and once the gateway answers the payment is found: paid_late, a
   claim (refunded at Centrapay, which voids the request after three unanswered polls
   instead, so that sale ends payment failed)
8. underpay_then_top_up: half, then the rest: vended
9. spoofed_success: a success that names another payee (at WCT Pay: that is for half the
   price): payment failed, an open claim
10. cancel_then_pay: Cancel, then the phone pays anyway: cancelled, paid_late

and an eleventh cancels with nothing paid. Centrapay requests and Lightning invoices (LNbits) are
paid whole (neither allows a part payment), so there part_paid_then_cancel is a plain cancel and
underpay_then_top_up a plain pay; at Centrapay a cancel voids the request, so cancel_then_pay
pays nothing (a Lightning invoice cannot be voided: paid after a cancel, it is paid_late).
An outage needs a customer after it: as the last customer it is a plain pay.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kiosk.assembly import products
from kiosk.audit import audit
from kiosk.autopilot import Autopilot, CustomerPlan, slot_for_customer
from kiosk.config import Config, load_config
from kiosk.demo.configs import write_demo_config
from kiosk.demo.fleet import start_console
from kiosk.demo.machines import DemoMachine, demo_machine
from kiosk.demo.phone import WALLET_PAID, SimulatedPhone
from kiosk.errors import KioskError
from kiosk.flow import Outcome, Screen, initial_state
from kiosk.payments.base import Order, PaymentRequest
from kiosk.sim import Fault, Sandbox
from kiosk.runtime import Runtime
from kiosk.session import run_kiosk
from kiosk.ui.display import why_no_display

log = logging.getLogger(__name__)

STAGED_WINDOW_S = 20          # short payment windows keep a staged run short
INTERACTIVE_WINDOW_S = 120
CANCEL_AFTER_S = 1.5
LATE_PAY_AFTER_S = CANCEL_AFTER_S + 2.0
OUTAGE_S = 5.0                # the gateway answers nothing this long from the customer's confirm
STATUS_FAULT_PAST_S = 2.0     # status calls fail this long past the window: never seen in time
SETTLE_S = STAGED_WINDOW_S + 45
GATEWAYS = ("mixpay", "wctpay", "centrapay", "lnbits")

# Scenario of customer k (0-based); customers past the list pay normally. The module docstring
# says what each one does; the fourth pays at the jammed slot.
SCENARIOS = ("pay", "gateway_outage", "pay", "pay", "part_paid_then_cancel", "expire",
             "pay_while_status_fails", "underpay_then_top_up", "spoofed_success",
             "cancel_then_pay", "cancel")
EXPECTED = {"pay": Outcome.VENDED, "underpay_then_top_up": Outcome.VENDED,
            "cancel": Outcome.CANCELLED, "cancel_then_pay": Outcome.CANCELLED,
            "part_paid_then_cancel": Outcome.CANCELLED, "expire": Outcome.EXPIRED,
            "pay_while_status_fails": Outcome.EXPIRED,
            "spoofed_success": Outcome.PAYMENT_FAILED, "gateway_outage": Outcome.PAYMENT_FAILED}
# Centrapay requests are paid whole: the nearest scenario instead.
# Centrapay requests and Lightning invoices are paid whole or not at all.
WHOLE_PAYMENTS_ONLY = frozenset({"centrapay", "lnbits"})
WHOLE_PAYMENTS_INSTEAD = {"underpay_then_top_up": "pay", "part_paid_then_cancel": "cancel"}
# Centrapay's checklist voids a request whose status stays unknown: the sale ends before the
# window does.
CENTRAPAY_EXPECTED = {"pay_while_status_fails": Outcome.PAYMENT_FAILED}
PLANS = {"cancel": CustomerPlan(CANCEL_AFTER_S), "cancel_then_pay": CustomerPlan(CANCEL_AFTER_S),
         "part_paid_then_cancel": CustomerPlan(CANCEL_AFTER_S, cancel_on=Screen.UNDERPAID)}
# A 503 for each status call of a payment ("{id}": the gateway's payment id). MixPay's and WCT
# Pay's paths do not name the payment: every status call fails meanwhile.
STATUS_FAULTS = {"mixpay": Fault("http_503", path="/v1/payments_result"),
                 "wctpay": Fault("http_503", path="/payment-pos/getupdate"),
                 "centrapay": Fault("http_503", path="/api/payment-requests/{id}", method="GET"),
                 "lnbits": Fault("http_503", path="/api/v1/payments/{id}", method="GET")}


@dataclass(frozen=True)
class DemoOptions:
    headless: bool = False
    customers: int | None = None
    data_dir: Path | None = None
    screenshots: Path | None = None
    lan_address: str | None = None
    gateway: str = "mixpay"
    driver: str = "simulated"
    console: bool = True          # the fleet console beside the kiosk (kiosk/demo/fleet.py)
    fleet_machines: int = 0       # simulated machines selling on their own, for the console


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
    gateway = config.payment.gateway
    staged = []
    for index in range(count):
        scenario = _scenario(index, count, gateway)
        slot = slot_for_customer(index, state)
        assert slot is not None, "the demo catalogue ran out of stock"
        expected = EXPECTED[scenario]
        if gateway == "centrapay":
            expected = CENTRAPAY_EXPECTED.get(scenario, expected)
        if expected is Outcome.VENDED and slot in failing:
            expected = Outcome.VEND_FAILED
            if failing[slot]:
                state = replace(state, disabled=state.disabled | {slot})
        elif expected is Outcome.VENDED:
            state = replace(state, stock={**state.stock, slot: state.stock[slot] - 1})
        staged.append(StagedCustomer(index, scenario, slot, expected))
    return staged


def _scenario(index: int, count: int, gateway: str) -> str:
    scenario = SCENARIOS[index] if index < len(SCENARIOS) else "pay"
    if scenario == "gateway_outage" and index == count - 1:
        return "pay"  # nobody after it would show the kiosk back in service
    if gateway in WHOLE_PAYMENTS_ONLY:
        return WHOLE_PAYMENTS_INSTEAD.get(scenario, scenario)
    return scenario


def run_demo(options: DemoOptions) -> int:
    no_display = None if options.headless else why_no_display()
    if no_display:
        raise KioskError(no_display)
    data_dir = _usable_data_dir(options.data_dir)
    print(f"kiosk demo: data directory {data_dir}", file=sys.stderr)
    host = "0.0.0.0" if options.lan_address else "127.0.0.1"
    staged_run = options.customers is not None
    window_s = STAGED_WINDOW_S if staged_run else INTERACTIVE_WINDOW_S
    # MixPay allows 60 requests a minute, Centrapay 200: the sandbox plays the chosen one.
    rate = 60 if options.gateway == "mixpay" else 200
    with Sandbox(host=host, confirm_s=1.0 if staged_run else 3.0,
                 requests_per_minute=rate) as sandbox, \
            start_console(data_dir, options.console, options.fleet_machines) as console:
        if options.lan_address:
            sandbox.public_base = f"http://{options.lan_address}:{urlsplit(sandbox.url).port}"
        with demo_machine(options.driver) as machine:
            config = load_config(write_demo_config(data_dir, options.gateway, options.driver,
                                                   sandbox, window_s, machine.mdb_port,
                                                   fleet=console.fleet_table() if console
                                                   else ""))
            print(f"kiosk demo: {options.gateway} sandbox at {sandbox.base(options.gateway)}; "
                  f"pay there: {_where_to_pay(options.gateway, sandbox)}", file=sys.stderr)
            if not staged_run:
                ok = run_kiosk(config, headless=options.headless,
                               screenshots=options.screenshots,
                               driver=machine.driver_for(config))
                return 0 if ok else 1
            phone = SimulatedPhone(options.gateway, sandbox.base(options.gateway))
            try:
                return _staged(config, options, sandbox, phone, machine)
            finally:
                phone.close()


def _usable_data_dir(chosen: Path | None) -> Path:
    """The demo's data directory: created, proven writable, and absolute, since the demo config
    written into it names it, and a relative name there is read from the config's directory."""
    if chosen is None:
        return Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    data_dir = chosen.resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=data_dir).close()  # permissions, a read-only mount
    except FileExistsError:
        raise KioskError(f"demo data directory {data_dir} is a file, not a directory") from None
    except OSError as exc:
        raise KioskError(f"demo data directory {data_dir} is not usable: "
                         f"{exc.strerror or exc}") from None
    return data_dir


def _where_to_pay(gateway: str, sandbox: Sandbox) -> str:
    if gateway in WALLET_PAID:  # the QR holds no page: the sandbox's wallet page pays it
        return f"{sandbox.base(gateway, public=True)}/wallet"
    return "open the link in the QR code"


def _staged(config: Config, options: DemoOptions, sandbox: Sandbox, phone: SimulatedPhone,
            machine: DemoMachine) -> int:
    assert options.customers is not None
    staged = plan_customers(options.customers, config, machine.failing)
    gateway = options.gateway
    outcomes: list[dict[str, Any]] = []

    def plan(index: int) -> CustomerPlan:
        return PLANS.get(staged[index].scenario, CustomerPlan())

    def confirm(index: int) -> None:
        if staged[index].scenario == "gateway_outage":
            sandbox.inject_for(gateway, Fault("no_answer"), OUTAGE_S)

    def act(index: int, order: Order, request: PaymentRequest) -> None:
        scenario = staged[index].scenario
        if scenario == "pay_while_status_fails":  # from before the phone pays to past the window
            until = order.expires_at + STATUS_FAULT_PAST_S
            sandbox.inject_for(gateway, _status_fault(gateway, request), until - time.time())
        step = _phone_step(phone, scenario, order, request)
        if step is not None:
            phone.later(step)

    def settle(runtime: Runtime) -> None:
        # Late payments and refunds must reach the journal before the money check reads it.
        runtime.settle(SETTLE_S, watches=True)

    autopilot = Autopilot(len(staged), plan, on_payment_shown=act, on_confirm=confirm)
    budget = 30.0 + len(staged) * (STAGED_WINDOW_S + 10)
    finished = run_kiosk(config, headless=options.headless, screenshots=options.screenshots,
                         autopilot=autopilot, on_sale=outcomes.append, max_run_s=budget,
                         before_close=settle, driver=machine.driver_for(config))
    customers_ok = _report(staged, outcomes, finished, autopilot)
    money_ok = _money_check(config.machine.data_dir, sandbox, gateway)
    return 0 if customers_ok and money_ok else 1


def _status_fault(gateway: str, request: PaymentRequest) -> Fault:
    fault = STATUS_FAULTS[gateway]
    return replace(fault, path=fault.path.format(id=request.payment_id))


def _phone_step(phone: SimulatedPhone, scenario: str, order: Order,
                request: PaymentRequest) -> Callable[[], None] | None:
    """What the customer's phone does once the QR is on screen; None: nothing."""
    steps: dict[str, Callable[[], None]] = {
        "pay": lambda: phone.pay(order, request),
        "pay_while_status_fails": lambda: phone.pay(order, request),
        "underpay_then_top_up": lambda: phone.underpay_then_top_up(order, request),
        "part_paid_then_cancel": lambda: phone.pay_part(request),
        "spoofed_success": lambda: phone.pay_spoofed(request),
        "cancel_then_pay": lambda: phone.pay(order, request, LATE_PAY_AFTER_S),
    }
    return steps.get(scenario)


def _report(staged: list[StagedCustomer], outcomes: list[dict[str, Any]], finished: bool,
            autopilot: Autopilot) -> bool:
    failures = 0 if finished else 1
    for customer in staged:
        got = outcomes[customer.index]["outcome"] if customer.index < len(outcomes) else None
        ok, note = got == customer.expected.value, ""
        if customer.scenario == "gateway_outage":
            back = _out_of_service_and_back(autopilot.journey(customer.index))
            ok = ok and back
            note = (", then out of service and back" if back
                    else ", but the kiosk was not out of service and back")
        failures += not ok
        print(f"kiosk demo: customer {customer.index + 1} ({customer.scenario}, "
              f"slot {customer.slot}): expected {customer.expected.value}, got {got}{note} "
              f"[{'ok' if ok else 'WRONG'}]", file=sys.stderr)
    print(f"kiosk demo: {len(staged) - failures} of {len(staged)} customers as expected",
          file=sys.stderr)
    return failures == 0


def _out_of_service_and_back(journey: Sequence[Screen]) -> bool:
    """After the customer's failed payment the kiosk went out of service, then came back
    (attract) by itself."""
    rest = list(journey)
    for screen in (Screen.PAYMENT_FAILED, Screen.OUT_OF_SERVICE, Screen.ATTRACT):
        if screen not in rest:
            return False
        rest = rest[rest.index(screen) + 1:]
    return True


def _money_check(data_dir: Path, sandbox: Sandbox, gateway: str) -> bool:
    """Hold the journal to what the sandbox received; print the verdict and each violation."""
    verdict = audit(data_dir, lambda: sandbox.received(gateway))
    print(f"kiosk demo: money check: {verdict.summary()}", file=sys.stderr)
    for violation in verdict.violations:
        print(f"kiosk demo: money check: {violation}", file=sys.stderr)
    return verdict.ok

