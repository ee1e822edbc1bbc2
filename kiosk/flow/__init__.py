"""The sale state machine: ``step(state, event, now) -> Transition(state, effects)``.

Pure: no pygame, httpx, sqlite or hardware. Events come in (taps, gateway answers, vend results,
clock ticks); effects go out (create a payment, vend, abandon, record a late payment) and the
runtime carries them out on worker threads, feeding the results back as events.

Rules that keep money safe live here:
- a vend is asked for only once per sale, and only after a PAID (verified) status for the very
  transaction on screen, while that sale is still waiting for its payment; it carries the code
  a failure gives the customer, so the journal records the claim with the result;
- a PAID status for any other transaction, or for a sale already cancelled or expired, becomes
  ``RecordPaidLate`` (journalled and flagged for refund), never a vend;
- a payment that is confirming is never abandoned by the local countdown alone: it gets a grace
  period, and after that the customer is given a claim code while the watch goes on.

The parts, one job each:
- ``state``: the screens, how a sale ends, the static inputs (``Product``, ``FlowSettings``)
  and the state (``KioskState``, ``Sale``);
- ``events``: what comes in (``Event``); ``effects``: what goes out (``Effect``) and the
  ``Transition`` a step returns;
- ``machine``: ``Flow``, whose ``step`` is the single entry point; the screen handlers by
  phase in ``browsing``, ``paying`` and ``results``, on the shared steps in ``steps``.
"""

from kiosk.flow.effects import (
    AbandonPayment,
    CreatePayment,
    Effect,
    LoadAssets,
    RecordPaidLate,
    ReleaseSelection,
    SaleFinished,
    Transition,
    Vend,
)
from kiosk.flow.events import (
    AssetsFailed,
    AssetsLoaded,
    CancelPressed,
    CoinChosen,
    DonePressed,
    Event,
    HardwareChanged,
    ItemChosen,
    KeypadSelected,
    PaymentCreated,
    PaymentCreateFailed,
    PaymentUpdate,
    SaleInterrupted,
    StartTapped,
    StockChanged,
    Tick,
    VendFinished,
    VendPrompted,
    WallClockSet,
)
from kiosk.flow.machine import Flow
from kiosk.flow.paying import NOTHING_ARRIVED
from kiosk.flow.state import (
    BROWSING_SCREENS,
    CANCELLABLE_SCREENS,
    ENDED_UNPAID_SCREENS,
    KEYPAD_MARGIN_S,
    OPEN_CLAIM_REASONS,
    PAYMENT_SCREENS,
    RESULT_SCREENS,
    ClaimReason,
    Dropped,
    FlowSettings,
    KioskState,
    Outcome,
    Product,
    Sale,
    Screen,
    initial_state,
)
from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentState, PaymentStatus

__all__ = [
    "BROWSING_SCREENS", "CANCELLABLE_SCREENS", "ENDED_UNPAID_SCREENS", "KEYPAD_MARGIN_S",
    "NOTHING_ARRIVED", "OPEN_CLAIM_REASONS", "PAYMENT_SCREENS", "RESULT_SCREENS",
    "AbandonPayment", "Asset", "AssetsFailed", "AssetsLoaded", "CancelPressed", "ClaimReason",
    "CoinChosen", "CreatePayment", "DonePressed", "Dropped", "Effect", "Event", "Flow",
    "FlowSettings", "HardwareChanged", "ItemChosen", "KeypadSelected", "KioskState",
    "LoadAssets", "Order", "Outcome", "PaymentCreateFailed", "PaymentCreated", "PaymentRequest",
    "PaymentState", "PaymentStatus", "PaymentUpdate", "Product", "RecordPaidLate",
    "ReleaseSelection", "Sale", "SaleFinished", "SaleInterrupted", "Screen", "StartTapped",
    "StockChanged", "Tick", "Transition", "Vend", "VendFinished", "VendPrompted", "WallClockSet",
    "initial_state",
]
