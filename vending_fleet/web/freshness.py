"""How fresh a machine's data is, as operators' dashboards colour it: green under 3 hours since
the last contact, yellow from 3 to 8 hours, red beyond 8 hours (or never heard of)."""

from __future__ import annotations

from datetime import datetime, timedelta

YELLOW_AFTER = timedelta(hours=3)
RED_AFTER = timedelta(hours=8)


def freshness(last_seen: datetime | None, now: datetime) -> str:
    """The CSS class: ``fresh-green``, ``fresh-yellow`` or ``fresh-red``."""
    if last_seen is None:
        return "fresh-red"
    age = now - last_seen
    if age < YELLOW_AFTER:
        return "fresh-green"
    if age <= RED_AFTER:
        return "fresh-yellow"
    return "fresh-red"


def ago(then: datetime | None, now: datetime) -> str:
    """``"2 h 5 min ago"``; "never" for no contact at all."""
    if then is None:
        return "never"
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "just now"      # the machine's clock is a little ahead of ours
    if seconds < 60:
        return f"{seconds} s ago"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min ago"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min ago"
    return f"{hours // 24} days ago"
