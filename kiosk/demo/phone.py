"""The demo customer's phone: pays at the sandbox over HTTP, the way a wallet would."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import httpx

from kiosk.payments.base import Order, PaymentRequest

log = logging.getLogger(__name__)

PAY_AFTER_S = 1.0
TOP_UP_AFTER_S = 3.0


# Gateways whose QR holds no page to open (a coin URI, a Lightning invoice): the sandbox's
# wallet page pays it.
WALLET_PAID = frozenset({"wctpay", "lnbits"})

class SimulatedPhone:
    """Scans the QR the kiosk shows and pays it at the gateway's sandbox."""

    def __init__(self, gateway: str, sandbox_base: str) -> None:
        self._gateway = gateway
        self._base = sandbox_base          # e.g. http://127.0.0.1:4000/wctpay
        self._http = httpx.Client(timeout=10.0)
        self._threads: list[threading.Thread] = []

    def later(self, step: Callable[[], None]) -> None:
        """Run a payment step on its own thread, as a person would, off the kiosk's."""
        thread = threading.Thread(target=self._logged(step), name="phone", daemon=True)
        self._threads.append(thread)
        thread.start()

    def pay(self, order: Order, request: PaymentRequest, delay_s: float = PAY_AFTER_S,
            amount: Decimal | None = None) -> None:
        self._pay(request, delay_s, {"amount": str(amount)} if amount is not None else {})

    def pay_part(self, request: PaymentRequest) -> None:
        """Pay about half of what is due (the checkout's or the wallet's "Pay part")."""
        self._pay(request, PAY_AFTER_S, {"part": "half"})

    def pay_spoofed(self, request: PaymentRequest) -> None:
        """Pay so that the sandbox answers with a spoofed success: one naming another payee
        (MixPay, Centrapay), or at WCT Pay a success for half the price."""
        form = {"spoof": "1", "part": "half"} if self._gateway == "wctpay" else {"spoof": "1"}
        self._pay(request, PAY_AFTER_S, form)

    def _pay(self, request: PaymentRequest, delay_s: float, form: dict[str, str]) -> None:
        time.sleep(delay_s)
        if self._gateway in WALLET_PAID:  # the QR is a coin URI or an invoice: a wallet pays it
            wallet_form = {**form, "qr": request.link}
            self._http.post(f"{self._base}/wallet/pay", data=wallet_form).raise_for_status()
            return
        self._http.get(request.link).raise_for_status()  # open the hosted checkout page
        self._http.post(f"{request.link}/pay", data=form).raise_for_status()

    def underpay_then_top_up(self, order: Order, request: PaymentRequest) -> None:
        payable = self._payable(order, request)
        half = (payable / 2).quantize(Decimal("0.00000001"))
        self.pay(order, request, PAY_AFTER_S, half)
        self.pay(order, request, TOP_UP_AFTER_S, payable - half)

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)
        self._http.close()

    def _payable(self, order: Order, request: PaymentRequest) -> Decimal:
        if request.crypto_amount is not None:
            return request.crypto_amount
        reply = self._http.get(f"{self._base}/v1/payments_result",
                               params={"traceId": order.tx_id})
        reply.raise_for_status()
        return Decimal(str(reply.json()["data"]["payableAmount"]))

    @staticmethod
    def _logged(step: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                step()
            except httpx.HTTPError as exc:  # e.g. paying a voided request: the sandbox refuses
                log.info("simulated phone could not pay: %s", exc)
        return run
