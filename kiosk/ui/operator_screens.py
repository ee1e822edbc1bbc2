"""The operator menu's screens: drawn from ``OperatorState``, returning touch targets.

English only, on purpose: these words are for the operator, not the customer, and stay out of
the customer catalogue (``assets/i18n``). Every target is at least 48 px square on an 800x480
panel.
"""

from __future__ import annotations

import math

import pygame

from kiosk import operator as op
from kiosk.ui import widgets as w

MIN_TARGET = 48


def render_operator(surface: pygame.Surface, state: op.OperatorState,
                    now: float) -> list[w.Button]:
    surface.fill(w.BACKGROUND)
    return _RENDERERS[state.screen](surface, state, now)


def _u(surface: pygame.Surface) -> float:
    return min(surface.get_size()) / 100


def _header(surface: pygame.Surface, text: str) -> None:
    u = _u(surface)
    w.draw_text(surface, text, pygame.Rect(int(2 * u), int(2 * u),
                                           surface.get_width() - int(4 * u), int(10 * u)),
                int(6.5 * u), w.ACCENT, bold=True, max_lines=1)


def _button(surface: pygame.Surface, name: str, rect: pygame.Rect, label: str, event: object,
            color: tuple[int, int, int] = w.ACCENT) -> w.Button:
    rect = rect.inflate(max(0, MIN_TARGET - rect.width), max(0, MIN_TARGET - rect.height))
    w.draw_button(surface, rect, label, color=color, size=max(14, int(rect.height * 0.4)))
    return w.Button(name, rect, event)  # type: ignore[arg-type]


