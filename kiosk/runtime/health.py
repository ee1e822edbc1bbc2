"""Whether the kiosk may sell, checked on the misc worker: the first fault found is the reason
on the out-of-service screen, and a fault is looked at again every 2 s until it is gone.

In order: shutting down, start-up, the operator's word (a fleet command), the journal's storage,
the clock, the vend hardware, a failing worker, a payment whose status cannot be read, the
gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from kiosk.errors import GatewayError, GatewayRejected
from kiosk.flow import HardwareChanged
from kiosk.refunds import RefundWorker
from kiosk.runtime.parts import Parts
from kiosk.time_sync import clock_fault
from kiosk.watcher import PaymentWatcher

log = logging.getLogger(__name__)

HEALTH_CHECK_INTERVAL_S = 30.0
FAULT_RECHECK_INTERVAL_S = 2.0    # out of service: notice quickly when the machine is back
CUSTOMER_FRESH_S = 20.0           # a customer's first tap probes a gateway quiet for longer
STARTING_UP = "starting up"
# The operator events of a fleet command taking the kiosk out of service and back.
SERVICE_OFF = "service_off"
SERVICE_ON = "service_on"


def out_of_service_reason(reason: str) -> str:
    return f"out of service: {reason or 'by the operator'}"


class Health:
    def __init__(self, parts: Parts, watcher: PaymentWatcher, refunds: RefundWorker,
                 time_synced: Callable[[], bool | None] | None) -> None:
        self._parts = parts
        self._watcher = watcher
        self._refunds = refunds
        self._time_synced = time_synced  # None: the wall clock is trusted (kiosk.time_sync)
        self.startup_fault = STARTING_UP  # set by start-up: "" once the journal is recovered
        self._stopping = ""               # set once: the kiosk is shutting down
        self._taken_out = ""              # the operator's word (a fleet command): why not
        self._customer_coming = False     # a tap asked for a fresh look at the gateway
        self._next_check = parts.clock() + FAULT_RECHECK_INTERVAL_S  # start-up checks first
        self._pending = False

    # -- the UI thread's side

    def maybe_check(self, now: float, faulty: bool) -> None:
        """Called every pump: a check on the misc worker when one is due."""
        if now < self._next_check or self._pending:
            return
        self._next_check = now + (FAULT_RECHECK_INTERVAL_S if faulty
                                  else HEALTH_CHECK_INTERVAL_S)
        self._pending = True
        self._parts.submit(self._parts.misc_worker, self.check)

    def customer_coming(self, now: float) -> None:
        """A customer's first tap: make sure the gateway answers before a coin is chosen."""
        if not self._parts.gateway_health.fresh(CUSTOMER_FRESH_S):
            self._customer_coming = True
            self._next_check = min(self._next_check, now)

    def stop_selling(self) -> None:
        """The kiosk is shutting down: what is under way finishes, no new sale starts."""
        self._stopping = "shutting down"
        self._parts.post(HardwareChanged(self._stopping))

    # -- any thread

    def take_out_of_service(self, reason: str) -> None:
        """The operator took the kiosk out of service (a reason), or put it back (""): it
        stays so until told otherwise, across restarts (``Startup`` reads the journal)."""
        self._taken_out = reason
        self.check_now()

    def restore_service_order(self) -> None:
        """At start-up: the last word of the operator on service still holds."""
        last = self._parts.journal.latest_operator_event((SERVICE_OFF, SERVICE_ON))
        if last is not None and last["kind"] == SERVICE_OFF:
            self._taken_out = out_of_service_reason(str(last["detail"].get("reason", "")))

    def check_now(self) -> None:
        self._next_check = self._parts.clock()

    def recheck_soon(self) -> None:
        self._next_check = min(self._next_check,
                               self._parts.clock() + FAULT_RECHECK_INTERVAL_S)

    # -- the misc worker's side

    def check(self) -> None:
        try:
            health = self._parts.driver.health()
            hardware = "" if health.ready else health.reason or "not ready"
            # Without its watcher the kiosk would never see a payment: out of service.
            fault = (self._stopping or self.startup_fault or self._taken_out
                     or self._journal_fault()
                     or self._time_fault() or hardware
                     or self._parts.sale_worker.fault or self._parts.misc_worker.fault
                     or self._watcher.fault or self._refunds.fault
                     or self._watcher.status_fault()
                     or self._gateway_fault())
            self._parts.post(HardwareChanged(fault))
            if fault:  # notice the cause going away quickly
                self.recheck_soon()
        finally:
            self._pending = False

    def _journal_fault(self) -> str:
        """A journal that cannot be written (disk full, read-only, failing): no sale may start,
        since none could be recorded; checked again by a write until it heals."""
        journal = self._parts.journal
        return journal.check_writable() if journal.write_fault else ""

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
        gateway_health = self._parts.gateway_health
        max_age_s = CUSTOMER_FRESH_S if self._customer_coming else None
        self._customer_coming = False
        if gateway_health.probe_due(max_age_s):
            try:
                self._parts.gateway.check_reachable(Decimal("1"), self._parts.settings.currency)
            except GatewayRejected as exc:  # it answers, but will not take our payments
                gateway_health.unreachable(str(exc))
                gateway_health.probe_failed()
            except GatewayError as exc:
                log.warning("payment gateway not reachable: %s", exc)
                gateway_health.probe_failed()
        return gateway_health.fault
