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
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from hardware.base import KeypadSelection, VendOutcome, VendRequest, VendResult

NO_STATUS_YET = "the machine has not enabled the MDB reader (no status yet)"


@dataclass(frozen=True)
class Settings:
    patience_s: float            # keypad first: how long the VMC holds a VEND REQUEST
    selection_timeout_s: float   # touchscreen first: session opened to the paid item's request
    dispense_timeout_s: float    # approval to VEND SUCCESS or FAILURE
    session_end_wait_s: float    # how long a paid vend waits for the previous session to end


@dataclass(frozen=True)
class Lapsed:
    """A keypad selection that ended before it was paid: a late vend of it is denied."""

    selection: KeypadSelection
    why: str


# ---------------------------------------------------------------- states


@dataclass(frozen=True)
class Disabled:
    reason: str                    # why the reader cannot sell, as the driver's health says
    lapsed: Lapsed | None = None


@dataclass(frozen=True)
class Idle:
    lapsed: Lapsed | None = None


@dataclass(frozen=True)
class KeypadPending:
    selection: KeypadSelection
    price_text: str                # as the VMC wrote it: the approval echoes it
    deadline: float                # the VMC's patience runs out


@dataclass(frozen=True)
class Queued:
    request: VendRequest
    deadline: float                # give up waiting for the previous session


@dataclass(frozen=True)
class AwaitingSelection:
    request: VendRequest
    deadline: float                # the selection budget
    seen: bool = False             # the VMC showed this session (IDLE or a VEND REQUEST)


@dataclass(frozen=True)
class Dispensing:
    request: VendRequest
    deadline: float                # the dispense budget


@dataclass(frozen=True)
class Finished:
    lapsed: Lapsed | None = None


State = Disabled | Idle | KeypadPending | Queued | AwaitingSelection | Dispensing | Finished


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class LinkUp:
    """The bridge's port is open again; no reader status yet."""


@dataclass(frozen=True)
class LinkLost:
    """The bridge is gone (serial error, silence): no session survives."""

    reason: str


@dataclass(frozen=True)
class ReaderEnabled:
    """``c,STATUS,ENABLED``: enabled with no session; any session is over (complete, cancelled)."""


@dataclass(frozen=True)
class SessionIdle:
    """``c,STATUS,IDLE``: a session is open and waiting for the customer."""


@dataclass(frozen=True)
class ReaderReset:
    """The VMC reset the reader (``c,STATUS,INACTIVE``)."""


@dataclass(frozen=True)
class ReaderDisabled:
    """Any other status: the reader is not enabled."""

    status: str


@dataclass(frozen=True)
class VendRequested:
    """``c,STATUS,VEND,<price>,<item>``: the VMC's VEND REQUEST."""

    selection: KeypadSelection
    price_text: str


@dataclass(frozen=True)
class VendSucceeded:
    """``c,VEND,SUCCESS``."""


@dataclass(frozen=True)
class VendFailed:
    """A line with a configured vend-failure prefix."""

    text: str


@dataclass(frozen=True)
class BridgeError:
    """Any other ``c,ERR`` line."""

    text: str


@dataclass(frozen=True)
class VendAsked:
    """The kiosk took the payment and asks for this vend (one at a time)."""

    request: VendRequest


@dataclass(frozen=True)
class SelectionReleased:
    """The kiosk will not pay for the keypad selection (cancelled, expired, nobody listening)."""


@dataclass(frozen=True)
class DriverClosed:
    """The driver is shutting down."""


@dataclass(frozen=True)
class Tick:
    """Time passed; deadlines are checked against ``now``."""


@dataclass(frozen=True)
class WriteFailed:
    """A command could not be written to the bridge."""

    command: Command


# ---------------------------------------------------------------- actions


@dataclass(frozen=True)
class StartSession:
    """``C,START``: open a session with exactly the paid funds."""

    price_minor: int


@dataclass(frozen=True)
class Approve:
    """``C,VEND,<price>``: VEND APPROVED, echoing the VMC's price text."""

    price_text: str


@dataclass(frozen=True)
class Deny:
    """The configured deny command (``C,STOP``)."""

    reason: str


@dataclass(frozen=True)
class Report:
    """The sale's one result, for the ``vend`` caller."""

    result: VendResult


@dataclass(frozen=True)
class NotifySelection:
    """Tell the kiosk about a keypad-first selection."""

    selection: KeypadSelection


@dataclass(frozen=True)
class ReportUnclaimed:
    """A vend result no vend of this driver is waiting for: the vend approved before a
    restart, or one this driver already gave up on. The kiosk decides whose it is."""

    result: VendResult


Command = StartSession | Approve | Deny
Action = Command | Report | NotifySelection | ReportUnclaimed
Event = (LinkUp | LinkLost | ReaderEnabled | SessionIdle | ReaderReset | ReaderDisabled
         | VendRequested | VendSucceeded | VendFailed | BridgeError | VendAsked
         | SelectionReleased | DriverClosed | Tick | WriteFailed)
Ending = LinkLost | ReaderReset | ReaderDisabled | DriverClosed  # no session survives these


class Transition(NamedTuple):
    state: State
    actions: tuple[Action, ...] = ()


def same_item(selection: KeypadSelection, request: VendRequest) -> bool:
    """The VMC's request is the paid one. A slot without an item number matches by price."""
    return (request.mdb_item in (None, selection.item)
            and selection.price_minor == request.price_minor)


def selection_waiting(state: State, request: VendRequest) -> bool:
    """The customer already pressed this paid item on the keypad (keypad first)."""
    return isinstance(state, KeypadPending) and same_item(state.selection, request)


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
