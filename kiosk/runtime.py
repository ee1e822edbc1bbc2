"""Wires the pure flow to the world: runs its effects on worker threads, feeds results back.

Threads:
- the caller's thread (pygame's main thread) calls ``post`` and ``pump``; it never waits on the
  network, the disk or the hardware;
- one *sale* worker runs every effect that touches a transaction (create, abandon, vend, claim,
  paid-late), strictly in the order the flow asked for them, so the journal always sees intent
  before action;
- one *misc* worker loads coin lists and checks the health of the machine and the gateway;
- the payment watcher polls the gateway;
- the refund worker works off the journal's refund queue.

The kiosk is in service only while the vend hardware is ready *and* the gateway answered
recently (``kiosk.gateway_health``): it never asks for money it cannot take or turn into an
item.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime, timedelta
from collections.abc import Callable
from decimal import Decimal
from dataclasses import dataclass
from typing import Any

from hardware.base import KeypadSelection, VendDriver, VendOutcome, VendRequest, VendResult
from kiosk.claims import claim_code
from kiosk.errors import (
    GatewayError,
    GatewayProtocolError,
    GatewayRejected,
    GatewayUnavailable,
    JournalError,
    KioskError,
)
from kiosk import operator as op
from kiosk.flow import (
    AbandonPayment,
    CancelPressed,
    ClaimReason,
    CoinChosen,
    DonePressed,
    ItemChosen,
    SaleInterrupted,
    Screen,
    StartTapped,
    AssetsFailed,
    AssetsLoaded,
    CreatePayment,
    Effect,
    Event,
    Flow,
    HardwareChanged,
    KeypadSelected,
    KioskState,
    LoadAssets,
    PaymentCreated,
    PaymentCreateFailed,
    PaymentUpdate,
    RecordPaidLate,
    ReleaseSelection,
    SaleFinished,
    StockChanged,
    Tick,
    Vend,
    VendFinished,
    VendPrompted,
    WallClockSet,
)
from kiosk.firstboot import recorded_errors
from kiosk.gateway_health import GatewayHealth, MonitoredGateway
from kiosk.journal import OPEN_CLAIM_STATUSES, PIN_FAILED, PIN_LOCKED, PIN_OK, Journal, utc_now
from kiosk.operator_pin import verify_pin
from kiosk.money import format_amount, to_minor
from kiosk.payments.base import Gateway, Order, PaymentRequest, PaymentState, PaymentStatus
from kiosk.refunds import RefundWorker, refund_reference
from kiosk.time_sync import clock_fault
from kiosk.watcher import PaymentWatcher
from kiosk.worker import EffectWorker

log = logging.getLogger(__name__)

HEALTH_CHECK_INTERVAL_S = 30.0
FAULT_RECHECK_INTERVAL_S = 2.0    # out of service: notice quickly when the machine is back
REFUND_GIVE_UP_S = 72 * 3600.0
CUSTOMER_FRESH_S = 20.0           # a customer's first tap probes a gateway quiet for longer
INTERRUPTED_RECENT_S = 300.0      # a sale cut short this recently may still have its customer
WALL_CLOCK_STEP_S = 1.0           # a wall clock this far off the last reading was stepped
WEDGED_MARGIN_S = 60.0            # a task this much longer than the longest vend never returns
STARTING_UP = "starting up"
# Taps a customer makes: dropped while the operator menu is open.
CUSTOMER_EVENTS = (StartTapped, ItemChosen, CoinChosen, CancelPressed, DonePressed)
SALE_IDLE_SCREENS = frozenset({Screen.ATTRACT, Screen.OUT_OF_SERVICE})


@dataclass(frozen=True)
class SlotWiring:
    """What the vend driver needs to know about a slot (from config)."""

    motor: str | None
    mdb_item: int | None


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
        self.state = state
        # Workers read this immutable copy, never ``state`` (the UI thread's alone).
        self._products = {product.slot_id: product for product in state.products}
        self.gateway_health = GatewayHealth()
        self._gateway = MonitoredGateway(gateway, self.gateway_health)
        self._failures_to_disable = failures_to_disable
        self._late_result_window_s = late_result_window_s
        self._customer_coming = False    # a tap asked for a fresh look at the gateway
        self._driver = driver
        self._journal = journal
        self._wiring = wiring
        self._initial_stock = initial_stock
        self._on_sale_finished = on_sale_finished
        self._clock = clock              # every duration and deadline
        self._wall_clock = wall_clock    # only what is dated: the journal, the gateway
        self._time_synced = time_synced  # None: the wall clock is trusted (kiosk.time_sync)
        self._events: queue.SimpleQueue[Event | op.OpEvent] = queue.SimpleQueue()
        self.wakeup = threading.Event()  # set by post(): the UI loop waits on it
        # A task running longer than the longest vend is wedged: the watchdog pings stop.
        stale_after_s = flow.settings.vend_backstop_s + WEDGED_MARGIN_S
        self._sale_worker = EffectWorker("sale", stale_after_s, clock)
        self._misc_worker = EffectWorker("misc", stale_after_s, clock)
        # Refunds retry for hours; they must not hold up the next customer's sale.
        self.refunds = RefundWorker(self._gateway, journal, refund_give_up_s)
        self.watcher = PaymentWatcher(self._gateway, journal, self.post, poll_interval_s, clock,
                                      on_unknown=self._status_unknown, wall_clock=wall_clock)
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._next_health_check = clock() + FAULT_RECHECK_INTERVAL_S  # start-up checks first
        self._health_pending = False
        self._startup_fault = STARTING_UP
        self._stopping = ""               # set once: the kiosk is shutting down
        self._pin_hash = operator_pin_hash
        self.operator_menu = op.OperatorMenu()
        self.operator = op.OperatorState(has_pin=bool(operator_pin_hash))

    # -- lifecycle

    def start(self) -> None:
        """Recover the journal and check the hardware, off the caller's thread."""
        self.watcher.start()
        self.refunds.start()
        self._driver.set_selection_listener(self._keypad_selection)
        self._driver.set_unclaimed_result_listener(self._unclaimed_result)
        self._submit(self._misc_worker, self._startup)

    def close(self) -> None:
        self._sale_worker.shutdown()
        self._misc_worker.shutdown()
        self.refunds.stop()
        self.watcher.stop()
        self._gateway.close()
        self._driver.close()
        self._journal.close()

    # -- the caller's side

    def alive(self) -> bool:
        """Every worker thread is running and recent: what the systemd watchdog ping needs."""
        return (self.watcher.alive() and self.refunds.alive() and self._sale_worker.alive()
                and self._misc_worker.alive())

    def stop_selling(self) -> None:
        """The kiosk is shutting down: what is under way finishes, no new sale starts."""
        self._stopping = "shutting down"
        self.post(HardwareChanged(self._stopping))

    def post(self, event: Event | op.OpEvent) -> None:
        """Queue an event and wake the UI loop; safe from any thread."""
        self._events.put(event)
        self.wakeup.set()

    def pump(self, now: float | None = None) -> bool:
        """Feed queued events (and a clock tick) to the flow; True if the state changed."""
        now = self._clock() if now is None else now
        before, operator_before = self.state, self.operator
        self._follow_wall_clock(now)
        self._maybe_check_health(now)
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            self._step(event, now)
        self._step(Tick(), now)
        return self.state is not before or self.operator is not operator_before

    def _follow_wall_clock(self, now: float) -> None:
        """Tell the flow when the wall clock was stepped (NTP on a Pi without a real-time
        clock): its deadlines stay on ``now``, only the order's expiry is dated by it."""
        offset = self._wall_clock() - now
        if abs(offset - self.state.wall_offset_s) > WALL_CLOCK_STEP_S:
            if self.state.wall_offset_s:
                log.warning("the wall clock moved by %+.0f s", offset - self.state.wall_offset_s)
            self._step(WallClockSet(offset), now)

    def _monotonic(self, wall_time: float) -> float:
        """A wall-clock time (a PIN lock's end) as the UI thread's ``now`` reads it; 0: none."""
        return self._clock() + wall_time - self._wall_clock() if wall_time else 0.0

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
        if isinstance(event, (StartTapped, KeypadSelected)) and \
                not self.gateway_health.fresh(CUSTOMER_FRESH_S):
            # A customer is coming: make sure the gateway answers before a coin is chosen.
            self._customer_coming = True
            self._next_health_check = min(self._next_health_check, now)
        transition = self.flow.step(self.state, event, now)
        self.state = transition.state
        for effect in transition.effects:
            self._dispatch(effect)

    def _dispatch(self, effect: Effect) -> None:
        if isinstance(effect, SaleFinished):
            self._on_sale_finished(self._sale_line(effect))
        elif isinstance(effect, LoadAssets):
            self._submit(self._misc_worker, self._load_assets, effect)
        elif isinstance(effect, CreatePayment):
            self._submit(self._sale_worker, self._create_payment, effect.order,
                         on_failure=lambda exc: self.post(PaymentCreateFailed(
                             effect.order.tx_id, f"internal error: {type(exc).__name__}")))
        elif isinstance(effect, AbandonPayment):
            self._submit(self._sale_worker, self._abandon, effect)
        elif isinstance(effect, Vend):
            self._submit(self._sale_worker, self._vend, effect,
                         on_failure=lambda exc: self._vend_crashed(effect, exc))
        elif isinstance(effect, RecordPaidLate):
            self._submit(self._sale_worker, self._record_paid_late, effect)
        elif isinstance(effect, ReleaseSelection):
            self._submit(self._sale_worker, self._driver.release_selection)

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
            if isinstance(effect, (op.ReadLock, op.LoadSlots, op.LoadSales, op.CheckStatus)):
                self._submit(self._misc_worker, self._op_read, effect)
            elif isinstance(effect, op.CheckPin):
                self._submit(self._misc_worker, self._check_pin, effect.pin)
            else:  # writes and the test vend: in order with the sale work, one motor at a time
                self._submit(self._sale_worker, self._op_write, effect)

    def settle(self, timeout_s: float, *, watches: bool) -> bool:
        """Keep pumping until no effect is in flight (and, with ``watches``, no payment is
        watched and no refund is queued), so what happens after the UI stops still reaches the
        journal."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.pump()
            with self._in_flight_lock:
                busy = self._in_flight > 0
            waiting = watches and (self.watcher.pending() or self.refunds.pending())
            if not busy and self._events.empty() and not waiting:
                return True
            time.sleep(0.05)
        return False

    def _submit(self, worker: EffectWorker, fn: Callable[..., None], *args: Any,
                on_failure: Callable[[Exception], None] | None = None) -> None:
        with self._in_flight_lock:
            self._in_flight += 1
        worker.submit(fn, *args, on_failure=self._task_failed(on_failure), done=self._task_done)

    def _task_failed(self, then: Callable[[Exception], None] | None
                     ) -> Callable[[Exception], None]:
        def failed(exc: Exception) -> None:
            self._next_health_check = self._clock()   # out of service with the reason, now
            if then is not None:
                then(exc)
        return failed

    def _task_done(self) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1
        if self._journal.write_fault:   # the disk filled up: out of service now, not in 30 s
            self._next_health_check = self._clock()

    def _sale_line(self, effect: SaleFinished) -> dict[str, Any]:
        order = effect.order
        asset = order.asset.symbol if order.asset else effect.paid_symbol
        return {"tx": order.tx_id, "slot": order.slot_id, "gateway": self._gateway.name,
                "asset": asset, "amount": format_amount(order.amount, order.currency),
                "currency": order.currency, "payment_link": effect.payment_link,
                "outcome": effect.outcome.value}

    def _maybe_check_health(self, now: float) -> None:
        if now < self._next_health_check or self._health_pending:
            return
        faulty = bool(self.state.hardware_fault)
        self._next_health_check = now + (FAULT_RECHECK_INTERVAL_S if faulty
                                         else HEALTH_CHECK_INTERVAL_S)
        self._health_pending = True
        self._submit(self._misc_worker, self._check_health)

    # -- worker side: every method below runs off the caller's thread

    def _keypad_selection(self, selection: KeypadSelection) -> None:
        """On the driver's reader thread: only hand it over."""
        self.post(KeypadSelected(selection.item, selection.price_minor))

    def _unclaimed_result(self, result: VendResult) -> None:
        """On the driver's reader thread: only hand it over to the sale worker."""
        self._submit(self._sale_worker, self._resolve_unclaimed, result)

    def _resolve_unclaimed(self, result: VendResult) -> None:
        """The machine reports the vend that a crash (or a lapsed budget) left unknown: settle
        that sale by it, if exactly one was being dispensed that recently; never another."""
        since = utc_now() - timedelta(seconds=self._late_result_window_s)
        candidates = self._journal.unresolved_vends(since)
        if len(candidates) != 1:
            log.warning("vend result %s matches %d unknown vend(s): left to the operator",
                        result.outcome.value, len(candidates))
            return
        tx_id = candidates[0]
        self._journal.resolve_vend(tx_id, result.outcome.value, {"detail": result.detail})
        log.warning("vend %s resolved by the machine's late report: %s", tx_id,
                    result.outcome.value)
        if not result.vended and result.outcome is not VendOutcome.UNKNOWN:
            # a certain failure now: the money can go back
            self._refund_if_possible(tx_id, "vend failed (reported after a restart)")
        self._post_stock()

    def _startup(self) -> None:
        try:
            self._recover()
        except KioskError as exc:
            # Selling without a journal would break exactly-once: stay out of service, say why.
            log.error("start-up failed: %s", exc)
            self._startup_fault = f"start-up failed: {exc}"
        self._check_health()

    def _recover(self) -> None:
        self._journal.init_slots(self._initial_stock)
        report = self._journal.recover()
        if report.vend_unknown or report.refund_due:
            log.warning("recovered: %d vend(s) of unknown result, %d paid sale(s) due a refund",
                        len(report.vend_unknown), len(report.refund_due))
        for tx_id in report.not_dispensed:  # certainly not dispensed: the money can go back
            self._refund_if_possible(tx_id, "the kiosk stopped before the machine was told to "
                                            "vend", show_reference=True)
        for order, request in self._journal.watched_orders():
            request = request or self._lost_request(order)
            if request is not None:
                self.watcher.watch(order, request, late=True)
        self._show_interrupted(report.vend_unknown + report.refund_due)
        self._post_stock()
        # The operator's new file was refused: never sell on the old config without saying so.
        rejected = recorded_errors(self._journal.path.parent)
        self._startup_fault = " ".join(rejected.splitlines()[:2])

    def _show_interrupted(self, recovered: tuple[str, ...]) -> None:
        """The newest sale a crash cut short in the last minutes: its customer may still be
        there, so its claim is on the screen before the next customer's "touch to start"."""
        recent = [tx for tx in map(self._journal.transaction, recovered)
                  if self._wall_age_s(tx["created_at"]) < INTERRUPTED_RECENT_S]
        if not recent:
            return
        tx = max(recent, key=lambda t: t["created_at"])
        order, _ = self._journal.sale(tx["id"])
        reason = (ClaimReason.VEND_UNKNOWN if tx["status"] == "vend_unknown"
                  else ClaimReason.VEND_FAILED)
        self.post(SaleInterrupted(order, tx["claim_code"], reason))

    def _wall_age_s(self, stamp: str) -> float:
        return self._wall_clock() - datetime.fromisoformat(stamp).timestamp()

    def _check_health(self) -> None:
        try:
            health = self._driver.health()
            hardware = "" if health.ready else health.reason or "not ready"
            # Without its watcher the kiosk would never see a payment: out of service.
            fault = (self._stopping or self._startup_fault or self._journal_fault()
                     or self._time_fault() or hardware
                     or self._sale_worker.fault or self._misc_worker.fault
                     or self.watcher.fault or self.refunds.fault
                     or self.watcher.status_fault()
                     or self._gateway_fault())
            self.post(HardwareChanged(fault))
            if fault:  # notice the cause going away quickly
                self._recheck_soon()
        finally:
            self._health_pending = False

    def _recheck_soon(self) -> None:
        self._next_health_check = min(self._next_health_check,
                                      self._clock() + FAULT_RECHECK_INTERVAL_S)

    def _journal_fault(self) -> str:
        """A journal that cannot be written (disk full, read-only, failing): no sale may start,
        since none could be recorded; checked again by a write until it heals."""
        return self._journal.check_writable() if self._journal.write_fault else ""

    def _time_fault(self) -> str:
        """Out of service until the wall clock is synchronised; once it is, for good (later
        steps move no deadline, and the sales already dated stay as they were)."""
        if self._time_synced is None:
            return ""
        fault = clock_fault(self._time_synced())
        if not fault:
            log.info("the clock is synchronised: payments can be taken")
            self._time_synced = None
        return fault

    def _gateway_fault(self) -> str:
        """Probe the gateway when it has not answered recently; its fault, or ""."""
        max_age_s = CUSTOMER_FRESH_S if self._customer_coming else None
        self._customer_coming = False
        if self.gateway_health.probe_due(max_age_s):
            try:
                self._gateway.check_reachable(Decimal("1"), self.flow.settings.currency)
            except GatewayRejected as exc:  # it answers, but will not take our payments
                self.gateway_health.unreachable(str(exc))
                self.gateway_health.probe_failed()
            except GatewayError as exc:
                log.warning("payment gateway not reachable: %s", exc)
                self.gateway_health.probe_failed()
        return self.gateway_health.fault

    def _post_stock(self) -> None:
        slots = self._journal.slot_states()
        self.post(StockChanged({k: s.stock for k, s in slots.items()},
                               frozenset(k for k, s in slots.items() if s.disabled)))

    def _load_assets(self, effect: LoadAssets) -> None:
        try:
            assets = self._gateway.list_assets(effect.amount, effect.currency)
        except GatewayError as exc:
            log.warning("coin list not available: %s", exc)
            self.post(AssetsFailed(effect.slot_id, str(exc)))
            return
        self.post(AssetsLoaded(effect.slot_id, tuple(assets)))

    def _create_payment(self, order: Order) -> None:
        try:
            self._journal.begin(order, self._gateway.name)
        except JournalError as exc:
            log.error("journal refused a new sale: %s", exc)
            self.post(PaymentCreateFailed(order.tx_id, "journal unavailable"))
            return
        if self.gateway_health.fault:  # known unreachable: do not ask for money now
            self.post(PaymentCreateFailed(order.tx_id, self.gateway_health.fault))
            return
        health = self._driver.health()
        if not health.ready:  # never take money the machine cannot turn into an item
            self.post(HardwareChanged(health.reason or "not ready"))
            self.post(PaymentCreateFailed(order.tx_id, f"machine not ready: {health.reason}"))
            self._recheck_soon()  # and notice it coming back as quickly
            return
        try:
            request = self._gateway.create(order)
        except GatewayError as exc:
            log.warning("payment for %s not created: %s", order.tx_id, exc)
            if isinstance(exc, (GatewayUnavailable, GatewayProtocolError)):
                # The gateway may have created it before the reply was lost: watch it until
                # the gateway's own expiry for it.
                lost = self._lost_request(order)
                if lost is not None:
                    self.watcher.watch(order, lost, late=True, confirmed=False)
                self._submit(self._misc_worker, self._check_health)  # out of service now?
            self.post(PaymentCreateFailed(order.tx_id, str(exc)))
            return
        try:
            self._journal.payment_created(order.tx_id, request)
        except JournalError as exc:
            # No QR without its record: the customer is not asked to pay; it is still watched.
            log.error("could not journal payment of %s: %s", order.tx_id, exc)
            self.watcher.watch(order, request, late=True)
            self.post(PaymentCreateFailed(order.tx_id, "journal unavailable"))
            return
        # Posted before the first poll can report anything, so the flow sees them in order.
        self.post(PaymentCreated(order.tx_id, request))
        self.watcher.watch(order, request)

    def _lost_request(self, order: Order) -> PaymentRequest | None:
        """The gateway's handle for a payment whose create reply we never got, if it has one."""
        try:
            return self._gateway.request_for(order)
        except GatewayError as exc:  # Centrapay looks it up over the network
            log.warning("could not look up the payment of %s: %s", order.tx_id, exc)
            return None

    def _abandon(self, effect: AbandonPayment) -> None:
        order = effect.order
        try:
            self._journal.abandoned(order.tx_id, effect.kind, {"reason": effect.reason},
                                    code=effect.claim_code, open_claim=effect.open_claim)
        except JournalError as exc:
            log.error("could not journal %s of %s: %s", effect.kind, order.tx_id, exc)
        if effect.open_claim:
            log.warning("sale %s ended with money owed (%s): claim code %s", order.tx_id,
                        effect.reason, effect.claim_code)
        if not self.watcher.abandon(order.tx_id):
            return
        if self._gateway.can_cancel:
            self._cancel_at_gateway(order)

    def _cancel_at_gateway(self, order: Order) -> None:
        try:
            request = self._journal.sale(order.tx_id)[1] or self._lost_request(order)
            if request is None:
                return  # the gateway never created it
            status = self._gateway.cancel(order, request)
        except (GatewayError, JournalError) as exc:
            log.warning("cancel of %s failed (%s); still watching it", order.tx_id, exc)
            return
        # PAID: it was paid after all; CANCELLED: the screen may now say "not charged".
        self.post(PaymentUpdate(order.tx_id, status))

    def _vend(self, effect: Vend) -> None:
        order = effect.order
        try:
            self._journal.paid_verified(order.tx_id, {"slot": order.slot_id})
            allowed = self._journal.start_vend(order.tx_id)
        except JournalError as exc:
            log.error("not vending %s: the journal failed (%s)", order.tx_id, exc)
            self.post(VendFinished(order.tx_id, VendOutcome.DENIED.value,
                                   detail="journal unavailable"))
            return
        if not allowed:
            # Exactly once: the journal says this sale was already vended or is unknown.
            log.error("refused to vend %s twice", order.tx_id)
            self.post(VendFinished(order.tx_id, VendOutcome.DENIED.value,
                                   detail="vend already started"))
            return
        wiring = self._wiring.get(order.slot_id, SlotWiring(None, None))
        request = VendRequest(order.slot_id, to_minor(order.amount, order.currency),
                              wiring.motor, wiring.mdb_item,
                              before_dispense=lambda: self._mark_dispensing(order.tx_id))
        prompt = self._driver.vend_prompt(request)
        if prompt:
            self.post(VendPrompted(order.tx_id, prompt))
        try:
            result = self._driver.vend(request)
        except Exception as exc:  # a driver bug must still leave a journalled result
            log.exception("vend driver failed on %s", order.tx_id)
            result = VendResult(VendOutcome.UNKNOWN, f"driver error: {type(exc).__name__}")
        if not result.vended:  # the machine may have gone: look before the next customer
            self._next_health_check = self._clock()
        try:
            refund = refund_reference(order.tx_id) if effect.refund else ""
            self._journal.vend_result(order.tx_id, result.outcome.value,
                                      {"detail": result.detail},
                                      disable_slot=result.disables_slot,
                                      disable_after=self._failures_to_disable,
                                      claim=effect.claim_code, refund_reference=refund)
            if refund and result.outcome is not VendOutcome.VENDED:
                self.refunds.wake()
        except JournalError as exc:  # recovery marks it vend_unknown; the customer moves on
            log.error("vend result of %s not journalled: %s", order.tx_id, exc)
        # Whatever the journal did, the customer must never be left on the vending screen.
        self.post(VendFinished(order.tx_id, result.outcome.value, result.disables_slot,
                               result.detail))
        try:
            self._post_stock()
        except JournalError as exc:
            log.error("stock not re-read after %s: %s", order.tx_id, exc)

    def _vend_crashed(self, effect: Vend, exc: Exception) -> None:
        """A bug in the vend's own code: it may have dispensed, so its result is unknown, the
        customer's code is an open claim now, and it is never vended again."""
        tx_id, detail = effect.order.tx_id, f"internal error: {type(exc).__name__}"
        try:
            self._journal.vend_result(tx_id, VendOutcome.UNKNOWN.value, {"detail": detail},
                                      disable_slot=False, claim=effect.claim_code)
        except KioskError as journal_exc:  # recovery marks it vend_unknown at the next start
            log.error("vend result of %s not journalled: %s", tx_id, journal_exc)
        self.post(VendFinished(tx_id, VendOutcome.UNKNOWN.value, detail=detail))

    def _mark_dispensing(self, tx_id: str) -> bool:
        """On the driver's thread, just before it dispenses: no record, no dispensing."""
        try:
            self._journal.dispensing(tx_id)
        except JournalError as exc:
            log.error("not dispensing %s: the journal failed (%s)", tx_id, exc)
            return False
        return True

    def _record_paid_late(self, effect: RecordPaidLate) -> None:
        tx_id, status = effect.tx_id, effect.status
        if status.state is PaymentState.UNVERIFIED:
            self._claim_unverified(tx_id, status)
            return
        if not self._journal.paid_late(tx_id, {"paid_amount": str(status.paid_amount),
                                               "paid_symbol": status.paid_symbol}):
            return
        log.warning("payment for %s arrived after the sale ended: refund due", tx_id)
        self._refund_if_possible(tx_id, "paid after the sale ended")  # like a failed vend

    def _claim_unverified(self, tx_id: str, status: PaymentStatus) -> None:
        """Reported paid after the sale ended, but not as ordered: money may have arrived."""
        if self._journal.transaction(tx_id)["status"] in OPEN_CLAIM_STATUSES | {"refunded"}:
            return  # already owed (or settled): one claim per sale
        self._journal.claim_issued(tx_id, claim_code(tx_id),
                                   f"reported paid after the sale ended, but {status.reason}")
        log.warning("payment for %s failed verification after the sale ended: claim", tx_id)

    def _refund_if_possible(self, tx_id: str, reason: str, *,
                            show_reference: bool = False) -> None:
        """Queue the refund of a sale whose money arrived, where the gateway refunds by API and
        the journal holds its payment. The customer keeps the sale's claim code, or with
        ``show_reference`` the gateway's own reference when it has one."""
        if not self._gateway.can_refund:
            return
        order, request = self._journal.sale(tx_id)
        if request is None:
            return
        code = self._journal.transaction(tx_id)["claim_code"]
        if show_reference and request.reference:
            code = request.reference
        self._queue_refund(order, code, reason)

    def _queue_refund(self, order: Order, code: str, reason: str) -> None:
        """Durable: the refund worker retries it, across restarts, until the gateway says."""
        self._journal.queue_refund(order.tx_id, refund_reference(order.tx_id), reason, code, {
            "currency": order.currency, "amount": format_amount(order.amount, order.currency)})
        self.refunds.wake()

    def _status_unknown(self, order: Order, request: PaymentRequest) -> None:
        """The gateway stopped answering about the sale on screen."""
        if self._gateway.can_cancel:  # Centrapay's checklist: void when the status is unknown
            self._submit(self._sale_worker, self._void_unknown, order, request)

    def _void_unknown(self, order: Order, request: PaymentRequest) -> None:
        try:
            status = self._gateway.cancel(order, request)
        except GatewayError as exc:
            log.error("could not void %s after its status went unknown: %s", order.tx_id, exc)
            status = PaymentStatus(PaymentState.FAILED, reason="payment status unknown")
        if status.state is PaymentState.PAID:
            self.post(PaymentUpdate(order.tx_id, status))
            return
        self.post(PaymentUpdate(order.tx_id, PaymentStatus(
            PaymentState.FAILED, raw_status=status.raw_status,
            reason="payment status unknown; voided")))
        if status.state is PaymentState.CANCELLED:  # voided: now the screen may say so
            self.post(PaymentUpdate(order.tx_id, status))


    # -- operator menu (worker side)

    def _check_pin(self, pin: str) -> None:
        """The slow hash, the count and the lock: all from and into the journal. The lock holds
        on the wall and the monotonic clock (``op.Lockout``): a clock step cannot lift it."""
        now, clock = self._wall_clock(), op.boot_clock()
        failures, until = op.read_lockout(self._journal, now, clock)
        if until or not self._pin_hash:
            self.post(op.PinChecked(False, failures, self._monotonic(until)))
            return
        if verify_pin(pin, self._pin_hash):
            self._journal.operator_event(PIN_OK, {})
            self.post(op.PinChecked(True, 0, 0.0))
            return
        failures, lock = op.register_failure(failures, now, clock)
        self._journal.operator_event(PIN_FAILED, {"failures": failures})
        if lock is not None:
            self._journal.operator_event(PIN_LOCKED, {"failures": failures, **lock.detail()})
            log.warning("operator PIN locked for %.0f minutes after %d wrong PINs",
                        op.LOCKOUT_S / 60, failures)
        self.post(op.PinChecked(False, failures, self._monotonic(lock.until if lock else 0.0)))

    def _op_read(self, effect: object) -> None:
        if isinstance(effect, op.ReadLock):
            failures, until = op.read_lockout(self._journal, self._wall_clock(), op.boot_clock())
            self.post(op.LockRead(failures, self._monotonic(until)))
        elif isinstance(effect, op.LoadSlots):
            self._post_slots()
        elif isinstance(effect, op.LoadSales):
            self.post(op.SalesLoaded(op.sales_summary(self._journal.transactions(),
                                                      self._wall_clock())))
        elif isinstance(effect, op.CheckStatus):
            self.post(op.StatusLoaded(self._status_report()))

    def _post_slots(self) -> None:
        slots = self._journal.slot_states()
        rows = []
        for product in self._products.values():
            known = slots.get(product.slot_id)
            rows.append(op.SlotRow(product.slot_id, product.name,
                                   known.stock if known else 0,
                                   self._initial_stock.get(product.slot_id, 0),
                                   known.disabled if known else False,
                                   known.disabled_reason if known else ""))
        self.post(op.SlotsLoaded(tuple(rows)))

    def _op_write(self, effect: object) -> None:
        if isinstance(effect, op.SetStock):
            was = self._journal.slot_states().get(effect.slot_id)
            self._journal.operator_change(effect.slot_id, effect.kind,
                                          {"stock": effect.stock,
                                           "was": was.stock if was else None},
                                          stock=effect.stock)
        elif isinstance(effect, op.EnableSlot):
            was = self._journal.slot_states().get(effect.slot_id)
            self._journal.operator_change(effect.slot_id, "slot_enabled",
                                          {"was_reason": was.disabled_reason if was else ""},
                                          enabled=True)
        elif isinstance(effect, op.TestVend):
            self._test_vend(effect.slot_id)
        elif isinstance(effect, op.RecordOperator):
            self._journal.operator_event(effect.kind, dict(effect.detail))
            return
        self._post_stock()
        self._post_slots()

    def _test_vend(self, slot_id: str) -> None:
        """Dispense one item for the operator: journalled as an operator event, not a sale."""
        product = self._products.get(slot_id)
        wiring = self._wiring.get(slot_id, SlotWiring(None, None))
        price = to_minor(product.price, self.flow.settings.currency) if product else 0
        self._journal.operator_event("test_vend_started", {"slot": slot_id})
        try:
            result = self._driver.vend(VendRequest(slot_id, price, wiring.motor,
                                                   wiring.mdb_item))
        except Exception as exc:  # a driver bug still leaves a journalled result
            log.exception("test vend of %s failed", slot_id)
            result = VendResult(VendOutcome.UNKNOWN, f"driver error: {type(exc).__name__}")
        was = self._journal.slot_states().get(slot_id)
        stock = max(0, was.stock - 1) if was and result.outcome is VendOutcome.VENDED else None
        self._journal.operator_change(
            slot_id, "test_vend", {"outcome": result.outcome.value, "detail": result.detail},
            stock=stock, enabled=False if result.disables_slot else None)
        self.post(op.TestVendDone(slot_id, result.outcome.value, result.detail))

    def _status_report(self) -> op.StatusReport:
        try:
            health = self._driver.health()
            hardware = (health.ready, "ready" if health.ready else health.reason or "not ready")
        except Exception as exc:
            hardware = (False, f"driver error: {type(exc).__name__}")
        try:
            reached = self._gateway.check_reachable(Decimal("1"), self.flow.settings.currency)
            gateway = (True, f"{self._gateway.name}: {reached}")
        except GatewayError as exc:
            gateway = (False, f"{self._gateway.name}: {exc}")
        return op.StatusReport(_network_status(gateway[0]), gateway, hardware)


def _network_status(gateway_ok: bool) -> tuple[bool, str]:
    """The gateway answering proves the network; else whether there is a default route."""
    if gateway_ok:
        return True, "online (gateway reached)"
    try:
        with open("/proc/net/route", encoding="ascii") as routes:
            default = any(line.split()[1:2] == ["00000000"] for line in routes.readlines()[1:])
    except OSError:
        return False, "unknown"
    return (True, "default route present; gateway not reached") if default else \
        (False, "no default route")
