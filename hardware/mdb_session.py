"""The MDB cashless session as a pure state machine: ``step(state, event, now) -> Transition``.

No serial port, thread or clock: ``hardware.mdb.MdbDriver`` turns bridge lines and kiosk calls
into events, steps this machine under one lock with a monotonic ``now``, and carries out the
actions (bridge commands, the vend's result, the keypad notice).

States, as the reader (the Pi) sees the vending machine controller (VMC):

=====================  ==========================================================================
``Disabled``           the VMC has not enabled the reader (power-up, reset, bridge lost, closed)
``Idle``               enabled, no session
``KeypadPending``      keypad first: the VMC asked for an item nobody has paid for yet
``Queued``             a paid vend waits for the VMC to end the previous session
``AwaitingSelection``  touchscreen first: the session is open, the customer walks to the keypad
``Dispensing``         the vend is approved: the VMC is dispensing
``Finished``           the session has nothing more for the reader; the VMC has yet to end it
=====================  ==========================================================================

A vend is a *sale* from ``VendAsked`` to its one ``Report``: it lives in ``Queued``,
``AwaitingSelection`` or ``Dispensing`` and nowhere else.

Rules that keep money safe live here:

- one approval per session, ever, and only for the paid item at the paid price;
- nothing is denied once a vend is approved: MDB's Vend state is uninterruptible;
- two budgets that never share time: the *selection* budget (session opened until the paid
  item's VEND REQUEST) ends in ``TIMEOUT`` and a deny, a certain no-vend; the *dispense* budget
  (approval until VEND SUCCESS or FAILURE) ends in ``UNKNOWN``, never a failure, because the
  machine may still drop the item;
- a reset or a lost bridge between approval and VEND SUCCESS counts as a vend, as MDB says.

The machine's vocabulary (settings, states, events, actions) is in
``hardware.mdb_session_types``; it is re-exported here, so callers import it all from this module.
"""

from __future__ import annotations

from dataclasses import replace

from hardware.base import VendOutcome, VendRequest, VendResult
from hardware.mdb_session_types import (
    Action,
    Approve,
    AwaitingSelection,
    BridgeError,
    Command,
    Deny,
    Disabled,
    Dispensing,
    DriverClosed,
    Ending,
    Event,
    Finished,
    Idle,
    KeypadPending,
    Lapsed,
    LinkLost,
    LinkUp,
    NO_STATUS_YET,
    NotifySelection,
    Queued,
    ReaderDisabled,
    ReaderEnabled,
    ReaderReset,
    Report,
    ReportUnclaimed,
    SelectionReleased,
    SessionIdle,
    Settings,
    StartSession,
    State,
    Tick,
    Transition,
    VendAsked,
    VendFailed,
    VendRequested,
    VendSucceeded,
    WriteFailed,
    same_item,
    selection_waiting,
)

__all__ = [
    "Action",
    "Approve",
    "AwaitingSelection",
    "BridgeError",
    "Command",
    "Deny",
    "Disabled",
    "Dispensing",
    "DriverClosed",
    "Ending",
    "Event",
    "Finished",
    "Idle",
    "KeypadPending",
    "Lapsed",
    "LinkLost",
    "LinkUp",
    "NO_STATUS_YET",
    "NotifySelection",
    "Queued",
    "ReaderDisabled",
    "ReaderEnabled",
    "ReaderReset",
    "Report",
    "ReportUnclaimed",
    "SelectionReleased",
    "SessionIdle",
    "Settings",
    "StartSession",
    "State",
    "Tick",
    "Transition",
    "VendAsked",
    "VendFailed",
    "VendRequested",
    "VendSucceeded",
    "WriteFailed",
    "same_item",
    "selection_waiting",
    "SessionMachine",
]


def _report(outcome: VendOutcome, detail: str = "") -> Report:
    return Report(VendResult(outcome, detail))


def _vend_outcome(event: VendSucceeded | VendFailed) -> VendResult:
    if isinstance(event, VendSucceeded):
        return VendResult(VendOutcome.VENDED)
    return VendResult(VendOutcome.NO_DROP, f"the machine reported a failed vend: {event.text}")


# ---------------------------------------------------------------- the machine


