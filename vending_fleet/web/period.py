"""The period a page reports on: whole UTC days ``from`` .. ``to`` (both included), from the
query string; by default the last seven days, today included."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .forms import FormError

DEFAULT_DAYS = 7
MAX_DAYS = 3660
# The default start (a week before ``to``) and ``Period.end`` (the midnight after) must exist.
_EARLIEST_TO = date.min + timedelta(days=DEFAULT_DAYS - 1)
_LATEST_TO = date.max - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after ``last``."""
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def slug(self) -> str:
        return f"{self.first.isoformat()}-to-{self.last.isoformat()}"


def period_from(query: Mapping[str, str], today: date) -> Period:
    """Raises ``FormError`` naming ``from`` or ``to`` when a date is not YYYY-MM-DD, or the
    period runs backwards, is absurdly long or reaches past the calendar's ends."""
    last = _day(query, "to") or today
    if not _EARLIEST_TO <= last <= _LATEST_TO:
        raise FormError("to", f"must be a date from {_EARLIEST_TO} to {_LATEST_TO}")
    first = _day(query, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise FormError("to", f"{last.isoformat()} is before from ({first.isoformat()})")
    if (last - first).days >= MAX_DAYS:
        raise FormError("from", f"the period may be at most {MAX_DAYS} days")
    return Period(first, last)


def instant(query: Mapping[str, str], field: str) -> datetime | None:
    """An ISO 8601 time from the query (UTC when it names no zone), or None when absent."""
    text = query.get(field, "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FormError(field, f"{text!r} is not an ISO 8601 time like "
                        "2026-11-25T10:00:00Z") from None
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:      # an offset that takes it before year 1 or past 9999
        raise FormError(field, f"{text!r} is past the calendar's ends") from None


def _day(query: Mapping[str, str], field: str) -> date | None:
    text = query.get(field, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FormError(field, f"{text!r} is not a date like 2026-11-25") from None
