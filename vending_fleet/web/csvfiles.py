"""CSV downloads: the csv module does the quoting; amounts are exact decimal text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from starlette.responses import Response

from ..model import Sale, Total
from .moneytext import money_text

SALES_HEADER = ("at", "machine", "tx", "slot", "item", "amount", "currency", "gateway",
                "asset", "event_id")
TOTALS_HEADER = ("by", "key", "currency", "count", "amount")


def sales_rows(sales: Iterable[Sale]) -> list[list[str]]:
    return [[s.at.isoformat(), s.machine, s.tx, s.slot, s.item,
             money_text(s.amount, s.currency), s.currency, s.gateway, s.asset, s.event_id]
            for s in sales]


def totals_rows(by: str, totals: Iterable[Total]) -> list[list[str]]:
    return [[by, t.key, t.currency, str(t.count), money_text(t.amount, t.currency)]
            for t in totals]


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")     # RFC 4180 line ends
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def csv_response(text: str, filename: str) -> Response:
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
