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
did create is watched past its deadline until the gateway answers, for at most
``UNKNOWN_GIVE_UP_S``. Every late watch ends in the journal (``Journal.watch_given_up``), so a
restart never watches it again: closed as expired when nothing had arrived, or handed to the
operator as a claim when money was seen (part paid, still confirming) or nothing is known.

Every observation is journalled (deduplicated by the journal) before it is passed on; a new
quote (WCT Pay) is journalled as ``requoted`` with what the customer is now asked to pay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.errors import GatewayError, GatewayRateLimited, JournalError
from kiosk.flow import PaymentUpdate
from kiosk.journal import Journal
from kiosk.payments.base import (
    Gateway,
    Order,
    PaymentRequest,
    PaymentState,
    PaymentStatus,
)
from kiosk.worker import SupervisedLoop

log = logging.getLogger(__name__)

LATE_GRACE_S = 30.0          # after the gateway's deadline, for its own expiry to show
UNKNOWN_AFTER_FAILURES = 3   # polls in a row without an answer: the status is unknown
LATE_CONFIRMING_MAX_S = 3600.0  # a confirming payment is followed this long past its deadline
ERROR_BACKOFF_MAX_S = 30.0
UNKNOWN_GIVE_UP_S = 24 * 3600.0  # a created payment the gateway will not answer about


@dataclass
class _Watch:
    order: Order
    request: PaymentRequest
    late: bool
    next_poll: float
    deadline: float                 # the gateway's expiry on the monotonic clock
    confirmed: bool = True          # the gateway said it created this payment
    failures: int = 0
    last_error: str = ""
    reported_unknown: bool = False


class PaymentWatcher(SupervisedLoop):
    def __init__(self, gateway: Gateway, journal: Journal,
                 post: Callable[[PaymentUpdate], None], poll_interval_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 on_unknown: Callable[[Order, PaymentRequest], None] | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__("payment watcher")
        self._gateway = gateway
        self._on_unknown = on_unknown
        self._journal = journal
        self._post = post
        self._poll_s = poll_interval_s
        self._late_poll_s = max(3 * poll_interval_s, 5.0)
        self._clock = clock
        self._wall_clock = wall_clock
        self._watches: dict[str, _Watch] = {}
        self._abandoned: set[str] = set()

    def watch(self, order: Order, request: PaymentRequest, late: bool = False,
              confirmed: bool = True) -> None:
        """Poll ``request``; ``confirmed=False`` for a handle whose create reply was lost."""
        with self._cond:
            late = late or order.tx_id in self._abandoned
            now = self._clock()
            # The gateway's expiry is a wall-clock timestamp: turned into a monotonic deadline
            # once, so a later step of the wall clock moves no watch's end.
            deadline = now + request.expires_at - self._wall_clock()
            self._watches[order.tx_id] = _Watch(order, request, late, next_poll=now,
                                                deadline=deadline, confirmed=confirmed)
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

    def status_fault(self) -> str:
        """Why the status of a payment that exists cannot be read now, or "": while money may
        be arriving unseen, no new customer is asked for any."""
        with self._cond:
            failing = [w for w in self._watches.values() if w.confirmed and w.failures]
            return f"payment status unavailable: {failing[0].last_error}" if failing else ""

    # -- the thread

    def turn(self) -> float:
        """Poll the watch that is due, if one is; return how long until the next is."""
        with self._cond:
            due = self._next_due()
            if due is None:
                return self._poll_s
            delay = due.next_poll - self._clock()
            if delay > 0:
                return delay
        self._poll(due)
        return 0.0

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
            over = not status.state.terminal and self._late_watch_over(watch, status)
            if status.state.terminal or over:
                self._watches.pop(tx_id, None)
                self._cond.notify_all()
            else:
                interval = self._late_poll_s if watch.late else self._poll_s
                watch.next_poll = self._clock() + interval
            late = watch.late
        if over:
            self._end_late_watch(watch, status)
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
            self._journal.close_watch(tx_id, status.state, {"reason": status.reason,
                                                            "raw_status": status.raw_status})
        except JournalError:
            log.exception("could not close the watch of %s", tx_id)

    def _late_watch_over(self, watch: _Watch, status: PaymentStatus) -> bool:
        if not watch.late:
            return False
        limit = LATE_CONFIRMING_MAX_S if status.state in (
            PaymentState.CONFIRMING, PaymentState.UNDER_REVIEW) else LATE_GRACE_S
        return self._clock() - watch.deadline > limit

    def _end_late_watch(self, watch: _Watch, status: PaymentStatus) -> None:
        past = self._clock() - watch.deadline
        money_seen = status.state is not PaymentState.AWAITING
        reason = (f"still {status.state.value} {past / 60:.0f} min after its deadline"
                  if money_seen else "nothing arrived by the gateway's deadline")
        log.warning("stopped watching %s: %s", watch.order.tx_id, reason)
        self._give_up(watch.order.tx_id, reason, claim=money_seen)

    def _give_up(self, tx_id: str, reason: str, *, claim: bool) -> None:
        try:
            self._journal.watch_given_up(tx_id, reason, claim=claim)
        except JournalError:
            log.exception("could not end the watch of %s", tx_id)

    def _after_error(self, watch: _Watch, exc: GatewayError) -> None:
        watch.failures += 1
        watch.last_error = str(exc)[:160]
        if isinstance(exc, GatewayRateLimited):
            backoff = exc.retry_after_s
        else:
            backoff = min(ERROR_BACKOFF_MAX_S, self._poll_s * 2 ** min(watch.failures, 5))
        past = self._clock() - watch.deadline
        if (not watch.confirmed and past > LATE_GRACE_S) or past > UNKNOWN_GIVE_UP_S:
            with self._cond:
                self._watches.pop(watch.order.tx_id, None)
            if watch.confirmed:  # it exists, and nobody can say what became of it
                reason = f"status unknown {past / 3600:.0f} h after its deadline ({exc})"
                log.error("stopped watching %s: %s", watch.order.tx_id, reason)
                self._give_up(watch.order.tx_id, reason, claim=True)
            else:
                log.warning("stopped watching %s: the gateway never confirmed creating it and "
                            "its expiry has passed (%s)", watch.order.tx_id, exc)
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
