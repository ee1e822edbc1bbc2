"""Whether the payment gateway answers: a kiosk asks for money only while it does.

Every gateway call the kiosk makes goes through ``MonitoredGateway``, which tells
``GatewayHealth`` whether the gateway answered (any reply it understood, a refusal included)
or could not be reached (transport failure, 5xx, a garbled reply). When nothing has answered
for ``fresh_s``, the health check probes with one cheap authenticated call; while the gateway
is unreachable the kiosk is out of service ("payments unavailable") and the probe is repeated
with back-off until it answers. Durations are on the monotonic clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from kiosk.errors import (
    GatewayError,
    GatewayProtocolError,
    GatewayUnavailable,
    OperationNotSupported,
)
from kiosk.payments.base import (
    Asset,
    Gateway,
    Order,
    PaymentRequest,
    PaymentStatus,
    RefundResult,
)

FRESH_S = 90.0               # an answer this recent needs no probe
PROBE_BACKOFF_MIN_S = 2.0
PROBE_BACKOFF_MAX_S = 60.0
UNAVAILABLE = "payments unavailable"

_R = TypeVar("_R")


class GatewayHealth:
    """The last time the gateway answered, and whether its last call failed. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 fresh_s: float = FRESH_S) -> None:
        self._clock = clock
        self._fresh_s = fresh_s
        self._lock = threading.Lock()
        self._last_answer: float | None = None
        self._failure = ""                       # why the last call failed; "" if it answered
        self._backoff_s = PROBE_BACKOFF_MIN_S
        self._next_probe = clock()

    def answered(self) -> None:
        with self._lock:
            self._last_answer = self._clock()
            self._failure = ""
            self._backoff_s = PROBE_BACKOFF_MIN_S

    def unreachable(self, reason: str) -> None:
        with self._lock:
            self._failure = reason
            self._next_probe = max(self._next_probe, self._clock() + PROBE_BACKOFF_MIN_S)

    def probe_failed(self) -> None:
        """Only failed probes back off: a burst of failed polls must not delay the next one."""
        with self._lock:
            self._next_probe = self._clock() + self._backoff_s
            self._backoff_s = min(PROBE_BACKOFF_MAX_S, self._backoff_s * 2)

    def fresh(self, max_age_s: float | None = None) -> bool:
        """The gateway answered within ``max_age_s`` (default ``fresh_s``) and its last call
        did not fail."""
        with self._lock:
            last = self._last_answer
            limit = self._fresh_s if max_age_s is None else max_age_s
            return last is not None and self._clock() - last < limit and not self._failure

    def probe_due(self, max_age_s: float | None = None) -> bool:
        """Probe when nothing answered within ``max_age_s`` (default ``fresh_s``), no sooner
        than the back-off allows."""
        if self.fresh(max_age_s):
            return False
        with self._lock:
            return self._clock() >= self._next_probe

    @property
    def fault(self) -> str:
        """Out-of-service reason while the gateway is unreachable; "" while it answers."""
        with self._lock:
            return f"{UNAVAILABLE}: {self._failure}" if self._failure else ""


class MonitoredGateway(Gateway):
    """A gateway whose every call reports to ``GatewayHealth``; behaviour is unchanged."""

    def __init__(self, inner: Gateway, health: GatewayHealth) -> None:
        self.inner = inner
        self.health = health
        self.name = inner.name
        self.can_cancel = inner.can_cancel
        self.can_refund = inner.can_refund
        self.offers_asset_choice = inner.offers_asset_choice
        self.poll_interval_s = inner.poll_interval_s

    def list_assets(self, amount: Decimal, currency: str) -> list[Asset]:
        return self._call(lambda: self.inner.list_assets(amount, currency))

    def create(self, order: Order) -> PaymentRequest:
        return self._call(lambda: self.inner.create(order))

    def status(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        return self._call(lambda: self.inner.status(order, request))

    def check_reachable(self, amount: Decimal, currency: str) -> str:
        return self._call(lambda: self.inner.check_reachable(amount, currency))

    def request_for(self, order: Order) -> PaymentRequest | None:
        return self.inner.request_for(order)  # often local (no call): proves nothing

    def cancel(self, order: Order, request: PaymentRequest) -> PaymentStatus:
        return self._call(lambda: self.inner.cancel(order, request))

    def refund(self, order: Order, request: PaymentRequest, reference: str) -> RefundResult:
        return self._call(lambda: self.inner.refund(order, request, reference))

    def close(self) -> None:
        self.inner.close()

    def _call(self, call: Callable[[], _R]) -> _R:
        try:
            result = call()
        except (GatewayUnavailable, GatewayProtocolError) as exc:
            self.health.unreachable(str(exc))
            raise
        except OperationNotSupported:
            raise  # nothing was sent
        except GatewayError:
            self.health.answered()  # a refusal or a rate limit is still an answer
            raise
        self.health.answered()
        return result
