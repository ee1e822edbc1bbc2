"""The pure MDB session machine (``hardware.mdb_session``): every state with every event.

Layout: fixtures of one sample per state and per event, the state x event table (every cell
written out), invariants checked over the whole table, random event sequences against the
money rules (hypothesis), then stories and edge cases.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.base import KeypadSelection, VendOutcome, VendRequest, VendResult
from hardware.mdb_session import (
    NO_STATUS_YET,
    Action,
    Approve,
    AwaitingSelection,
    BridgeError,
    Deny,
    Disabled,
    Dispensing,
    DriverClosed,
    Event,
    Finished,
    Idle,
    KeypadPending,
    Lapsed,
    LinkLost,
    LinkUp,
    NotifySelection,
    Queued,
    ReaderDisabled,
    ReaderEnabled,
    ReaderReset,
    Report,
    ReportUnclaimed,
    SelectionReleased,
    SessionIdle,
    SessionMachine,
    Settings,
    StartSession,
    State,
    Tick,
    VendAsked,
    VendFailed,
    VendRequested,
    VendSucceeded,
    WriteFailed,
    selection_waiting,
)

SETTINGS = Settings(patience_s=60, selection_timeout_s=30, dispense_timeout_s=45,
                    session_end_wait_s=2)
MACHINE = SessionMachine(SETTINGS)
NOW = 1000.0
LATE = NOW + 10_000       # past every deadline of the sample states

PAID = VendRequest("A1", 250, mdb_item=11)
PICK = KeypadSelection(11, 250)          # the paid item
OTHER = KeypadSelection(12, 300)
LAPSED = Lapsed(OTHER, "the machine cancelled the selection")

LOST = "MDB bridge not answering: [Errno 5] Input/output error"
RESET = "the machine reset the MDB reader"
OFF = "the machine has not enabled the MDB reader (DISABLED)"
CLOSED = "the MDB driver is closed"
SALE_STATES = (Queued, AwaitingSelection, Dispensing)

STATES: dict[str, State] = {
    "disabled": Disabled("the machine has not enabled the MDB reader (OFFLINE)", LAPSED),
    "idle": Idle(LAPSED),
    "keypad_pending": KeypadPending(PICK, "2.50", NOW + 60),
    "queued": Queued(PAID, NOW + 2),
    "awaiting_selection": AwaitingSelection(PAID, NOW + 30, seen=True),
    "dispensing": Dispensing(PAID, NOW + 45),
    "finished": Finished(LAPSED),
}

# name -> (event, now)
EVENTS: dict[str, tuple[Event, float]] = {
    "link_up": (LinkUp(), NOW),
    "link_lost": (LinkLost(LOST), NOW),
    "enabled": (ReaderEnabled(), NOW),
    "session_idle": (SessionIdle(), NOW),
    "reset": (ReaderReset(), NOW),
    "disabled": (ReaderDisabled("DISABLED"), NOW),
    "request_paid": (VendRequested(PICK, "2.50"), NOW),
    "request_other": (VendRequested(OTHER, "3.00"), NOW),
    "success": (VendSucceeded(), NOW),
    "failure": (VendFailed("c,ERR,VEND 3"), NOW),
    "error": (BridgeError('c,ERR,"START -3"'), NOW),
    "vend_asked": (VendAsked(PAID), NOW),
    "released": (SelectionReleased(), NOW),
    "closed": (DriverClosed(), NOW),
    "tick": (Tick(), NOW),
    "tick_late": (Tick(), LATE),
    "write_failed_start": (WriteFailed(StartSession(250)), NOW),
    "write_failed_approve": (WriteFailed(Approve("2.50")), NOW),
    "write_failed_deny": (WriteFailed(Deny("any")), NOW),
}


# Actions, compactly: ("deny",), ("approve", "2.50"), ("start", 250), ("report", outcome),
# ("notify", selection). Details are checked in the stories below.
def brief(actions: tuple[Action, ...]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for action in actions:
        match action:
            case Deny():
                out.append(("deny",))
            case Approve(price_text=price):
                out.append(("approve", price))
            case StartSession(price_minor=price):
                out.append(("start", price))
            case Report(result=result):
                out.append(("report", result.outcome))
            case NotifySelection(selection=selection):
                out.append(("notify", selection))
            case ReportUnclaimed(result=result):
                out.append(("unclaimed", result.outcome))
    return out


DENY = ("deny",)
START = ("start", 250)
APPROVE = ("approve", "2.50")


def report(outcome: VendOutcome) -> tuple[object, ...]:
    return ("report", outcome)


UNCLAIMED_VENDED = ("unclaimed", VendOutcome.VENDED)
UNCLAIMED_FAILED = ("unclaimed", VendOutcome.NO_DROP)


# ---------------------------------------------------------------- the state x event table

# Per state: the cells that change something, then the events that change nothing. Together
# they name every event exactly once (checked below).
Cell = tuple[State, list[tuple[object, ...]]]
CHANGES: dict[str, dict[str, Cell]] = {
    "disabled": {
        "link_up": (Disabled(NO_STATUS_YET, LAPSED), []),
        "link_lost": (Disabled(LOST, LAPSED), []),
        "enabled": (Idle(LAPSED), []),
        "session_idle": (Finished(LAPSED), []),
        "reset": (Disabled(RESET, LAPSED), []),
        "disabled": (Disabled(OFF, LAPSED), []),
        "request_paid": (STATES["disabled"], [DENY]),
        "request_other": (STATES["disabled"], [DENY]),
        "vend_asked": (Disabled("the machine has not enabled the MDB reader (OFFLINE)"),
                       [report(VendOutcome.DENIED)]),
        "released": (Disabled("the machine has not enabled the MDB reader (OFFLINE)"), []),
        "closed": (Disabled(CLOSED, LAPSED), []),
        # the vend approved before a restart reports in: the kiosk decides whose it is
        "success": (STATES["disabled"], [UNCLAIMED_VENDED]),
        "failure": (STATES["disabled"], [UNCLAIMED_FAILED]),
    },
    "idle": {
        "link_lost": (Disabled(LOST, LAPSED), []),
        "session_idle": (Finished(LAPSED), []),
        "reset": (Disabled(RESET, LAPSED), []),
        "disabled": (Disabled(OFF, LAPSED), []),
        "request_paid": (KeypadPending(PICK, "2.50", NOW + 60), [("notify", PICK)]),
        "request_other": (KeypadPending(OTHER, "3.00", NOW + 60), [("notify", OTHER)]),
        "vend_asked": (AwaitingSelection(PAID, NOW + 30), [START]),
        "released": (Idle(), []),
        "closed": (Disabled(CLOSED, LAPSED), []),
        "success": (STATES["idle"], [UNCLAIMED_VENDED]),
        "failure": (STATES["idle"], [UNCLAIMED_FAILED]),
    },
    "keypad_pending": {
        "link_lost": (Disabled(LOST, Lapsed(PICK, LOST)), []),
        "enabled": (Idle(Lapsed(PICK, "the machine cancelled the selection")), []),
        "reset": (Disabled(RESET, Lapsed(PICK, "the machine reset the reader")), []),
        "disabled": (Disabled(OFF, Lapsed(PICK, "the reader went DISABLED")), []),
        "request_other": (KeypadPending(OTHER, "3.00", NOW + 60), [("notify", OTHER)]),
        "vend_asked": (Dispensing(PAID, NOW + 45), [APPROVE]),
        "released": (Finished(), [DENY]),
        "closed": (Disabled(CLOSED, Lapsed(PICK, "the driver was closed mid-vend")), []),
        "tick_late": (Finished(Lapsed(PICK, "the machine's patience (60 s) ran out")), [DENY]),
    },
    "queued": {
        "link_lost": (Disabled(LOST), [report(VendOutcome.DENIED)]),
        "enabled": (AwaitingSelection(PAID, NOW + 30), [START]),
        "reset": (Disabled(RESET), [report(VendOutcome.DENIED)]),
        "disabled": (Disabled(OFF), [report(VendOutcome.DENIED)]),
        "request_paid": (STATES["queued"], [DENY]),   # belongs to the session that is ending
        "request_other": (STATES["queued"], [DENY]),
        "closed": (Disabled(CLOSED), [report(VendOutcome.DENIED)]),
        "tick_late": (Finished(), [report(VendOutcome.DENIED)]),
    },
    "awaiting_selection": {
        "link_lost": (Disabled(LOST), [report(VendOutcome.DENIED)]),
        "enabled": (AwaitingSelection(PAID, NOW + 30, seen=False), [START]),  # opened again
        "reset": (Disabled(RESET), [report(VendOutcome.DENIED)]),
        "disabled": (Disabled(OFF), [report(VendOutcome.DENIED)]),
        "request_paid": (Dispensing(PAID, NOW + 45), [APPROVE]),
        "request_other": (STATES["awaiting_selection"], [DENY]),
        "failure": (Finished(), [DENY, report(VendOutcome.DENIED)]),
        "error": (Finished(), [DENY, report(VendOutcome.DENIED)]),
        "closed": (Disabled(CLOSED), [report(VendOutcome.DENIED)]),
        "tick_late": (Finished(), [DENY, report(VendOutcome.TIMEOUT)]),
        "write_failed_start": (Idle(), [report(VendOutcome.DENIED)]),
    },
    "dispensing": {
        "link_lost": (Disabled(LOST), [report(VendOutcome.VENDED)]),     # MDB: counts
        "enabled": (Idle(), [report(VendOutcome.UNKNOWN)]),
        "reset": (Disabled(RESET), [report(VendOutcome.VENDED)]),        # MDB: counts
        "disabled": (Disabled(OFF), [report(VendOutcome.UNKNOWN)]),
        "success": (Finished(), [report(VendOutcome.VENDED)]),
        "failure": (Finished(), [report(VendOutcome.NO_DROP)]),
        "closed": (Disabled(CLOSED), [report(VendOutcome.UNKNOWN)]),
        "tick_late": (Finished(), [report(VendOutcome.UNKNOWN)]),       # no deny, no failure
        "write_failed_approve": (Finished(), [report(VendOutcome.UNKNOWN)]),
    },
    "finished": {
        "link_lost": (Disabled(LOST, LAPSED), []),
        "enabled": (Idle(LAPSED), []),
        "reset": (Disabled(RESET, LAPSED), []),
        "disabled": (Disabled(OFF, LAPSED), []),
        "request_paid": (STATES["finished"], [DENY]),   # one approval per session
        "request_other": (STATES["finished"], [DENY]),
        "vend_asked": (Queued(PAID, NOW + 2), []),
        "released": (Finished(), []),
        "closed": (Disabled(CLOSED, LAPSED), []),
        "success": (STATES["finished"], [UNCLAIMED_VENDED]),
        "failure": (STATES["finished"], [UNCLAIMED_FAILED]),
    },
}
UNCHANGED: dict[str, set[str]] = {
    "disabled": {"error", "tick", "tick_late", "write_failed_start",
                 "write_failed_approve", "write_failed_deny"},
    "idle": {"link_up", "enabled", "error", "tick", "tick_late",
             "write_failed_start", "write_failed_approve", "write_failed_deny"},
    "keypad_pending": {"link_up", "session_idle", "request_paid", "success", "failure",
                       "error", "tick", "write_failed_start", "write_failed_approve",
                       "write_failed_deny"},
    "queued": {"link_up", "session_idle", "success", "failure", "error", "vend_asked",
               "released", "tick", "write_failed_start", "write_failed_approve",
               "write_failed_deny"},
    "awaiting_selection": {"link_up", "session_idle", "success", "vend_asked", "released",
                           "tick", "write_failed_approve", "write_failed_deny"},
    "dispensing": {"link_up", "session_idle", "request_paid", "request_other", "error",
                   "vend_asked", "released", "tick", "write_failed_start",
                   "write_failed_deny"},
    "finished": {"link_up", "session_idle", "error", "tick",
                 "tick_late", "write_failed_start", "write_failed_approve",
                 "write_failed_deny"},
}


def expected(state_name: str, event_name: str) -> Cell:
    if event_name in UNCHANGED[state_name]:
        return STATES[state_name], []
    return CHANGES[state_name][event_name]


CELLS = list(itertools.product(STATES, EVENTS))


def test_the_table_names_every_cell_exactly_once() -> None:
    assert CHANGES.keys() == UNCHANGED.keys() == STATES.keys()
    for name in STATES:
        assert not CHANGES[name].keys() & UNCHANGED[name], name
        assert CHANGES[name].keys() | UNCHANGED[name] == EVENTS.keys(), name


@pytest.mark.parametrize(("state_name", "event_name"), CELLS)
def test_state_x_event(state_name: str, event_name: str) -> None:
    event, now = EVENTS[event_name]
    state, actions = MACHINE.step(STATES[state_name], event, now)
    assert (state, brief(actions)) == expected(state_name, event_name)


@pytest.mark.parametrize(("state_name", "event_name"), CELLS)
def test_money_rules_hold_in_every_cell(state_name: str, event_name: str) -> None:
    before = STATES[state_name]
    event, now = EVENTS[event_name]
    after, actions = MACHINE.step(before, event, now)
    kinds = [type(action) for action in actions]
    reports = [a.result.outcome for a in actions if isinstance(a, Report)]
    assert kinds.count(Approve) <= 1 and len(reports) <= 1
    if Approve in kinds:  # an approval always starts the dispense budget, from now
        assert after == Dispensing(PAID, now + SETTINGS.dispense_timeout_s)
    if isinstance(before, Dispensing):
        assert Deny not in kinds and Approve not in kinds  # nothing is denied mid-vend
        assert VendOutcome.TIMEOUT not in reports and VendOutcome.DENIED not in reports
    if VendOutcome.TIMEOUT in reports:  # only the selection budget times out
        assert isinstance(before, AwaitingSelection) and Deny in kinds
    if reports and not isinstance(event, VendAsked):
        assert isinstance(before, SALE_STATES) and not isinstance(after, SALE_STATES)


# ---------------------------------------------------------------- random event sequences

REQUESTS = (PAID, VendRequest("A2", 300, mdb_item=12), VendRequest("A3", 250))  # A3: no item
SELECTIONS = (PICK, OTHER, KeypadSelection(13, 250))
RARE: tuple[Event, ...] = (   # each ends or disturbs a session
    LinkUp(), LinkLost(LOST), ReaderReset(), ReaderDisabled("DISABLED"), DriverClosed(),
    VendFailed("c,ERR,VEND 3"), BridgeError("c,ERR,X"), WriteFailed(StartSession(250)),
    WriteFailed(Approve("2.50")),
)
COMMON: tuple[Event, ...] = (  # move a sale along
    ReaderEnabled(), SessionIdle(), VendSucceeded(), SelectionReleased(),
    *(VendRequested(s, f"{s.price_minor / 100:.2f}") for s in SELECTIONS),
    *(VendAsked(r) for r in REQUESTS),
)
SESSION_ENDS = (ReaderEnabled, LinkLost, ReaderReset, ReaderDisabled, DriverClosed)
soon = st.sampled_from((0.0, 0.5, 1.0))
steps = st.lists(st.one_of(
    st.tuples(st.sampled_from(COMMON), soon),
    st.tuples(st.sampled_from(COMMON), soon),
    st.tuples(st.sampled_from(RARE), soon),
    st.tuples(st.just(Tick()), st.sampled_from((1.0, 3.0, 31.0, 46.0, 61.0))),
), max_size=40)


@dataclass
class Sale:
    request: VendRequest
    approved_at: float | None = None
    result: VendResult | None = None


@dataclass
class Walk:
    """A random walk through the machine, checking the money rules at every step."""

    state: State
    sale: Sale | None = None
    approved_in_session: bool = False
    now: float = NOW

    def step(self, event: Event, elapsed: float) -> None:
        self.now += elapsed
        if isinstance(event, VendAsked):
            if self.sale is not None:
                return  # the driver asks for one vend at a time
            self.sale = Sale(event.request)
        before = self.state
        self.state, actions = MACHINE.step(before, event, self.now)
        for action in actions:
            self._check(before, event, action)
        if isinstance(event, SESSION_ENDS):
            self.approved_in_session = False
        if self.sale is not None and self.sale.result is not None:
            assert not isinstance(self.state, SALE_STATES)
            self.sale = None
        elif self.sale is not None:
            assert isinstance(self.state, SALE_STATES), "a sale left without its result"

    def _check(self, before: State, event: Event, action: Action) -> None:
        sale = self.sale
        if isinstance(action, Deny):
            assert not isinstance(before, Dispensing), "a deny mid-vend"
        if isinstance(action, Approve):
            assert not self.approved_in_session, "a second approval in one session"
            assert sale is not None and _approves_the_paid_item(before, event, sale.request)
            sale.approved_at = self.now
            self.approved_in_session = True
        if isinstance(action, Report):
            assert sale is not None and sale.result is None, "a report without a sale"
            _check_result(sale, action.result, self.now)
            sale.result = action.result


# Walks start from every state (Finished: the session already had its approval).
STARTS: list[Callable[[], Walk]] = [
    lambda: Walk(Idle()),
    lambda: Walk(KeypadPending(PICK, "2.50", NOW + 60)),
    lambda: Walk(Queued(PAID, NOW + 2), Sale(PAID)),
    lambda: Walk(AwaitingSelection(PAID, NOW + 30), Sale(PAID)),
    lambda: Walk(Dispensing(PAID, NOW + 45), Sale(PAID, approved_at=NOW), True),
    lambda: Walk(Finished(), approved_in_session=True),
    lambda: Walk(Disabled(LOST)),
]
walks = st.sampled_from(STARTS).map(lambda start: start())


@given(walks, steps)
@settings(max_examples=600, deadline=None)
def test_random_sequences_keep_the_money_rules(walk: Walk,
                                               sequence: list[tuple[Event, float]]) -> None:
    for event, elapsed in sequence:
        walk.step(event, elapsed)


def _approves_the_paid_item(before: State, event: Event, request: VendRequest) -> bool:
    if isinstance(event, VendRequested):
        chosen = event.selection
        return (isinstance(before, AwaitingSelection) and chosen.item == request.mdb_item
                and chosen.price_minor == request.price_minor)
    return (isinstance(before, KeypadPending) and isinstance(event, VendAsked)
            and selection_waiting(before, request))


def _check_result(sale: Sale, result: VendResult, now: float) -> None:
    if sale.approved_at is None:
        assert result.outcome in (VendOutcome.DENIED, VendOutcome.TIMEOUT)
    else:  # approved: a dispense result or UNKNOWN, never a no-vend outcome
        assert result.outcome in (VendOutcome.VENDED, VendOutcome.NO_DROP, VendOutcome.UNKNOWN)
    if "dispense budget" in result.detail:
        assert sale.approved_at is not None
        assert now >= sale.approved_at + SETTINGS.dispense_timeout_s


# ---------------------------------------------------------------- stories and edge cases


def run(state: State, *events: Event | tuple[Event, float]) -> tuple[State, list[Action]]:
    """Step through ``events`` (at NOW unless given a time); all actions in order."""
    actions: list[Action] = []
    for item in events:
        event, now = item if isinstance(item, tuple) else (item, NOW)
        state, step_actions = MACHINE.step(state, event, now)
        actions.extend(step_actions)
    return state, actions


def reports(actions: list[Action]) -> list[VendResult]:
    return [action.result for action in actions if isinstance(action, Report)]


def test_touchscreen_sale_denies_wrong_items_and_approves_the_paid_one_once() -> None:
    state, actions = run(Idle(), VendAsked(PAID), SessionIdle(),
                         VendRequested(OTHER, "3.00"), ReaderEnabled(), SessionIdle(),
                         (VendRequested(PICK, "2.50"), NOW + 20),
                         VendRequested(PICK, "2.50"), (VendSucceeded(), NOW + 21))
    assert brief(tuple(actions)) == [START, DENY, START, APPROVE, report(VendOutcome.VENDED)]
    assert state == Finished()


def test_reopening_the_session_keeps_the_selection_deadline() -> None:
    state, _ = run(Idle(), VendAsked(PAID), SessionIdle(), (VendRequested(OTHER, "3.00"), NOW + 10),
                   (ReaderEnabled(), NOW + 10))
    assert state == AwaitingSelection(PAID, NOW + 30)


def test_a_stale_enabled_before_the_session_shows_is_ignored() -> None:
    state, actions = run(Idle(), VendAsked(PAID), ReaderEnabled())
    assert state == AwaitingSelection(PAID, NOW + 30) and brief(tuple(actions)) == [START]


def test_selection_budget_running_out_is_a_timeout_naming_the_item() -> None:
    state, actions = run(Idle(), VendAsked(PAID), SessionIdle(), (Tick(), NOW + 29.9),
                         (Tick(), NOW + 30))
    [result] = reports(actions)
    assert result.outcome is VendOutcome.TIMEOUT
    assert "nobody selected item 11" in result.detail and "30 s selection budget" in result.detail
    assert isinstance(actions[-2], Deny) and state == Finished()


def test_the_dispense_budget_starts_at_the_approval_not_at_the_ask() -> None:
    approved, _ = run(Idle(), VendAsked(PAID), SessionIdle(),
                      (VendRequested(PICK, "2.50"), NOW + 25))
    assert approved == Dispensing(PAID, NOW + 25 + 45)
    # Past the selection budget and past 45 s from the ask: still dispensing.
    state, actions = run(approved, (Tick(), NOW + 31), (Tick(), NOW + 69.9))
    assert state == approved and actions == []
    # A slow VEND SUCCESS inside the dispense budget is a vend.
    assert reports(run(approved, (VendSucceeded(), NOW + 69))[1])[0].vended


def test_no_result_within_the_dispense_budget_is_unknown_without_a_deny() -> None:
    state, actions = run(Dispensing(PAID, NOW + 45), (Tick(), NOW + 45))
    [result] = reports(actions)
    assert result.outcome is VendOutcome.UNKNOWN and len(actions) == 1
    assert "item 11" in result.detail and "45 s dispense budget" in result.detail
    # The late VEND SUCCESS is handed to the kiosk, which settles its UNKNOWN (a claim) by it.
    state, actions = run(state, VendSucceeded())
    assert state == Finished()
    assert actions == [ReportUnclaimed(VendResult(VendOutcome.VENDED))]


@pytest.mark.parametrize(("event", "outcome", "words"), [
    (ReaderReset(), VendOutcome.VENDED, "counts"),
    (LinkLost(LOST), VendOutcome.VENDED, "counts"),
    (ReaderDisabled("DISABLED"), VendOutcome.UNKNOWN, "went DISABLED"),
    (ReaderEnabled(), VendOutcome.UNKNOWN, "without VEND SUCCESS"),
    (DriverClosed(), VendOutcome.UNKNOWN, "closed mid-vend"),
    (VendFailed("c,ERR,VEND 3"), VendOutcome.NO_DROP, "c,ERR,VEND 3"),
])
def test_how_an_approved_vend_ends(event: Event, outcome: VendOutcome, words: str) -> None:
    [result] = reports(run(Dispensing(PAID, NOW + 45), event)[1])
    assert result.outcome is outcome and words in result.detail


def test_keypad_first_is_approved_for_the_same_item_and_price_only() -> None:
    pending, actions = run(Idle(), VendRequested(PICK, "2.50"))
    assert brief(tuple(actions)) == [("notify", PICK)]
    assert selection_waiting(pending, PAID)
    assert not selection_waiting(pending, VendRequest("A1", 300, mdb_item=11))
    state, actions = run(pending, VendAsked(VendRequest("A1", 250)))  # no item: same price
    assert isinstance(state, Dispensing) and brief(tuple(actions)) == [APPROVE]


def test_a_kiosk_sale_of_another_item_denies_the_keypad_pick_then_opens_a_session() -> None:
    pending = KeypadPending(OTHER, "3.00", NOW + 60)
    state, actions = run(pending, VendAsked(PAID), (ReaderEnabled(), NOW + 1))
    assert brief(tuple(actions)) == [DENY, START]
    assert state == AwaitingSelection(PAID, NOW + 1 + 30)


def test_a_slot_without_an_item_number_is_sold_only_from_a_keypad_pick() -> None:
    pending = KeypadPending(OTHER, "3.00", NOW + 60)
    [result] = reports(run(pending, VendAsked(VendRequest("A3", 250)))[1])
    assert result.outcome is VendOutcome.DENIED and "no mdb_item" in result.detail
    assert run(pending, VendAsked(VendRequest("A3", 250)))[0] == pending  # still waiting
    [result] = reports(run(Idle(), VendAsked(VendRequest("A3", 250)))[1])
    assert result.outcome is VendOutcome.DENIED


def test_patience_running_out_denies_and_a_late_vend_of_it_is_denied() -> None:
    state, actions = run(Idle(), VendRequested(PICK, "2.50"), (Tick(), NOW + 59.9),
                         (Tick(), NOW + 60), ReaderEnabled(), VendAsked(PAID))
    assert brief(tuple(actions)) == [("notify", PICK), DENY, report(VendOutcome.DENIED)]
    assert "not approved: the machine's patience (60 s) ran out" in reports(actions)[0].detail
    assert state == Idle()  # the lapse is used up: the next sale of item 11 may go ahead


def test_releasing_forgets_a_lapsed_selection() -> None:
    lapsed = Lapsed(PICK, "the machine cancelled the selection")
    state, actions = run(Idle(lapsed), SelectionReleased(), VendAsked(PAID))
    assert brief(tuple(actions)) == [START] and isinstance(state, AwaitingSelection)


def test_a_pick_cancelled_on_the_machine_is_denied_when_paid_later() -> None:
    _, actions = run(KeypadPending(PICK, "2.50", NOW + 60), ReaderEnabled(), VendAsked(PAID))
    [result] = reports(actions)
    assert result.outcome is VendOutcome.DENIED and "cancelled" in result.detail


def test_the_bridge_refusing_a_session_denies_the_sale() -> None:
    state, actions = run(Idle(), VendAsked(PAID), BridgeError('c,ERR,"START -3"'))
    [result] = reports(actions)
    assert result.outcome is VendOutcome.DENIED and "START -3" in result.detail
    assert state == Finished()


def test_a_vend_while_the_previous_session_ends_waits_for_it() -> None:
    state, actions = run(Finished(), VendAsked(PAID), (VendRequested(PICK, "2.50"), NOW + 1),
                         (ReaderEnabled(), NOW + 1.5), SessionIdle(),
                         (VendRequested(PICK, "2.50"), NOW + 5))
    assert brief(tuple(actions)) == [DENY, START, APPROVE]
    assert state == Dispensing(PAID, NOW + 5 + 45)


def test_a_session_that_never_ends_denies_the_waiting_vend() -> None:
    state, actions = run(Finished(), VendAsked(PAID), (Tick(), NOW + 2))
    [result] = reports(actions)
    assert result.outcome is VendOutcome.DENIED and "another session" in result.detail
    assert state == Finished()


def test_failed_writes() -> None:
    _, actions = run(Dispensing(PAID, NOW + 45), WriteFailed(Approve("2.50")))
    assert reports(actions)[0].outcome is VendOutcome.UNKNOWN  # part of it may have gone out
    _, actions = run(AwaitingSelection(PAID, NOW + 30), WriteFailed(StartSession(250)))
    assert reports(actions)[0] == VendResult(VendOutcome.DENIED, "C,START could not be written")


def test_a_vend_while_disabled_is_denied_with_the_reason() -> None:
    state, actions = run(Idle(), LinkLost(LOST), VendAsked(PAID))
    assert reports(actions) == [VendResult(VendOutcome.DENIED, LOST)]
    assert run(state, LinkUp())[0] == Disabled(NO_STATUS_YET)
