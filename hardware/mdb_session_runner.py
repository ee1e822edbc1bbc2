"""The MDB session machine run for real: one lock, the kiosk's vend and the machine's actions.

``hardware.mdb_session`` decides; this module steps it under the driver's one lock
(``SessionRunner.cond``) with the monotonic clock and carries out what it decides: bridge
commands (through the link's ``send``), the vend's result for the waiting ``vend`` call, and the
keypad notices for the kiosk's listeners. The reader thread (``hardware.mdb_link``) and the
kiosk's calls (``hardware.mdb.MdbDriver``) both feed it events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from hardware import mdb_protocol as proto
from hardware import mdb_session as session
from hardware.base import (
    NOT_RECORDED,
    KeypadSelection,
    ResultListener,
    SelectionListener,
    VendRequest,
    VendResult,
)

log = logging.getLogger("hardware.mdb")  # the driver's log, whichever part writes it

WAIT_SLICE_S = 0.05        # vend() re-checks the injected clock at least this often

Notice = Callable[[], None]


class SessionRunner:
    """Steps the session machine and carries out its actions; everything under ``cond``.

    :param machine: the pure session machine.
    :param initial: the state before the bridge answers (``Disabled`` with the link's fault).
    :param send: writes one bridge command; False if the port is gone (the reader notices).
    :param deny_command: the bridge command that denies a VEND REQUEST (firmware-specific).
    :param decimals: the machine currency's decimals, for the bridge's amounts.
    :param clock: monotonic seconds.
    """

    def __init__(self, machine: session.SessionMachine, initial: session.State, *,
                 send: Callable[[str], bool], deny_command: str, decimals: int,
                 clock: Callable[[], float]) -> None:
        self.cond = threading.Condition()        # guards everything below
        self.state: session.State = initial
        self.listener: SelectionListener | None = None
        self.unclaimed_listener: ResultListener | None = None
        self._machine = machine
        self._send = send
        self._deny_command = deny_command
        self._decimals = decimals
        self._clock = clock
        self._vend_lock = threading.Lock()       # one vend at a time
        self._result: VendResult | None = None   # the current vend's Report

    def vend(self, request: VendRequest, stop: threading.Event) -> VendResult:
        """Ask for the vend and wait for its one ``Report`` (``DriverClosed`` once stopped)."""
        with self._vend_lock, self.cond:
            self._result = None
            self.feed(session.VendAsked(request))
            while self._result is None:
                if stop.is_set():
                    self.feed(session.DriverClosed())
                else:
                    self.cond.wait(WAIT_SLICE_S)
                    self.feed(session.Tick())
            result, self._result = self._result, None
        return result

    def feed(self, event: session.Event) -> list[Notice]:
        """Step the session machine and carry out its actions; the caller holds ``cond``.

        Returns the keypad notices, for the caller to run once it has let go of the lock
        (only a VEND REQUEST line produces one, so only the reader thread gets any).
        """
        notices: list[Notice] = []
        events = [event]
        while events:
            event = events.pop(0)
            before = self.state
            self.state, actions = self._machine.step(before, event, self._clock())
            if self.state != before:
                log.debug("MDB session %s -> %s on %s", before, self.state, event)
            for action in actions:
                follow_up = self._carry_out(action, notices)
                if follow_up is not None:
                    events.append(follow_up)
        self.cond.notify_all()
        return notices

    def _carry_out(self, action: session.Action, notices: list[Notice]) -> session.Event | None:
        """Do one action; returns the event it leads to (a failed write, nobody listening)."""
        match action:
            case session.StartSession(price_minor=price):
                log.info("opening a session with %s", price)
                return self._command(action, proto.start_session(price, self._decimals))
            case session.Approve(price_text=price_text):
                dispensing = self.state
                if isinstance(dispensing, session.Dispensing) and \
                        not dispensing.request.may_dispense():
                    # Not sent: to the machine this is an approval that never came.
                    log.error("not approving the vend: %s", NOT_RECORDED)
                    return session.WriteFailed(action)
                log.info("approving the vend at %s", price_text)
                return self._command(action, proto.approve(price_text))
            case session.Deny(reason=reason):
                log.info("denying the VMC's request: %s", reason)
                return self._command(action, self._deny_command)
            case session.Report(result=result):
                self._result = result
            case session.NotifySelection(selection=selection):
                listener = self.listener
                if listener is None:
                    log.info("keypad item %s: nobody is listening for selections",
                             selection.item)
                    return session.SelectionReleased()
                notices.append(lambda: _notify(listener, selection))
            case session.ReportUnclaimed(result=result):
                log.warning("a vend result nobody waits for: %s %s", result.outcome.value,
                            result.detail)
                unclaimed = self.unclaimed_listener
                if unclaimed is not None:
                    notices.append(lambda: _notify(unclaimed, result))
        return None

    def _command(self, command: session.Command, line: str) -> session.Event | None:
        return None if self._send(line) else session.WriteFailed(command)


_Notice = TypeVar("_Notice", KeypadSelection, VendResult)

def _notify(listener: Callable[[_Notice], None], notice: _Notice) -> None:
    try:
        listener(notice)
    except Exception:  # a listener bug must not stop the reader thread
        log.exception("the kiosk's listener failed on %s", notice)
