"""Read-and-reset: a reset is one operator event holding the counters at that moment, so the
"since last reset" fields are the totals now minus that snapshot. Reads without a reset write
nothing, like a handheld's plain read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kiosk.dex.counters import Counters

RESET_KIND = "dex_reset"
ALL_EVENTS = 2 ** 62               # operator_events' limit that means "every one"


@dataclass(frozen=True)
class History:
    """The resets before this read."""

    resets: int = 0
    last_read: datetime | None = None     # the time the last reset's file was read
    base: Counters = Counters()           # the counters at the last reset


def reset_history(operator_events: Iterable[Mapping[str, Any]]) -> History:
    history = History()
    for event in operator_events:
        if event["kind"] != RESET_KIND:
            continue
        detail = event["detail"]
        read_at = datetime.fromisoformat(str(detail.get("read_at") or event["at"]))
        history = History(history.resets + 1, read_at,
                          Counters.from_json(detail.get("counters", {})))
    return history


def reset_detail(counters: Counters, now: datetime) -> dict[str, Any]:
    """The operator event that makes this read a reset: the next file counts its interim
    figures from here."""
    return {"read_at": now.isoformat(), "counters": counters.to_json()}
