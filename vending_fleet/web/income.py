"""Income: the live sales feed, totals by day, machine, item, coin and gateway over a period,
a chart of the daily totals, and CSV downloads of the sales and the totals."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response

from ..model import Sale, Session, Total, TotalsBy
from .chart import Chart, bar_chart
from .context import Console, console_of
from .csvfiles import (SALES_HEADER, TOTALS_HEADER, csv_response, csv_text, sales_rows,
                       totals_rows)
from .forms import FormError
from .guard import page
from .jsonout import json_response
from .moneytext import money_text
from .period import Period, instant, period_from

FEED_SIZE = 50                 # the latest sales on the income page
API_LIMIT = 1000
API_MAX_LIMIT = 10_000
MAX_CHART_DAYS = 92            # longer periods: only the days with sales get a bar
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Sales stamped a little ahead of our clock (a machine's clock runs fast) still belong in the
# feed.
CLOCK_SLACK = timedelta(days=1)


def latest_sales(console: Console) -> list[Sale]:
    return list(console.store.sales(EPOCH, console.clock() + CLOCK_SLACK, limit=FEED_SIZE))


def totals_of(console: Console, period: Period) -> dict[str, list[Total]]:
    return {by.value: console.store.totals(by, period.start, period.end) for by in TotalsBy}


def day_charts(period: Period, by_day: list[Total]) -> list[Chart]:
    """One chart per currency (amounts in different currencies do not add up)."""
    per_currency: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for total in by_day:
        per_currency[total.currency][total.key] = total.amount
    days = [d.isoformat() for d in period.days()] if len(period.days()) <= MAX_CHART_DAYS \
        else None
    charts = []
    for currency, amounts in sorted(per_currency.items()):
        keys = days if days is not None else sorted(amounts)
        points = [(key, amounts.get(key, Decimal(0)),
                   money_text(amounts.get(key, Decimal(0)), currency)) for key in keys]
        charts.append(bar_chart(f"Sales per day, {currency}", points))
    return charts


def _period(request: Request, console: Console) -> Period:
    return period_from(request.query_params, console.clock().date())


@page()
async def income_page(request: Request, session: Session) -> Response:
    console = console_of(request)
    try:
        period = _period(request, console)
    except FormError as error:
        return console.pages.error(request, 400, str(error), session)
    totals = totals_of(console, period)
    return console.pages.render(
        request, "income.html",
        {"period": period, "totals": totals, "charts": day_charts(period, totals["day"]),
         "sales": latest_sales(console), "query": request.url.query}, session)


@page(api=True)
async def sales_fragment(request: Request, session: Session) -> Response:
    console = console_of(request)
    return console.pages.render(request, "_sales_rows.html", {"sales": latest_sales(console)},
                                session)


@page(api=True)
async def sales_api(request: Request, session: Session) -> Response:
    """``?since=&until=`` (ISO 8601 times) or ``?from=&to=`` (days); ``machine``, ``limit``."""
    console = console_of(request)
    query = request.query_params
    try:
        period = _period(request, console)
        start = instant(query, "since") or period.start
        end = instant(query, "until") or (console.clock() + CLOCK_SLACK
                                          if "since" in query else period.end)
        limit = _limit(query.get("limit", ""))
    except FormError as error:
        return json_response({"error": str(error), "field": error.field}, 400)
    sales = console.store.sales(start, end, machine=query.get("machine") or None, limit=limit)
    return json_response(sales)


@page(api=True)
async def totals_api(request: Request, session: Session) -> Response:
    console = console_of(request)
    try:
        period = _period(request, console)
        by = _by(request.query_params.get("by", "day"))
    except FormError as error:
        return json_response({"error": str(error), "field": error.field}, 400)
    return json_response(console.store.totals(by, period.start, period.end))


@page()
async def sales_csv(request: Request, session: Session) -> Response:
    console = console_of(request)
    try:
        period = _period(request, console)
    except FormError as error:
        return console.pages.error(request, 400, str(error), session)
    sales = console.store.sales(period.start, period.end,
                                machine=request.query_params.get("machine") or None)
    return csv_response(csv_text(SALES_HEADER, sales_rows(sales)),
                        f"sales-{period.slug()}.csv")


@page()
async def totals_csv(request: Request, session: Session) -> Response:
    """Every grouping (a ``by`` column says which), or only ``?by=``."""
    console = console_of(request)
    try:
        period = _period(request, console)
        chosen = request.query_params.get("by")
        groupings = [_by(chosen)] if chosen else list(TotalsBy)
    except FormError as error:
        return console.pages.error(request, 400, str(error), session)
    rows = [row for by in groupings
            for row in totals_rows(by.value, console.store.totals(by, period.start, period.end))]
    return csv_response(csv_text(TOTALS_HEADER, rows), f"totals-{period.slug()}.csv")


def _by(text: str) -> TotalsBy:
    try:
        return TotalsBy(text)
    except ValueError:
        raise FormError("by", f"must be one of {', '.join(b.value for b in TotalsBy)}, "
                        f"not {text!r}") from None


def _limit(text: str) -> int:
    if not text:
        return API_LIMIT
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= API_MAX_LIMIT:
        raise FormError("limit", f"must be a whole number from 1 to {API_MAX_LIMIT}")
    return int(text)
