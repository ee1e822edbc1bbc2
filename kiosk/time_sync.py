"""Whether the wall clock can be trusted yet: a Pi has no real-time clock.

It boots with the time it had when it last shut down and network time (NTP) steps it later.
Until then every date the kiosk gives the gateway (a payment's expiry) and writes in the
journal is wrong, so the kiosk takes no money before the clock is synchronised. The answer is
the kernel's own (``adjtimex(2)`` read-only: ``TIME_ERROR`` while its "unsynchronised" flag is
set, as ``timedatectl``'s ``NTPSynchronized`` reports it); where that call is not allowed,
systemd-timesyncd's flag file. Machines that are offline by design turn the wait off with
``[machine] wait_for_time_sync = false`` and vouch for their clock themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from pathlib import Path

log = logging.getLogger(__name__)

TIME_ERROR = 5                      # adjtimex: the clock is not synchronised
TIMEX_SIZE = 512                    # larger than struct timex on every architecture
TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")
WAITING = "waiting for the clock"


def kernel_time_synced() -> bool | None:
    """True: synchronised; False: not yet; None: this system cannot say."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        timex = ctypes.create_string_buffer(TIMEX_SIZE)   # modes = 0: read, change nothing
        state = int(libc.adjtimex(timex))
    except (OSError, AttributeError):                     # no libc, or no adjtimex (not Linux)
        state = -1
    if state >= 0:
        return state != TIME_ERROR
    return True if TIMESYNCD_FLAG.exists() else None


def clock_fault(synced: bool | None) -> str:
    """What the out-of-service screen says while the clock is not trusted; "" once it is."""
    if synced:
        return ""
    if synced is None:
        return (f"{WAITING}: this system does not say whether it is synchronised "
                "(for a machine offline by design: [machine] wait_for_time_sync = false)")
    return f"{WAITING}: not yet synchronised with network time (NTP)"
