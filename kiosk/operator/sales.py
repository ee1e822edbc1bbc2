"""The operator's sales summary: vended sales today and over the last days, by item and by
coin, from the journal's transactions. Pure arithmetic."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

SALES_PERIOD_DAYS = 7


@dataclass(frozen=True)
class Totals:
    count: int
    amounts: tuple[tuple[str, str], ...]                      # (currency, total)
    by_item: tuple[tuple[str, int, str], ...]                 # (item, count, amount)
    by_coin: tuple[tuple[str, int, str], ...]                 # (coin, count, amount)


@dataclass(frozen=True)
class SalesSummary:
    today: Totals
    period: Totals
    period_days: int = SALES_PERIOD_DAYS


def sales_summary(transactions: Iterable[Mapping[str, Any]], now: float,
                  days: int = SALES_PERIOD_DAYS) -> SalesSummary:
    """Vended sales today (local date) and over the last ``days`` days, by item and by coin,
    from ``Journal.transactions()`` rows."""
    today_start = datetime.fromtimestamp(now).astimezone().replace(
        hour=0, minute=0, second=0, microsecond=0)
    period_start = today_start - timedelta(days=days - 1)
    today, period = [], []
    for tx in transactions:
        if tx.get("status") != "vended":
            continue
        created = datetime.fromisoformat(str(tx["created_at"])).astimezone()
        if created >= period_start:
            period.append(tx)
            if created >= today_start:
                today.append(tx)
    return SalesSummary(_totals(today), _totals(period), days)


def _totals(rows: list[Mapping[str, Any]]) -> Totals:
    amounts: dict[str, Decimal] = {}
    items: dict[tuple[str, str], list[Any]] = {}
    coins: dict[tuple[str, str], list[Any]] = {}
    for tx in rows:
        amount, currency = Decimal(str(tx["amount"])), str(tx["currency"])
        amounts[currency] = amounts.get(currency, Decimal(0)) + amount
        for table, key in ((items, str(tx["item_name"])), (coins, str(tx.get("asset") or "?"))):
            entry = table.setdefault((key, currency), [0, Decimal(0)])
            entry[0] += 1
            entry[1] += amount

    def listing(table: dict[tuple[str, str], list[Any]]) -> tuple[tuple[str, int, str], ...]:
        ordered = sorted(table.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return tuple((name, count, f"{total} {currency}")
                     for (name, currency), (count, total) in ordered)

    return Totals(len(rows), tuple((c, str(a)) for c, a in sorted(amounts.items())),
                  listing(items), listing(coins))
