"""Stock: every slot of every machine with sold-out and low marks, and the pick list for the
next restock round (``picklist``)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ..model import Session, Slot
from .context import Console, console_of
from .guard import page
from .jsonout import json_response
from .picklist import CAPACITY_WINDOW, PickList, capacities, pick_list

MAX_LOW = 10_000


@dataclass(frozen=True)
class SlotRow:
    slot: Slot
    capacity: int
    mark: str                  # "sold-out", "low" or ""


@dataclass(frozen=True)
class StockView:
    low: int
    rows: list[SlotRow]
    picks: PickList


def stock_view(console: Console, low: int) -> StockView:
    slots = console.store.slots()
    since = console.clock() - CAPACITY_WINDOW
    capacity: dict[tuple[str, str], int] = {}
    for machine in sorted({s.machine for s in slots}):
        mine = [s for s in slots if s.machine == machine]
        for slot_id, full in capacities(mine, console.store.events_of(machine, since)).items():
            capacity[(machine, slot_id)] = full
    rows = [SlotRow(s, capacity.get((s.machine, s.slot), s.stock), _mark(s.stock, low))
            for s in slots]
    return StockView(low, rows, pick_list(slots, capacity))


def _mark(stock: int, low: int) -> str:
    if stock <= 0:
        return "sold-out"
    if stock <= low:
        return "low"
    return ""


def _low(request: Request, console: Console) -> int | str:
    """The low mark from ``?low=``, or the reason it is unusable."""
    text = request.query_params.get("low", "").strip()
    if not text:
        return console.low_stock
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_LOW:   # not "²": int() fails
        return f"low: must be a whole number from 0 to {MAX_LOW}, not {text!r}"
    return int(text)


@page()
async def stock_page(request: Request, session: Session) -> Response:
    console = console_of(request)
    low = _low(request, console)
    if isinstance(low, str):
        return console.pages.error(request, 400, low, session)
    return console.pages.render(request, "stock.html", {"view": stock_view(console, low)},
                                session)


@page(api=True)
async def stock_api(request: Request, session: Session) -> Response:
    console = console_of(request)
    low = _low(request, console)
    if isinstance(low, str):
        return json_response({"error": low, "field": "low"}, 400)
    view = stock_view(console, low)
    return json_response({"low": view.low, "slots": view.rows,
                          "pick_list": {"per_machine": view.picks.per_machine,
                                        "totals": [{"item": item, "units": units}
                                                   for item, units in view.picks.totals]}})
