"""The route of every effect the flow and the operator menu ask for: the worker that runs it
and its handler. Reads on the misc worker; everything that touches a sale, the slots or a motor
on the sale worker, strictly in the order asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk import operator as op
from kiosk.flow import (
    AbandonPayment,
    CreatePayment,
    LoadAssets,
    RecordPaidLate,
    ReleaseSelection,
    SaleFinished,
    Vend,
)
from kiosk.money import format_amount
from kiosk.runtime.operator import OperatorActions
from kiosk.runtime.parts import Parts
from kiosk.runtime.payments import PaymentEffects
from kiosk.runtime.tasks import Route
from kiosk.runtime.vending import VendEffects

Routes = dict[type, Route[Any]]


def sale_routes(parts: Parts, payments: PaymentEffects, vending: VendEffects,
                on_sale_finished: Callable[[dict[str, Any]], None]) -> Routes:
    sale, misc, driver = parts.sale_worker, parts.misc_worker, parts.driver
    return {
        SaleFinished: Route[SaleFinished](
            None, lambda effect: on_sale_finished(sale_line(effect, parts.gateway.name))),
        LoadAssets: Route[LoadAssets](misc, payments.load_assets),
        CreatePayment: Route[CreatePayment](sale, payments.create_payment,
                                            payments.create_failed),
        AbandonPayment: Route[AbandonPayment](sale, payments.abandon),
        Vend: Route[Vend](sale, vending.vend, vending.vend_crashed),
        RecordPaidLate: Route[RecordPaidLate](sale, payments.record_paid_late),
        ReleaseSelection: Route[ReleaseSelection](
            sale, lambda effect: driver.release_selection()),
    }


def operator_routes(parts: Parts, actions: OperatorActions) -> Routes:
    # Writes and the test vend in order with the sale work: one motor at a time.
    sale, misc = parts.sale_worker, parts.misc_worker
    return {
        op.ReadLock: Route[op.ReadLock](misc, actions.read_lock),
        op.CheckPin: Route[op.CheckPin](misc, actions.check_pin),
        op.LoadSlots: Route[op.LoadSlots](misc, actions.load_slots),
        op.LoadSales: Route[op.LoadSales](misc, actions.load_sales),
        op.CheckStatus: Route[op.CheckStatus](misc, actions.check_status),
        op.SetStock: Route[op.SetStock](sale, actions.set_stock),
        op.EnableSlot: Route[op.EnableSlot](sale, actions.enable_slot),
        op.TestVend: Route[op.TestVend](sale, actions.test_vend),
        op.RecordOperator: Route[op.RecordOperator](sale, actions.record),
    }


def sale_line(effect: SaleFinished, gateway: str) -> dict[str, Any]:
    """The autopilot's line for a finished sale (one JSON line per customer on stdout)."""
    order = effect.order
    asset = order.asset.symbol if order.asset else effect.paid_symbol
    return {"tx": order.tx_id, "slot": order.slot_id, "gateway": gateway,
            "asset": asset, "amount": format_amount(order.amount, order.currency),
            "currency": order.currency, "payment_link": effect.payment_link,
            "outcome": effect.outcome.value}
