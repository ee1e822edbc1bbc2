"""The MDB session machine's vocabulary: its settings, states, events and actions.

Plain frozen data, no behaviour beyond two questions about a selection (``same_item``,
``selection_waiting``). ``hardware.mdb_session`` holds the transition table over these types
and re-exports every name here, so ``hardware.mdb_session.Idle`` and the rest still work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from hardware.base import KeypadSelection, VendRequest, VendResult

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