def _bottom_bar(surface: pygame.Surface, *labels: tuple[str, str, object]) -> list[w.Button]:
    """Buttons across the bottom, left to right."""
    u = _u(surface)
    height = max(MIN_TARGET, int(13 * u))
    margin = int(2 * u)
    top = surface.get_height() - margin - height
    width = min(int(40 * u), (surface.get_width() - margin * (len(labels) + 1)) // len(labels))
    buttons = []
    for index, (name, label, event) in enumerate(labels):
        rect = pygame.Rect(margin + index * (width + margin), top, width, height)
        color = w.DANGER if name == "exit" else w.ACCENT
        buttons.append(_button(surface, name, rect, label, event, color))
    return buttons


def _content(surface: pygame.Surface) -> pygame.Rect:
    u = _u(surface)
    top = int(14 * u)
    bottom = surface.get_height() - int(2 * u) - max(MIN_TARGET, int(13 * u)) - int(2 * u)
    return pygame.Rect(int(2 * u), top, surface.get_width() - int(4 * u), bottom - top)


def _closed(surface: pygame.Surface, state: op.OperatorState, now: float) -> list[w.Button]:
    return []


def _pin(surface: pygame.Surface, state: op.OperatorState, now: float) -> list[w.Button]:
    u = _u(surface)
    _header(surface, "Operator PIN")
    width, height = surface.get_size()
    info = pygame.Rect(int(2 * u), int(14 * u), int(width * 0.45), height - int(30 * u))
    buttons = _bottom_bar(surface, ("back", "Back", op.OpBack()))
    if not state.has_pin:
        w.draw_text(surface, "No operator PIN is set, so the menu cannot be opened. "
                    "A technician sets one with: kiosk set-pin", info, int(5 * u), max_lines=6)
        return buttons
    if state.locked(now):
        minutes = math.ceil((state.locked_until - now) / 60)
        text = f"Too many wrong PINs. Locked for {minutes} more minute(s)."
    elif state.checking:
        text = "Checking..."
    else:
        text = state.message or "Enter the PIN, then OK"
    w.draw_text(surface, "\u25cf " * len(state.entry) or "-", info.move(0, 0).clip(
        pygame.Rect(info.left, info.top, info.width, int(16 * u))), int(9 * u), bold=True,
        max_lines=1)
    w.draw_text(surface, text, pygame.Rect(info.left, info.top + int(18 * u), info.width,
                                           int(30 * u)), int(5 * u), w.MUTED, max_lines=4)
    pad = pygame.Rect(int(width * 0.5), int(3 * u), int(width * 0.48), height - int(6 * u))
    keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "OK"]
    gap = int(1.5 * u)
    cell_w = (pad.width - 2 * gap) // 3
    cell_h = (pad.height - 3 * gap) // 4
    for index, key in enumerate(keys):
        rect = pygame.Rect(pad.left + (index % 3) * (cell_w + gap),
                           pad.top + (index // 3) * (cell_h + gap), cell_w, cell_h)
        event: object = (op.PinClear() if key == "C" else op.PinOk() if key == "OK"
                         else op.PinDigit(key))
        color = w.SUCCESS if key == "OK" else w.MUTED if key == "C" else w.ACCENT
        buttons.append(_button(surface, f"key-{key}", rect, key, event, color))
    return buttons


def _menu(surface: pygame.Surface, state: op.OperatorState, now: float) -> list[w.Button]:
    _header(surface, "Operator menu")
    area = _content(surface)
    entries = [("stock", "Stock", op.OpScreen.STOCK), ("sales", "Sales", op.OpScreen.SALES),
               ("test-vend", "Test vend", op.OpScreen.TEST_VEND),
               ("status", "Status", op.OpScreen.STATUS)]
    gap = int(2 * _u(surface))
    cell_w, cell_h = (area.width - gap) // 2, (area.height - gap) // 2
    buttons = [_button(surface, name, pygame.Rect(area.left + (i % 2) * (cell_w + gap),
                                                  area.top + (i // 2) * (cell_h + gap),
                                                  cell_w, cell_h), label, op.OpShow(screen))
               for i, (name, label, screen) in enumerate(entries)]
    return _bottom_bar(surface, ("exit", "Exit", op.OpExit())) + buttons


def _page(state: op.OperatorState) -> tuple[op.SlotRow, ...]:
    return state.slots[state.page * op.STOCK_PAGE:(state.page + 1) * op.STOCK_PAGE]


def _slot_cells(surface: pygame.Surface, count: int) -> list[pygame.Rect]:
    area = _content(surface)
    gap = int(1.5 * _u(surface))
    columns = 3 if surface.get_width() >= surface.get_height() else 2
    rows = max(1, math.ceil(max(1, count) / columns))
    rows = max(rows, 2)
    cell_w = (area.width - gap * (columns - 1)) // columns
    cell_h = (area.height - gap * (rows - 1)) // rows
    return [pygame.Rect(area.left + (i % columns) * (cell_w + gap),
                        area.top + (i // columns) * (cell_h + gap), cell_w, cell_h)
            for i in range(count)]


def _nav(surface: pygame.Surface, state: op.OperatorState) -> list[w.Button]:
    labels: list[tuple[str, str, object]] = [("back", "Back", op.OpBack())]
    if len(state.slots) > op.STOCK_PAGE:
        labels.append(("next-page", "More", op.NextPage()))
    labels.append(("exit", "Exit", op.OpExit()))
    return _bottom_bar(surface, *labels)


def _stock(surface: pygame.Surface, state: op.OperatorState, now: float) -> list[w.Button]:
    _header(surface, "Stock: +/- or Full; Enable puts a slot back on sale")
    u = _u(surface)
    buttons = _nav(surface, state)
    if not state.slots:
        w.draw_text(surface, "Loading...", _content(surface), int(5 * u))
        return buttons
    rows = _page(state)
    for cell, row in zip(_slot_cells(surface, len(rows)), rows, strict=True):
        pygame.draw.rect(surface, w.PANEL, cell, border_radius=int(u))
        line = max(MIN_TARGET, (cell.height - int(2 * u)) // 2)
        label = f"{row.slot_id} {row.name}: {row.stock}/{row.full}"
        if row.disabled:
            label += f" OFF ({row.reason or 'disabled'})"
        text = pygame.Rect(cell.left + int(u), cell.top, cell.width - int(2 * u),
                           cell.height - line - int(u))
        w.draw_text(surface, label, text, int(4.2 * u), w.DANGER if row.disabled else w.TEXT,
                    max_lines=2)
        controls = [("minus", "-", op.StockAdjust(row.slot_id, -1)),
                    ("plus", "+", op.StockAdjust(row.slot_id, 1)),
                    ("full", "Full", op.StockFull(row.slot_id))]
        if row.disabled:
            controls.append(("enable", "On", op.SlotEnable(row.slot_id)))
        gap = int(u)
        width = (cell.width - gap * (len(controls) + 1)) // len(controls)
        top = cell.bottom - line - gap // 2
        for index, (name, label_text, event) in enumerate(controls):
            rect = pygame.Rect(cell.left + gap + index * (width + gap), top, width, line)
            color = w.SUCCESS if name == "enable" else w.ACCENT
            buttons.append(_button(surface, f"{name}-{row.slot_id}", rect, label_text, event,
                                   color))
    return buttons


def _test_vend(surface: pygame.Surface, state: op.OperatorState, now: float) -> list[w.Button]:
    _header(surface, state.message or "Test vend: tap a slot to dispense one item")
    buttons = _nav(surface, state)
    rows = _page(state)
    for cell, row in zip(_slot_cells(surface, len(rows)), rows, strict=True):
        color = w.MUTED if state.vending_slot else w.ACCENT
        buttons.append(_button(surface, f"vend-{row.slot_id}", cell,
                               f"{row.slot_id} ({row.stock})", op.TestVendPressed(row.slot_id),
                               color))
    return buttons


def _lines(surface: pygame.Surface, lines: list[str]) -> None:
    area = _content(surface)
    u = _u(surface)
    height = max(int(4.5 * u), area.height // max(1, len(lines)))
    for index, text in enumerate(lines):
        w.draw_text(surface, text, pygame.Rect(area.left, area.top + index * height,
                                               area.width, height),
                    min(int(4.5 * u), height - 2), max_lines=1)


def _sales(surface: pygame.Surface, state: op.OperatorState, now: float) -> list[w.Button]:
    _header(surface, "Sales")
    sales = state.sales
    if sales is None:
        _lines(surface, ["Loading..."])
    else:
        lines: list[str] = []
        for title, totals in (("Today", sales.today),
                              (f"Last {sales.period_days} days", sales.period)):
            money = ", ".join(f"{amount} {currency}" for currency, amount in totals.amounts)
            lines.append(f"{title}: {totals.count} sale(s) {money}")
            lines.append("  items: " + ("; ".join(f"{n} x{c} {a}" for n, c, a in totals.by_item)
                                        or "-"))
            lines.append("  coins: " + ("; ".join(f"{n} x{c} {a}" for n, c, a in totals.by_coin)
                                        or "-"))
        _lines(surface, lines)
    return _bottom_bar(surface, ("back", "Back", op.OpBack()), ("exit", "Exit", op.OpExit()))


def _status(surface: pygame.Surface, state: op.OperatorState, now: float) -> list[w.Button]:
    _header(surface, "Status")
    report = state.status
    if report is None:
        _lines(surface, ["Checking network, gateway and vend hardware..."])
    else:
        _lines(surface, [f"{name}: {'OK' if ok else 'FAULT'} - {text}"
                         for name, (ok, text) in (("Network", report.network),
                                                  ("Gateway", report.gateway),
                                                  ("Vend hardware", report.hardware))])
    return _bottom_bar(surface, ("back", "Back", op.OpBack()), ("exit", "Exit", op.OpExit()))


_RENDERERS = {
    op.OpScreen.CLOSED: _closed,
    op.OpScreen.PIN: _pin,
    op.OpScreen.MENU: _menu,
    op.OpScreen.STOCK: _stock,
    op.OpScreen.TEST_VEND: _test_vend,
    op.OpScreen.SALES: _sales,
    op.OpScreen.STATUS: _status,
}
