"""CSV downloads: the csv module does the quoting; amounts are exact decimal text. The text
the machines send is neutralised: a spreadsheet runs a cell starting with ``=`` as a formula."""

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
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sales_rows(sales: Iterable[Sale]) -> list[list[str]]:
    return [[s.at.isoformat(), text_cell(s.machine), text_cell(s.tx), text_cell(s.slot),
             text_cell(s.item), money_text(s.amount, s.currency), text_cell(s.currency),
             text_cell(s.gateway), text_cell(s.asset), text_cell(s.event_id)]
            for s in sales]


def totals_rows(by: str, totals: Iterable[Total]) -> list[list[str]]:
    return [[by, text_cell(t.key), text_cell(t.currency), str(t.count),
             money_text(t.amount, t.currency)]
            for t in totals]


def text_cell(text: str) -> str:
    """Machine-sent text as a spreadsheet shows it, never runs it: a leading ``'`` (OWASP's
    advice). Only for text: our amounts, "-2.50" too, must stay numbers."""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")     # RFC 4180 line ends
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def csv_response(text: str, filename: str) -> Response:
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
