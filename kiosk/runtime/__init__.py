"""Wires the pure flow to the world: runs its effects on worker threads, feeds results back.

``Runtime`` only wires. Each effect the flow (or the operator menu) asks for has one route: the
worker that runs it and its handler, in one of the parts by job:

- ``payments``: create, abandon, the coin list, money that came late (``PaymentEffects``);
- ``vending``: the vend and its result, a late result from the machine (``VendEffects``);
- ``owed``: refunds and claims for money that bought nothing (``RefundDesk``);
- ``health``: whether the kiosk may sell, and why not (``Health``);
- ``startup``: recovery after a restart (``Startup``);
- ``operator``: the operator menu's reads and writes (``OperatorActions``);
- ``remote``: the fleet's signed commands, checked by ``kiosk.fleet`` (``RemoteCommands``).

``routes`` is the table of every effect's route; ``tasks`` hands them to the workers, counted.

Threads: the caller's (pygame's main thread) calls ``post`` and ``pump`` and never waits on the
network, the disk or the hardware; the *sale* worker runs every effect that touches a
transaction, strictly in the order the flow asked for them, so the journal always sees intent
before action; the *misc* worker loads coin lists, checks health and reads for the operator;
the payment watcher polls the gateway; the refund worker works off the journal's refund queue.
The kiosk is in service only while the vend hardware is ready *and* the gateway answered
recently (``kiosk.gateway_health``): it never asks for money it cannot take or turn into an item.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hardware.base import KeypadSelection, VendDriver, VendResult
from kiosk import operator as op
from kiosk.flow import (
    CancelPressed,
    CoinChosen,
    DonePressed,
    Effect,
    Event,
    Flow,
    ItemChosen,
    KeypadSelected,
    KioskState,
    ReleaseSelection,
    Screen,
    StartTapped,
    Tick,
    WallClockSet,
)
from kiosk.config import Config
from kiosk.gateway_health import GatewayHealth, MonitoredGateway
from kiosk.journal import Journal
from kiosk.payments.base import Gateway
from kiosk.refunds import RefundWorker
from kiosk.runtime.health import STARTING_UP, Health
from kiosk.runtime.operator import OperatorActions
from kiosk.runtime.owed import RefundDesk
from kiosk.runtime.parts import Parts, SlotWiring
from kiosk.runtime.payments import PaymentEffects
from kiosk.runtime.remote import RemoteCommands
from kiosk.runtime.routes import operator_routes, sale_routes
from kiosk.runtime.startup import Startup
from kiosk.runtime.tasks import Route, Tasks
from kiosk.runtime.vending import VendEffects
from kiosk.watcher import PaymentWatcher
from kiosk.worker import EffectWorker, SupervisedLoop

if TYPE_CHECKING:
    from kiosk.fleet.commands import Command   # cryptography: only with a fleet

__all__ = ["STARTING_UP", "Runtime", "SlotWiring"]

log = logging.getLogger(__name__)

REFUND_GIVE_UP_S = 72 * 3600.0
WALL_CLOCK_STEP_S = 1.0           # a wall clock this far off the last reading was stepped
WEDGED_MARGIN_S = 60.0            # a task this much longer than the longest vend never returns
# Taps a customer makes: dropped while the operator menu is open.
CUSTOMER_EVENTS = (StartTapped, ItemChosen, CoinChosen, CancelPressed, DonePressed)
SALE_IDLE_SCREENS = frozenset({Screen.ATTRACT, Screen.OUT_OF_SERVICE})

class Runtime:
    def __init__(self, flow: Flow, state: KioskState, *, gateway: Gateway, driver: VendDriver,
                 journal: Journal, wiring: dict[str, SlotWiring], initial_stock: dict[str, int],
                 poll_interval_s: float, on_sale_finished: Callable[[dict[str, Any]], None],
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, operator_pin_hash: str = "",
                 failures_to_disable: int = 2,
                 refund_give_up_s: float = REFUND_GIVE_UP_S,
                 late_result_window_s: float = 0.0,
                 time_synced: Callable[[], bool | None] | None = None) -> None:
        self.flow = flow
        self.state = state                  # the UI thread's alone
        self.journal = journal
        self.gateway_health = GatewayHealth()
        self._on_sale_finished = on_sale_finished
        self._clock = clock
        self._events: queue.SimpleQueue[Event | op.OpEvent] = queue.SimpleQueue()
        self.wakeup = threading.Event()  # set by post(): the UI loop waits on it
        self._tasks = Tasks(journal, lambda: self.health.check_now())
        # A task running longer than the longest vend is wedged: the watchdog pings stop.
        stale_after_s = flow.settings.vend_backstop_s + WEDGED_MARGIN_S
        self._sale_worker = EffectWorker("sale", stale_after_s, clock)
        self._misc_worker = EffectWorker("misc", stale_after_s, clock)
        parts = Parts(
            settings=flow.settings, gateway=MonitoredGateway(gateway, self.gateway_health),
            gateway_health=self.gateway_health, driver=driver, journal=journal, wiring=wiring,
            products={product.slot_id: product for product in state.products},
            initial_stock=initial_stock, sale_worker=self._sale_worker,
            misc_worker=self._misc_worker, post=self.post, submit=self._tasks.submit, clock=clock,
            wall_clock=wall_clock)
        self._parts = parts
        # Refunds retry for hours; they must not hold up the next customer's sale.
        self.refunds = RefundWorker(parts.gateway, journal, refund_give_up_s)
        self.watcher = PaymentWatcher(parts.gateway, journal, self.post, poll_interval_s, clock,
                                      on_unknown=lambda order, request:
                                      self._payments.status_unknown(order, request),
                                      wall_clock=wall_clock)
        self.health = Health(parts, self.watcher, self.refunds, time_synced)
        owed = RefundDesk(parts, self.refunds)
        self._payments = PaymentEffects(parts, self.health, owed, self.watcher)
        self._vending = VendEffects(parts, self.health, owed, self.refunds,
                                    failures_to_disable=failures_to_disable,
                                    late_result_window_s=late_result_window_s)
        self._startup = Startup(parts, self.health, owed, self._payments, self.watcher)
        self._operator_actions = OperatorActions(parts, operator_pin_hash)
        self.operator_menu = op.OperatorMenu()
        self.operator = op.OperatorState(has_pin=bool(operator_pin_hash))
        self._routes = sale_routes(parts, self._payments, self._vending, on_sale_finished)
        self._operator_routes = operator_routes(parts, self._operator_actions)
        self._more_loops: list[SupervisedLoop] = []

    # -- lifecycle

    def start(self) -> None:
        """Recover the journal and check the hardware, off the caller's thread."""
        self.watcher.start()
        self.refunds.start()
        self._parts.driver.set_selection_listener(self._keypad_selection)
        self._parts.driver.set_unclaimed_result_listener(self._unclaimed_result)
        self._tasks.submit(self._misc_worker, self._startup.run)

    def close(self) -> None:
        self._sale_worker.shutdown()
        self._misc_worker.shutdown()
        self.refunds.stop()
        self.watcher.stop()
        self._parts.gateway.close()
        self._parts.driver.close()
        self.journal.close()

    # -- the caller's side

    def alive(self) -> bool:
        """Every worker thread is running and recent: what the systemd watchdog ping needs."""
        return (self.watcher.alive() and self.refunds.alive() and self._sale_worker.alive()
                and self._misc_worker.alive() and all(loop.alive() for loop in self._more_loops))

    def fleet_commands(self, config: Config) -> Callable[[Command], None]:
        """Where the fleet link hands a checked command: applied on the sale worker, in
        order with the sales."""
        remote = RemoteCommands(self._parts, self.health, config)
        route = Route["Command"](self._sale_worker, remote.apply, remote.crashed)
        return lambda command: self._tasks.run(route, command)

    def supervise(self, loop: SupervisedLoop) -> None:
        """One more worker thread the watchdog ping depends on (the fleet link)."""
        self._more_loops.append(loop)

    def stop_selling(self) -> None:
        """The kiosk is shutting down: what is under way finishes, no new sale starts."""
        self.health.stop_selling()

    def post(self, event: Event | op.OpEvent) -> None:
        """Queue an event and wake the UI loop; safe from any thread."""
        self._events.put(event)
        self.wakeup.set()

    def pump(self, now: float | None = None) -> bool:
        """Feed queued events (and a clock tick) to the flow; True if the state changed."""
        now = self._clock() if now is None else now
        before, operator_before = self.state, self.operator
        self._follow_wall_clock(now)
        self.health.maybe_check(now, faulty=bool(self.state.hardware_fault))
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            self._step(event, now)
        self._step(Tick(), now)
        return self.state is not before or self.operator is not operator_before

    def settle(self, timeout_s: float, *, watches: bool) -> bool:
        """Keep pumping until no effect is in flight (and, with ``watches``, no payment is
        watched and no refund is queued), so what happens after the UI stops still reaches the
        journal."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.pump()
            busy = self._tasks.busy()
            waiting = watches and (self.watcher.pending() or self.refunds.pending())
            if not busy and self._events.empty() and not waiting:
                return True
            time.sleep(0.05)
        return False

    def _follow_wall_clock(self, now: float) -> None:
        """Tell the flow when the wall clock was stepped (NTP on a Pi without a real-time
        clock): its deadlines stay on ``now``, only the order's expiry is dated by it."""
        offset = self._parts.wall_clock() - now
        if abs(offset - self.state.wall_offset_s) > WALL_CLOCK_STEP_S:
            if self.state.wall_offset_s:
                log.warning("the wall clock moved by %+.0f s", offset - self.state.wall_offset_s)
            self._step(WallClockSet(offset), now)

    def _step(self, event: Event | op.OpEvent, now: float) -> None:
        if isinstance(event, op.OpEvent) or (isinstance(event, Tick) and self.operator.open):
            self._operator_step(event, now)
            if not isinstance(event, Tick):
                return
        elif self.operator.open and isinstance(event, CUSTOMER_EVENTS):
            return  # the operator has the screen: no customer starts a sale
        elif self.operator.open and isinstance(event, KeypadSelected):
            self._dispatch(ReleaseSelection())  # nor from the machine's keypad
            return
        if isinstance(event, (StartTapped, KeypadSelected)):
            self.health.customer_coming(now)
        transition = self.flow.step(self.state, event, now)
        self.state = transition.state
        for effect in transition.effects:
            self._dispatch(effect)

    def _dispatch(self, effect: Effect) -> None:
        self._tasks.run(self._routes[type(effect)], effect)

    def _operator_step(self, event: object, now: float) -> None:
        # The gesture's press starts browsing on attract: nothing is chosen yet, so that counts
        # as idle, and the item list is left for attract when the menu opens.
        browsing = self.state.screen is Screen.CHOOSE_ITEM and self.state.sale is None
        was_open = self.operator.open
        transition = self.operator_menu.step(
            self.operator, event, now,
            sale_idle=self.state.screen in SALE_IDLE_SCREENS or browsing)
        self.operator = transition.state
        if self.operator.open and not was_open and browsing:
            flow = self.flow.step(self.state, CancelPressed(), now)
            self.state = flow.state
            for flow_effect in flow.effects:
                self._dispatch(flow_effect)
        for effect in transition.effects:
            self._tasks.run(self._operator_routes[type(effect)], effect)

    # -- the vend driver's reader thread: only hand over

    def _keypad_selection(self, selection: KeypadSelection) -> None:
        self.post(KeypadSelected(selection.item, selection.price_minor))

    def _unclaimed_result(self, result: VendResult) -> None:
        self._tasks.submit(self._sale_worker, self._vending.resolve_unclaimed, result)
