"""Automatic refunds that survive restarts: the journal's refund queue, worked off one thread.

A refund is queued in the journal (``Journal.queue_refund``) in the same commit as its
``refund_requested`` event, so a crash never loses one. This worker asks the gateway with the
sale's one idempotent reference (``refund-<tx>``) until the gateway confirms, with back-off
between tries and a first try again after every start. It stops trying when the gateway
refuses firmly or when ``give_up_s`` has passed since the request: then the sale keeps its
claim code for the operator (``kiosk journal --claims``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from kiosk.errors import (
    GatewayError,
    GatewayProtocolError,
    GatewayRateLimited,
    GatewayUnavailable,
    JournalError,
)
from kiosk.journal import Journal, PendingRefund, utc_now
from kiosk.payments.base import Gateway
from kiosk.worker import SupervisedLoop

log = logging.getLogger(__name__)

RETRY_MIN_S = 2.0
RETRY_MAX_S = 600.0
IDLE_WAIT_S = 60.0           # re-read the queue at least this often
_TRANSIENT = (GatewayUnavailable, GatewayRateLimited, GatewayProtocolError)


def refund_reference(tx_id: str) -> str:
    """One refund per sale: every retry, before and after a restart, sends this reference."""
    return f"refund-{tx_id}"


class RefundWorker(SupervisedLoop):
    def __init__(self, gateway: Gateway, journal: Journal, give_up_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = utc_now) -> None:
        super().__init__("refund worker", clock)
        self._gateway = gateway
        self._journal = journal
        self._give_up_s = give_up_s
        self._clock = clock
        self._wall = wall
        self._next_try: dict[str, float] = {}   # tx id -> monotonic time of its next try

    def pending(self) -> int:
        try:
            return len(self._journal.pending_refunds())
        except JournalError:
            return 0

    def turn(self) -> float:
        """Try every refund that is due; return how long until the next one is."""
        now = self._clock()
        wait_s = IDLE_WAIT_S
        for refund in self._journal.pending_refunds():
            due = self._next_try.setdefault(refund.tx_id, now)  # new, or after a restart: now
            if due <= now:
                self._try(refund)
                due = self._next_try.get(refund.tx_id, now + IDLE_WAIT_S)
            wait_s = min(wait_s, max(0.0, due - self._clock()))
        return wait_s

    def _try(self, refund: PendingRefund) -> None:
        tx_id = refund.tx_id
        order, request = self._journal.sale(tx_id)
        if request is None:
            self._give_up(tx_id, "no gateway payment to refund")
            return
        if not self._journal.refund_sending(tx_id):   # the operator settled it meanwhile
            self._next_try.pop(tx_id, None)
            return
        try:
            result = self._gateway.refund(order, request, refund.reference)
        except _TRANSIENT as exc:
            self._not_confirmed(refund, str(exc))
            return
        except GatewayError as exc:
            self._give_up(tx_id, f"refund refused: {exc}")
            return
        self._journal.refund_done(tx_id, {"reference": result.reference, "settled": result.done,
                                          "detail": result.detail,
                                          "attempts": refund.attempts + 1})
        self._next_try.pop(tx_id, None)
        log.info("refund of %s confirmed by the gateway", tx_id)

    def _not_confirmed(self, refund: PendingRefund, error: str) -> None:
        self._journal.refund_attempt_failed(refund.tx_id, error)
        age_s = (self._wall() - refund.requested_at).total_seconds()
        if age_s > self._give_up_s:
            self._give_up(refund.tx_id, f"refund not confirmed by the gateway in "
                                        f"{self._give_up_s / 3600:g} h: {error}")
            return
        backoff = min(RETRY_MAX_S, RETRY_MIN_S * 2 ** refund.attempts)
        self._next_try[refund.tx_id] = self._clock() + backoff
        log.warning("refund of %s not confirmed (%s), try %d; next in %.0f s", refund.tx_id,
                    error, refund.attempts + 1, backoff)

    def _give_up(self, tx_id: str, reason: str) -> None:
        self._journal.refund_given_up(tx_id, reason)
        self._next_try.pop(tx_id, None)
        log.error("refund of %s ended without the gateway: %s; the operator settles the claim",
                  tx_id, reason)