class SessionMachine:
    """Holds the settings; ``step`` itself keeps no state between calls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def step(self, state: State, event: Event, now: float) -> Transition:
        """The next state and the actions to carry out, in order; ``now`` is monotonic."""
        if isinstance(event, Ending):
            return _ended(state, event)
        if isinstance(event, (VendSucceeded, VendFailed)) and \
                isinstance(state, (Disabled, Idle, Finished)):
            return Transition(state, (ReportUnclaimed(_vend_outcome(event)),))
        match state:
            case Disabled():
                return self._disabled(state, event)
            case Idle():
                return self._idle(state, event, now)
            case KeypadPending():
                return self._keypad_pending(state, event, now)
            case Queued():
                return self._queued(state, event, now)
            case AwaitingSelection():
                return self._awaiting_selection(state, event, now)
            case Dispensing():
                return self._dispensing(state, event, now)
            case Finished():
                return self._finished(state, event, now)

    # -- states

    def _disabled(self, state: Disabled, event: Event) -> Transition:
        match event:
            case LinkUp():
                return Transition(replace(state, reason=NO_STATUS_YET))
            case ReaderEnabled():
                return Transition(Idle(state.lapsed))
            case SessionIdle():
                return Transition(Finished(state.lapsed))  # IDLE means enabled, in a session
            case VendRequested():
                return Transition(state, (Deny("the reader is not enabled"),))
            case VendAsked():
                refusal = _lapsed_refusal(state.lapsed, event.request)
                result = refusal or _report(VendOutcome.DENIED, state.reason)
                return Transition(Disabled(state.reason), (result,))
            case SelectionReleased():
                return Transition(Disabled(state.reason))
        return Transition(state)

    def _idle(self, state: Idle, event: Event, now: float) -> Transition:
        match event:
            case SessionIdle():
                return Transition(Finished(state.lapsed))  # a session the reader did not open
            case VendRequested():
                return self._keypad_pick(event, now)
            case VendAsked():
                refusal = _refusal(state.lapsed, event.request)
                if refusal is not None:
                    return Transition(Idle(), (refusal,))
                return self._open_session(event.request, now)
            case SelectionReleased():
                return Transition(Idle())
        return Transition(state)

    def _keypad_pending(self, state: KeypadPending, event: Event, now: float) -> Transition:
        match event:
            case VendRequested() if event.selection == state.selection:
                return Transition(state)  # the same request again: already with the kiosk
            case VendRequested():
                return self._keypad_pick(event, now)
            case ReaderEnabled():
                return Transition(Idle(Lapsed(state.selection,
                                              "the machine cancelled the selection")))
            case VendAsked() if same_item(state.selection, event.request):
                return self._approve(event.request, state.price_text, now)
            case VendAsked() if event.request.mdb_item is None:
                return Transition(state, (_no_item(event.request),))
            case VendAsked():
                deny = Deny(f"the kiosk is selling item {event.request.mdb_item}")
                return Transition(self._queue(event.request, now), (deny,))
            case SelectionReleased():
                return Transition(Finished(), (Deny("the kiosk released the selection"),))
            case Tick() if now >= state.deadline:
                why = f"the machine's patience ({self.settings.patience_s:g} s) ran out"
                return Transition(Finished(Lapsed(state.selection, why)), (Deny(why),))
        return Transition(state)

    def _queued(self, state: Queued, event: Event, now: float) -> Transition:
        match event:
            case ReaderEnabled():
                return self._open_session(state.request, now)
            case VendRequested():
                return Transition(state, (Deny("the previous session is ending"),))
            case Tick() if now >= state.deadline:
                return Transition(Finished(), (_report(VendOutcome.DENIED,
                                                       "the machine is still in another session"),))
        return Transition(state)

    def _awaiting_selection(self, state: AwaitingSelection, event: Event,
                            now: float) -> Transition:
        request = state.request
        match event:
            case SessionIdle():
                return Transition(replace(state, seen=True))
            case VendRequested() if same_item(event.selection, request):
                return self._approve(request, event.price_text, now)
            case VendRequested():
                chosen = event.selection
                deny = Deny(f"item {chosen.item} at {chosen.price_minor}: the customer paid "
                            f"{request.price_minor} for item {request.mdb_item}")
                return Transition(replace(state, seen=True), (deny,))
            case ReaderEnabled() if state.seen:
                # A deny (or the VMC's own time-out) ended the session before the paid item
                # was chosen: open it again so the customer can still press the right one.
                return Transition(replace(state, seen=False),
                                  (StartSession(request.price_minor),))
            case VendFailed() | BridgeError():
                return Transition(Finished(), (
                    Deny("the bridge refused the sale"),
                    _report(VendOutcome.DENIED, f"the bridge refused the sale: {event.text}")))
            case WriteFailed(command=StartSession()):
                return Transition(Idle(), (_report(VendOutcome.DENIED,
                                                   "C,START could not be written"),))
            case Tick() if now >= state.deadline:
                budget = self.settings.selection_timeout_s
                return Transition(Finished(), (
                    Deny("the selection budget ran out"),  # the machine must not keep the credit
                    _report(VendOutcome.TIMEOUT,
                            f"nobody selected item {request.mdb_item} on the keypad within "
                            f"the {budget:g} s selection budget")))
        return Transition(state)

    def _dispensing(self, state: Dispensing, event: Event, now: float) -> Transition:
        # VEND REQUESTs here are ignored, never denied: MDB's Vend state is uninterruptible,
        # and a deny could come back as an error that reads like a failed vend.
        match event:
            case VendSucceeded() | VendFailed():
                return Transition(Finished(), (Report(_vend_outcome(event)),))
            case ReaderEnabled():
                return Transition(Idle(), (_report(
                    VendOutcome.UNKNOWN, "the session ended without VEND SUCCESS or FAILURE"),))
            case WriteFailed(command=Approve()):
                return Transition(Finished(), (_report(VendOutcome.UNKNOWN,
                                                       "the approval could not be written"),))
            case Tick() if now >= state.deadline:
                # The machine may still drop the item: UNKNOWN (a claim), never a failure
                # that refunds, and no deny mid-vend.
                budget = self.settings.dispense_timeout_s
                return Transition(Finished(), (_report(
                    VendOutcome.UNKNOWN,
                    f"no VEND SUCCESS or FAILURE for item {state.request.mdb_item} within the "
                    f"{budget:g} s dispense budget after the approval"),))
        return Transition(state)

    def _finished(self, state: Finished, event: Event, now: float) -> Transition:
        match event:
            case ReaderEnabled():
                return Transition(Idle(state.lapsed))
            case VendRequested():
                # e.g. a multi-vend VMC asking for a second item in a session paid for one
                return Transition(state, (Deny("this session already ended for the reader"),))
            case VendAsked():
                refusal = _refusal(state.lapsed, event.request)
                if refusal is not None:
                    return Transition(Finished(), (refusal,))
                return Transition(self._queue(event.request, now))
            case SelectionReleased():
                return Transition(Finished())
        return Transition(state)

    # -- shared steps

    def _keypad_pick(self, event: VendRequested, now: float) -> Transition:
        pending = KeypadPending(event.selection, event.price_text,
                                now + self.settings.patience_s)
        return Transition(pending, (NotifySelection(event.selection),))

    def _open_session(self, request: VendRequest, now: float) -> Transition:
        awaiting = AwaitingSelection(request, now + self.settings.selection_timeout_s)
        return Transition(awaiting, (StartSession(request.price_minor),))

    def _queue(self, request: VendRequest, now: float) -> Queued:
        return Queued(request, now + self.settings.session_end_wait_s)

    def _approve(self, request: VendRequest, price_text: str, now: float) -> Transition:
        # The dispense budget starts here, not when the kiosk asked: the customer's walk to
        # the keypad must not eat the machine's time to dispense.
        dispensing = Dispensing(request, now + self.settings.dispense_timeout_s)
        return Transition(dispensing, (Approve(price_text),))


def _ended(state: State, event: Ending) -> Transition:
    """The reader is no longer enabled: any session is gone, and with it any sale."""
    reason, why, if_approved = _ending(event)
    report: tuple[Action, ...] = ()
    if isinstance(state, Dispensing):
        report = (Report(if_approved),)
    elif isinstance(state, Queued | AwaitingSelection):
        report = (_report(VendOutcome.DENIED, why),)
    lapsed: Lapsed | None = None
    if isinstance(state, KeypadPending):
        lapsed = Lapsed(state.selection, why)
    elif isinstance(state, Disabled | Idle | Finished):
        lapsed = state.lapsed
    return Transition(Disabled(reason, lapsed), report)


def _ending(event: Ending) -> tuple[str, str, VendResult]:
    """(health reason, why a sale or selection ended, the result of an approved vend)."""
    match event:
        case LinkLost(reason=reason):
            return reason, reason, VendResult(
                VendOutcome.VENDED, f"the MDB bridge was lost between approval and VEND "
                f"SUCCESS ({reason}); MDB counts a reset there as a vend")
        case ReaderReset():
            why = "the machine reset the reader"
            return "the machine reset the MDB reader", why, VendResult(
                VendOutcome.VENDED, f"{why} between approval and VEND SUCCESS; MDB counts "
                "that as a vend")
        case ReaderDisabled(status=status):
            return (f"the machine has not enabled the MDB reader ({status})",
                    f"the reader went {status}",
                    VendResult(VendOutcome.UNKNOWN, f"the reader went {status} after approval, "
                               "without VEND SUCCESS or FAILURE"))
        case DriverClosed():
            why = "the driver was closed mid-vend"
            return "the MDB driver is closed", why, VendResult(VendOutcome.UNKNOWN, why)


def _refusal(lapsed: Lapsed | None, request: VendRequest) -> Report | None:
    return _lapsed_refusal(lapsed, request) or (
        _no_item(request) if request.mdb_item is None else None)


def _lapsed_refusal(lapsed: Lapsed | None, request: VendRequest) -> Report | None:
    if lapsed is not None and same_item(lapsed.selection, request):
        return _report(VendOutcome.DENIED, f"not approved: {lapsed.why}")
    return None


def _no_item(request: VendRequest) -> Report:
    # Matched by price alone: only a keypad pick of that price can be approved.
    return _report(VendOutcome.DENIED, f"slot {request.slot_id} has no mdb_item")
