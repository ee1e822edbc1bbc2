"""The drawing surface every customer screen shares: ``View`` (what the screens need besides
the state), ``Canvas`` (the surface in relative units, with the header and bottom buttons) and
``grid`` (cells for a list of items or coins).

Layout is in relative units: fractions of the canvas, and ``u`` = 1% of its short side for sizes
that must not stretch with the long side (type, margins, button heights).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pygame

from kiosk.flow import Event, KioskState, Product, Sale
from kiosk.i18n import Catalogue, default_catalogue
from kiosk.money import format_amount
from kiosk.ui import widgets as w


@dataclass(frozen=True)
class View:
    """What the screens need besides the state."""

    currency: str
    images_dir: Path
    title: str = ""                   # overrides the catalogue's attract title when set
    machine_id: str = ""
    auto_refund: bool = False         # the gateway refunds by itself (Centrapay)
    locale: str = "en"                # machine.locale: the language a customer is first shown
    support: str = ""                 # machine.support: phone, e-mail or http(s) URL; "" = none
    wallet_picks_coin: bool = True    # False (WCT Pay): no "any coin" button, every order a coin
    catalogue: Catalogue = field(default_factory=default_catalogue, repr=False)


@dataclass
class Canvas:
    surface: pygame.Surface
    view: View
    texts: Catalogue

    @property
    def width(self) -> int:
        return self.surface.get_width()

    @property
    def height(self) -> int:
        return self.surface.get_height()

    @property
    def portrait(self) -> bool:
        return self.height > self.width

    @property
    def u(self) -> float:
        return min(self.width, self.height) / 100

    def px(self, units: float) -> int:
        return int(units * self.u)

    def t(self, key: str, **values: object) -> str:
        return self.texts.text(key, **values)

    def rect(self, x: float, y: float, width: float, height: float) -> pygame.Rect:
        """A rectangle in fractions of the canvas."""
        return pygame.Rect(int(x * self.width), int(y * self.height),
                           int(width * self.width), int(height * self.height))

    def price(self, product: Product) -> str:
        return f"{format_amount(product.price, self.view.currency)} {self.view.currency}"

    def header(self, text: str) -> None:
        w.draw_text(self.surface, text, self.header_rect(), self.px(7), bold=True, max_lines=2)

    def header_rect(self) -> pygame.Rect:
        return pygame.Rect(int(0.04 * self.width), self.px(2), int(0.92 * self.width),
                           self.px(13))

    def bottom_rect(self, *, right: bool = False) -> pygame.Rect:
        """The bottom-corner button: 13u tall, under a third of the width (under 50u)."""
        width = min(int(0.42 * self.width), self.px(50))
        height = self.px(13)
        margin = self.px(3)
        left = self.width - margin - width if right else margin
        return pygame.Rect(left, self.height - margin - height, width, height)

    def content_bottom(self) -> int:
        """Where the space above the bottom buttons ends."""
        return self.bottom_rect().top - self.px(2)

    def bottom_button(self, name: str, label: str, event: Event, *, right: bool = False,
                      color: tuple[int, int, int] = w.ACCENT) -> w.Button:
        rect = self.bottom_rect(right=right)
        w.draw_button(self.surface, rect, label, color=color, size=self.px(6))
        return w.Button(name, rect, event)


Renderer = Callable[[Canvas, KioskState, float], list[w.Button]]


def grid(area: pygame.Rect, count: int, gap: int, aspect: float,
         max_height: int | None = None) -> list[pygame.Rect]:
    """``count`` cells in ``area``, row by row from the top; the columns are the ones giving the
    largest cell of roughly ``aspect`` (width / height), so a portrait area gets fewer, a wide one
    more. Cells fill the area, except that none is taller than ``max_height``."""
    best: tuple[tuple[int, int], int, int, int] | None = None
    for columns in range(1, max(1, count) + 1):
        rows = math.ceil(count / columns)
        cell_w = (area.width - gap * (columns - 1)) // columns
        cell_h = (area.height - gap * (rows - 1)) // rows
        if max_height is not None:
            cell_h = min(cell_h, max_height)
        if cell_w <= 0 or cell_h <= 0:
            continue
        score = (int(min(cell_w / aspect, cell_h)), -(columns * rows - count))
        if best is None or score > best[0]:
            best = (score, columns, cell_w, cell_h)
    if best is None:
        return []
    _, columns, cell_w, cell_h = best
    return [pygame.Rect(area.left + (i % columns) * (cell_w + gap),
                        area.top + (i // columns) * (cell_h + gap), cell_w, cell_h)
            for i in range(count)]


def sale_of(state: KioskState) -> Sale:
    assert state.sale is not None, f"{state.screen} needs a sale"
    return state.sale
