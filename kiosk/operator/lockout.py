"""The PIN lockout's clocks: a lock journalled as ``Lockout``, held on the wall clock and on
this boot's monotonic clock (``BootClock``), read back from the journal (``read_lockout``) on a
worker thread, and the wrong PIN that starts one (``register_failure``)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from kiosk.journal import PIN_LOCKED
from kiosk.operator.state import MAX_FAILURES

LOCKOUT_S = 15 * 60.0
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")   # changes at every boot (Linux)
LOCK_EVENTS = 50             # operator events searched for the lock's detail (see read_lockout)


@dataclass(frozen=True)
class BootClock:
    """Monotonic time as this boot counts it. CLOCK_MONOTONIC (``time.monotonic``) is shared by
    every process of a boot and no wall-clock step moves it; ``boot_id`` tells boots apart."""

    boot_id: str                    # "" where the system has none: no count is then shared
    monotonic: float


def boot_clock() -> BootClock:
    try:
        boot_id = BOOT_ID.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        boot_id = ""
    return BootClock(boot_id, time.monotonic())


@dataclass(frozen=True)
class Lockout:
    """A PIN lockout as journalled (the detail of a ``pin_locked`` operator event).

    The rule: a lock ends only when both clocks say so, the wall clock past ``until`` and, in
    the boot that counts it, the monotonic clock past ``monotonic_until`` (each ``LOCKOUT_S``
    after the lock). A wall-clock step forward (NTP setting a Pi without a real-time clock, a
    date set by hand) cannot shorten it; a step back lengthens it, as it always did.

    The monotonic count does not survive a reboot, only a restart of the kiosk within one boot.
    So a lock from an earlier boot (or journalled before this rule) that the wall clock says is
    still in force is counted again, in full, by the new boot: ``carried_over`` gives the lock
    to journal for it, and from then on it is this boot's. A reboot can lengthen a lock by up
    to ``LOCKOUT_S``, never shorten it, except in one case no clock can check: when, at the
    first look after a reboot, the wall clock already says the lock is over.
    """

    until: float                    # wall clock, epoch seconds
    boot_id: str = ""               # the boot whose monotonic clock counts it ("": none)
    monotonic_until: float = 0.0

    @classmethod
    def start(cls, now: float, clock: BootClock) -> Lockout:
        return cls(now + LOCKOUT_S, clock.boot_id, clock.monotonic + LOCKOUT_S)

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Lockout:
        """Tolerant of older events and odd values: what is missing is not counted."""
        def number(key: str) -> float:
            value = detail.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return 0.0
            return float(value) if math.isfinite(value) else 0.0

        boot_id = detail.get("boot_id")
        return cls(number("until"), boot_id if isinstance(boot_id, str) else "",
                   number("monotonic_until"))

    def detail(self) -> dict[str, Any]:
        return {"until": self.until, "boot_id": self.boot_id,
                "monotonic_until": self.monotonic_until, "minutes": LOCKOUT_S / 60}

    def counted_in(self, clock: BootClock) -> bool:
        return bool(self.boot_id) and self.boot_id == clock.boot_id

    def locked_until(self, now: float, clock: BootClock) -> float:
        """The wall-clock time it holds until, seen from ``now``: the later of its two ends
        (0.0: over)."""
        left = self.until - now
        if self.counted_in(clock):
            left = max(left, self.monotonic_until - clock.monotonic)
        return now + left if left > 0 else 0.0

    def carried_over(self, now: float, clock: BootClock) -> Lockout | None:
        """The lock counted by this boot, to journal, when it comes from another boot and is
        still in force by the wall clock; ``None`` when there is nothing to carry over."""
        if self.counted_in(clock) or not clock.boot_id or now >= self.until:
            return None
        return replace(self, boot_id=clock.boot_id, monotonic_until=clock.monotonic + LOCKOUT_S)


class LockJournal(Protocol):
    """What the lockout needs of ``kiosk.journal.Journal``."""

    def pin_lockout(self) -> tuple[int, float]: ...

    def operator_events(self, limit: int = 100) -> list[dict[str, Any]]: ...

    def operator_event(self, kind: str, detail: Mapping[str, Any]) -> str: ...


def read_lockout(journal: LockJournal, now: float, clock: BootClock) -> tuple[int, float]:
    """``(wrong PINs in a row, locked until)`` from the journal, the lock held on both clocks
    (``Lockout``; 0.0: not locked). A lock from another boot still in force is journalled
    again, counted by this one. Runs on a worker thread: journal I/O."""
    failures, until = journal.pin_lockout()
    if not until:
        return failures, 0.0
    # While a lock holds nothing else is journalled, and after it at most MAX_FAILURES - 1
    # failures: the newest "pin_locked" among the last events is the lock pin_lockout means.
    lock = Lockout(until)
    for event in reversed(journal.operator_events(LOCK_EVENTS)):
        if event["kind"] == PIN_LOCKED:
            found = Lockout.from_detail(event["detail"])
            lock = found if found.until == until else lock
            break
    carried = lock.carried_over(now, clock)
    if carried is not None:
        journal.operator_event(PIN_LOCKED, {**carried.detail(), "carried_over": True})
        lock = carried
    return failures, lock.locked_until(now, clock)


def register_failure(failures: int, now: float, clock: BootClock) -> tuple[int, Lockout | None]:
    """One more wrong PIN after ``failures`` in a row: ``(failures, lock)``; the fifth locks PIN
    entry for ``LOCKOUT_S`` (``None``: not locked)."""
    failures += 1
    return failures, (Lockout.start(now, clock) if failures >= MAX_FAILURES else None)
