"""Reading the machines' payloads (docs/fleet-protocol.md) into what the tables keep."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from vending_fleet.store.dialect import as_utc

OPEN_CLAIM = ("refund_due", "paid_late", "vend_unknown")
SALE_KINDS = ("vend_result", "vend_resolved")    # the steps that can make a sale ``vended``


def order(event_id: str) -> tuple[str, int]:
    """``"6094013b7fc6-41"`` -> ``("6094013b7fc6", 41)``: the journal and its seq, the
    machine's own order; ``(event_id, 0)`` for an id of another shape."""
    journal, _, seq = event_id.rpartition("-")
    if journal and seq.isdigit():
        return journal, int(seq)
    return event_id, 0


def event_time(payload: Mapping[str, Any], fallback: datetime) -> datetime:
    """The payload's ``at`` (when the machine journalled it), else ``fallback``."""
    at = payload.get("at")
    if not isinstance(at, str):
        return as_utc(fallback)
    return as_utc(datetime.fromisoformat(at))


def amount(value: object) -> Decimal:
    """A decimal text amount; a float (never sent by a kiosk) is refused, not rounded."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"an amount must be decimal text, found {value!r}")
    try:
        parsed = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not parsed.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return parsed


def sale_amount(value: object) -> Decimal:
    """What a sale took: an amount above zero (a zero or negative one would lower the totals
    a machine's mistake, or a forger, should not touch)."""
    parsed = amount(value)
    if parsed <= 0:
        raise ValueError(f"a sale's amount must be above zero, found {value!r}")
    return parsed


def text(payload: Mapping[str, Any], key: str, default: str = "") -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else default


def detail(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    value = payload.get("detail")
    return value if isinstance(value, Mapping) else {}


def reason(payload: Mapping[str, Any]) -> str:
    """Why a sale stands where it does, in the step's own words."""
    found = detail(payload)
    for key in ("reason", "outcome", "action"):
        if isinstance(found.get(key), str) and found[key]:
            return str(found[key])
    return text(payload, "kind")


def claim_code(payload: Mapping[str, Any]) -> str:
    found = detail(payload)
    for key in ("claim_code", "claim"):
        if isinstance(found.get(key), str) and found[key]:
            return str(found[key])
    return ""


def dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def loads(value: object) -> dict[str, Any]:
    loaded = json.loads(str(value))
    return loaded if isinstance(loaded, dict) else {}
