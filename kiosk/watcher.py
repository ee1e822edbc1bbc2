"""Polls the gateway for every payment still in play, on one background thread.

Two kinds of watch:
- *active*: the sale on screen; polled every ``poll_interval_s``.
- *late*: a sale that was cancelled, expired or found unfinished at start-up. A gateway without
  a cancel call (MixPay) may still take the customer's money until the payment's own deadline,
  so the watch goes on until then (longer while the gateway reports it confirming). A PAID seen
  here is passed on like any other status; the flow turns it into ``paid_late``.

A payment whose create reply was lost (``confirmed=False``: the gateway may never have made
it) is watched only until the gateway's own expiry for it, answer or not: polling orders that
never existed would spend the gateway's rate budget that real sales need. A payment the gateway
did create is watched past its deadline until the gateway answers.

Every observation is journalled (deduplicated by the journal) before it is passed on; a new
quote (WCT Pay) is journalled as ``requoted`` with what the customer is now asked to pay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.errors import GatewayError, GatewayRateLimited, JournalError
from kiosk.flow import PaymentUpdate
from kiosk.journal import Journal
from kiosk.payments.base import Gateway, Order, PaymentRequest, PaymentState, PaymentStatus

log = logging.getLogger(__name__)

LATE_GRACE_S = 30.0          # after the gateway's deadline, for its own expiry to show
UNKNOWN_AFTER_FAILURES = 3   # polls in a row without an answer: the status is unknown
LATE_CONFIRMING_MAX_S = 3600.0  # a confirming payment is followed this long past its deadline
ERROR_BACKOFF_MAX_S = 30.0


@dataclass
class _Watch:
    order: Order
    request: PaymentRequest
    late: bool
    next_poll: float
    confirmed: bool = True          # the gateway said it created this payment
    failures: int = 0
    reported_unknown: bool = False


class PaymentWatcher:
    def __init__(self, gateway: Gateway, journal: Journal,
                 post: Callable[[PaymentUpdate], None], poll_interval_s: float,
                 clock: Callable[[], float] = time.time,
                 on_unknown: Callable[[Order, PaymentRequest], None] | None = None) -> None:
        self._gateway = gateway
        self._on_unknown = on_unknown
        self._journal = journal
        self._post = post
        self._poll_s = poll_interval_s
        self._late_poll_s = max(3 * poll_interval_s, 5.0)
        self._clock = clock
        self._watches: dict[str, _Watch] = {}
        self._abandoned: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="payment-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def watch(self, order: Order, request: PaymentRequest, late: bool = False,
              confirmed: bool = True) -> None:
        """Poll ``request``; ``confirmed=False`` for a handle whose create reply was lost."""
        with self._cond:
            late = late or order.tx_id in self._abandoned
            self._watches[order.tx_id] = _Watch(order, request, late, next_poll=self._clock(),
                                                confirmed=confirmed)
            self._cond.notify_all()

    def abandon(self, tx_id: str) -> bool:
        """The sale ended unpaid: keep watching, now as a late watch. False if not watched."""
        with self._cond:
            self._abandoned.add(tx_id)
            watch = self._watches.get(tx_id)
            if watch is None:
                return False
            watch.late = True
            return True

    def pending(self) -> int:
        with self._cond:
            return len(self._watches)

    # -- the thread

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                due = self._next_due()
                if due is None:
                    self._cond.wait(timeout=self._poll_s)
                    continue
                delay = due.next_poll - self._clock()
                if delay > 0:
                    self._cond.wait(timeout=delay)
                    continue
            self._poll(due)

    def _next_due(self) -> _Watch | None:
        return min(self._watches.values(), key=lambda w: w.next_poll, default=None)

    def _poll(self, watch: _Watch) -> None:
        tx_id = watch.order.tx_id
        try:
            status = self._gateway.status(watch.order, watch.request)
        except GatewayError as exc:
            self._after_error(watch, exc)
            return
        watch.failures = 0
        watch.confirmed = True
        self._record(tx_id, status)
        with self._cond:
            if status.state.terminal or self._late_watch_over(watch, status):
                self._watches.pop(tx_id, None)
                self._cond.notify_all()
            else:
                interval = self._late_poll_s if watch.late else self._poll_s
                watch.next_poll = self._clock() + interval
            late = watch.late
        if late and status.state.terminal and status.state is not PaymentState.PAID:
            self._close_late(tx_id, status)
        self._post(PaymentUpdate(tx_id, status))

    def _record(self, tx_id: str, status: PaymentStatus) -> None:
        detail: dict[str, object] = {"reason": status.reason} if status.reason else {}
        if status.remaining is not None:
            detail["remaining"] = str(status.remaining)
        try:
            self._journal.status_seen(tx_id, status.state, status.raw_status, detail)
            if status.request is not None:
                self._journal.requoted(tx_id, status.request)
        except JournalError:
            log.exception("could not journal status of %s", tx_id)

    def _close_late(self, tx_id: str, status: PaymentStatus) -> None:
        try:
            self._journal.close_watch(tx_id, status.state, {"reason": status.reason})
        except JournalError:
            log.exception("could not close the watch of %s", tx_id)

    def _late_watch_over(self, watch: _Watch, status: PaymentStatus) -> bool:
        if not watch.late:
            return False
        past = self._clock() - watch.request.expires_at
        limit = LATE_CONFIRMING_MAX_S if status.state in (
            PaymentState.CONFIRMING, PaymentState.UNDER_REVIEW) else LATE_GRACE_S
        if past > limit:
            log.warning("stopped watching %s past its deadline in state %s; it stays "
                        "unfinished in the journal and is watched again at the next start",
                        watch.order.tx_id, status.state.value)
            return True
        return False

    def _after_error(self, watch: _Watch, exc: GatewayError) -> None:
        watch.failures += 1
        if isinstance(exc, GatewayRateLimited):
            backoff = exc.retry_after_s
        else:
            backoff = min(ERROR_BACKOFF_MAX_S, self._poll_s * 2 ** min(watch.failures, 5))
        with self._cond:
            if not watch.confirmed and self._clock() > watch.request.expires_at + LATE_GRACE_S:
                log.warning("stopped watching %s: the gateway never confirmed creating it and "
                            "its expiry has passed (%s)", watch.order.tx_id, exc)
                self._watches.pop(watch.order.tx_id, None)
                return
        log.warning("status of %s not known (%s); retrying in %.0f s", watch.order.tx_id,
                    exc, backoff)
        with self._cond:
            watch.next_poll = self._clock() + backoff
            unknown = (watch.failures >= UNKNOWN_AFTER_FAILURES and not watch.late
                       and not watch.reported_unknown)
            watch.reported_unknown = watch.reported_unknown or unknown
        if unknown and self._on_unknown is not None:
            self._on_unknown(watch.order, watch.request)
