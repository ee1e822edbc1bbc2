"""The payment side of a sale, on the sale worker (the coin list on the misc worker): journal
the intent, create the payment at the gateway, abandon it, settle money that came late."""

from __future__ import annotations

import logging

from kiosk.errors import GatewayError, GatewayProtocolError, GatewayUnavailable, JournalError
from kiosk.flow import (
    AbandonPayment,
    AssetsFailed,
    AssetsLoaded,
    CreatePayment,
    HardwareChanged,
    LoadAssets,
    PaymentCreated,
    PaymentCreateFailed,
    PaymentUpdate,
    RecordPaidLate,
)
from kiosk.payments.base import Order, PaymentRequest, PaymentState, PaymentStatus
from kiosk.runtime.health import Health
from kiosk.runtime.owed import RefundDesk
from kiosk.runtime.parts import Parts
from kiosk.watcher import PaymentWatcher

log = logging.getLogger(__name__)


class PaymentEffects:
    def __init__(self, parts: Parts, health: Health, owed: RefundDesk,
                 watcher: PaymentWatcher) -> None:
        self._parts = parts
        self._health = health
        self._owed = owed
        self._watcher = watcher

    def load_assets(self, effect: LoadAssets) -> None:
        try:
            assets = self._parts.gateway.list_assets(effect.amount, effect.currency)
        except GatewayError as exc:
            log.warning("coin list not available: %s", exc)
            self._parts.post(AssetsFailed(effect.slot_id, str(exc)))
            return
        self._parts.post(AssetsLoaded(effect.slot_id, tuple(assets)))

    def create_payment(self, effect: CreatePayment) -> None:
        parts, order = self._parts, effect.order
        try:
            parts.journal.begin(order, parts.gateway.name)
        except JournalError as exc:
            log.error("journal refused a new sale: %s", exc)
            parts.post(PaymentCreateFailed(order.tx_id, "journal unavailable"))
            return
        if parts.gateway_health.fault:  # known unreachable: do not ask for money now
            parts.post(PaymentCreateFailed(order.tx_id, parts.gateway_health.fault))
            return
        health = parts.driver.health()
        if not health.ready:  # never take money the machine cannot turn into an item
            parts.post(HardwareChanged(health.reason or "not ready"))
            parts.post(PaymentCreateFailed(order.tx_id, f"machine not ready: {health.reason}"))
            self._health.recheck_soon()  # and notice it coming back as quickly
            return
        try:
            request = parts.gateway.create(order)
        except GatewayError as exc:
            log.warning("payment for %s not created: %s", order.tx_id, exc)
            if isinstance(exc, (GatewayUnavailable, GatewayProtocolError)):
                # The gateway may have created it before the reply was lost: watch it until
                # the gateway's own expiry for it.
                lost = self.lost_request(order)
                if lost is not None:
                    self._watcher.watch(order, lost, late=True, confirmed=False)
                self._health.check_now()  # out of service now?
            parts.post(PaymentCreateFailed(order.tx_id, str(exc)))
            return
        try:
            parts.journal.payment_created(order.tx_id, request)
        except JournalError as exc:
            # No QR without its record: the customer is not asked to pay; it is still watched.
            log.error("could not journal payment of %s: %s", order.tx_id, exc)
            self._watcher.watch(order, request, late=True)
            parts.post(PaymentCreateFailed(order.tx_id, "journal unavailable"))
            return
        # Posted before the first poll can report anything, so the flow sees them in order.
        parts.post(PaymentCreated(order.tx_id, request))
        self._watcher.watch(order, request)

    def create_failed(self, effect: CreatePayment, exc: Exception) -> None:
        """A bug creating the payment: the sale ends at once, nothing asked of the customer."""
        self._parts.post(PaymentCreateFailed(effect.order.tx_id,
                                             f"internal error: {type(exc).__name__}"))

    def lost_request(self, order: Order) -> PaymentRequest | None:
        """The gateway's handle for a payment whose create reply we never got, if it has one."""
        try:
            return self._parts.gateway.request_for(order)
        except GatewayError as exc:  # Centrapay looks it up over the network
            log.warning("could not look up the payment of %s: %s", order.tx_id, exc)
            return None

    def abandon(self, effect: AbandonPayment) -> None:
        order = effect.order
        try:
            self._parts.journal.abandoned(order.tx_id, effect.kind, {"reason": effect.reason},
                                          code=effect.claim_code, open_claim=effect.open_claim)
        except JournalError as exc:
            log.error("could not journal %s of %s: %s", effect.kind, order.tx_id, exc)
        if effect.open_claim:
            log.warning("sale %s ended with money owed (%s): claim code %s", order.tx_id,
                        effect.reason, effect.claim_code)
        if not self._watcher.abandon(order.tx_id):
            return
        if self._parts.gateway.can_cancel:
            self._cancel_at_gateway(order)

    def _cancel_at_gateway(self, order: Order) -> None:
        try:
            request = self._parts.journal.sale(order.tx_id)[1] or self.lost_request(order)
            if request is None:
                return  # the gateway never created it
            status = self._parts.gateway.cancel(order, request)
        except (GatewayError, JournalError) as exc:
            log.warning("cancel of %s failed (%s); still watching it", order.tx_id, exc)
            return
        # PAID: it was paid after all; CANCELLED: the screen may now say "not charged".
        self._parts.post(PaymentUpdate(order.tx_id, status))

    def record_paid_late(self, effect: RecordPaidLate) -> None:
        tx_id, status = effect.tx_id, effect.status
        if status.state is PaymentState.UNVERIFIED:
            self._owed.claim_unverified(tx_id, status)
            return
        if not self._parts.journal.paid_late(tx_id, {"paid_amount": str(status.paid_amount),
                                                     "paid_symbol": status.paid_symbol}):
            return
        log.warning("payment for %s arrived after the sale ended: refund due", tx_id)
        self._owed.refund_if_possible(tx_id, "paid after the sale ended")  # like a failed vend

    def status_unknown(self, order: Order, request: PaymentRequest) -> None:
        """The gateway stopped answering about the sale on screen (the watcher's thread)."""
        if self._parts.gateway.can_cancel:  # Centrapay's checklist: void when status unknown
            self._parts.submit(self._parts.sale_worker, self._void_unknown, order, request)

    def _void_unknown(self, order: Order, request: PaymentRequest) -> None:
        post = self._parts.post
        try:
            status = self._parts.gateway.cancel(order, request)
        except GatewayError as exc:
            log.error("could not void %s after its status went unknown: %s", order.tx_id, exc)
            status = PaymentStatus(PaymentState.FAILED, reason="payment status unknown")
        if status.state is PaymentState.PAID:
            post(PaymentUpdate(order.tx_id, status))
            return
        post(PaymentUpdate(order.tx_id, PaymentStatus(
            PaymentState.FAILED, raw_status=status.raw_status,
            reason="payment status unknown; voided")))
        if status.state is PaymentState.CANCELLED:  # voided: now the screen may say so
            post(PaymentUpdate(order.tx_id, status))
