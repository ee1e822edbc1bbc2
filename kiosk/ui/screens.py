"""One drawing function per screen. Each draws the state and returns its touch targets.

Layout is in relative units (``u`` = 1% of the short side), so it holds from 800x480 up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygame

from kiosk.flow import (
    CancelPressed,
    CoinChosen,
    DonePressed,
    Event,
    ItemChosen,
    KioskState,
    Product,
    Sale,
    Screen,
    StartTapped,
)
from kiosk.money import format_amount
from kiosk.ui import widgets as w
from kiosk.ui.qr import qr_surface


@dataclass(frozen=True)
class View:
    """What the screens need besides the state."""

    currency: str
    images_dir: Path
    title: str = "Crypto vending"
    machine_id: str = ""
    auto_refund: bool = False         # the gateway refunds by itself (Centrapay)


@dataclass
class Canvas:
    surface: pygame.Surface
    view: View

    @property
    def width(self) -> int:
        return self.surface.get_width()

    @property
    def height(self) -> int:
        return self.surface.get_height()

    @property
    def u(self) -> float:
        return min(self.width, self.height) / 100

    def rect(self, x: float, y: float, width: float, height: float) -> pygame.Rect:
        """A rectangle in fractions of the canvas."""
        return pygame.Rect(int(x * self.width), int(y * self.height),
                           int(width * self.width), int(height * self.height))

    def price(self, product: Product) -> str:
        return f"{format_amount(product.price, self.view.currency)} {self.view.currency}"

    def header(self, text: str) -> None:
        w.draw_text(self.surface, text, self.rect(0.04, 0.02, 0.92, 0.14), int(9 * self.u),
                    bold=True)

    def bottom_button(self, name: str, label: str, event: Event, *, right: bool = False,
                      color: tuple[int, int, int] = w.ACCENT) -> w.Button:
        rect = self.rect(0.66 if right else 0.04, 0.84, 0.30, 0.13)
        w.draw_button(self.surface, rect, label, color=color)
        return w.Button(name, rect, event)


_Renderer = Callable[["Canvas", KioskState, float], list[w.Button]]


def render(surface: pygame.Surface, state: KioskState, view: View,
           now: float) -> list[w.Button]:
    surface.fill(w.BACKGROUND)
    canvas = Canvas(surface, view)
    return _RENDERERS[state.screen](canvas, state, now)


def _attract(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    w.draw_text(c.surface, c.view.title, c.rect(0.05, 0.12, 0.9, 0.2), int(14 * c.u),
                w.ACCENT, bold=True)
    w.draw_text(c.surface, "Snacks and drinks, paid with your crypto wallet",
                c.rect(0.05, 0.34, 0.9, 0.14), int(7 * c.u), w.MUTED)
    pulse = 0.5 + 0.5 * math.sin(now * 2)  # a gentle breathing cue that invites a touch
    colour = tuple(int(a + (b - a) * pulse) for a, b in zip(w.ACCENT, w.TEXT, strict=True))
    button = c.rect(0.25, 0.58, 0.5, 0.2)
    w.draw_button(c.surface, button, "Touch to start", color=colour)  # type: ignore[arg-type]
    return [w.Button("start", c.surface.get_rect(), StartTapped())]


def _choose_item(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    c.header("Choose your item")
    products = state.products
    columns = min(4, max(2, math.ceil(math.sqrt(len(products) * c.width / c.height))))
    rows = math.ceil(len(products) / columns)
    grid = c.rect(0.03, 0.17, 0.94, 0.65)
    gap = int(2 * c.u)
    cell_w = (grid.width - gap * (columns - 1)) // columns
    cell_h = (grid.height - gap * (rows - 1)) // max(1, rows)
    buttons = [c.bottom_button("cancel", "Back", CancelPressed(), color=w.MUTED)]
    for index, product in enumerate(products):
        cell = pygame.Rect(grid.left + (index % columns) * (cell_w + gap),
                           grid.top + (index // columns) * (cell_h + gap), cell_w, cell_h)
        available = state.available(product.slot_id)
        _product_card(c, cell, product, available, state.stock.get(product.slot_id, 0))
        if available:
            buttons.append(w.Button(f"item:{product.slot_id}", cell,
                                    ItemChosen(product.slot_id)))
    return buttons


def _product_card(c: Canvas, cell: pygame.Rect, product: Product, available: bool,
                  stock: int) -> None:
    pygame.draw.rect(c.surface, w.PANEL if available else w.DISABLED, cell,
                     border_radius=int(2 * c.u))
    text_h = int(cell.height * 0.42)
    picture_side = max(8, min(cell.width, cell.height - text_h) - int(2 * c.u))
    image = w.load_image(c.view.images_dir / product.image, picture_side) \
        if product.image else None
    if image is not None:
        if not available:
            image = image.copy()
            image.set_alpha(90)
        c.surface.blit(image, image.get_rect(midtop=(cell.centerx, cell.top + int(c.u))))
    name_box = pygame.Rect(cell.left + int(c.u), cell.bottom - text_h, cell.width - int(2 * c.u),
                           text_h // 2)
    colour = w.TEXT if available else w.MUTED
    w.draw_text(c.surface, product.name, name_box, int(5.5 * c.u), colour, max_lines=2)
    price_box = name_box.move(0, text_h // 2)
    label = c.price(product) if available else "Sold out"
    w.draw_text(c.surface, label, price_box, int(6 * c.u), w.ACCENT if available else w.MUTED,
                bold=True, max_lines=1)


def _choose_coin(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    sale = _sale(state)
    product = state.product(sale.slot_id)
    assert product is not None
    c.header(f"{product.name}: {c.price(product)}")
    w.draw_text(c.surface, "Pay with", c.rect(0.05, 0.17, 0.9, 0.08), int(6 * c.u), w.MUTED)
    buttons = [c.bottom_button("cancel", "Back", CancelPressed(), color=w.MUTED)]
    if sale.assets is None:
        w.draw_text(c.surface, "Loading coins…", c.rect(0.05, 0.35, 0.9, 0.2), int(7 * c.u))
        return buttons
    choices = [(f"coin:{a.symbol}", f"{a.symbol}\n{a.network}", CoinChosen(a))
               for a in sale.assets]
    choices.append(("coin:wallet", "Any coin\nchoose in wallet", CoinChosen(None)))
    columns = min(4, len(choices))
    rows = math.ceil(len(choices) / columns)
    area = c.rect(0.04, 0.27, 0.92, 0.54)
    gap = int(2 * c.u)
    cell_w = (area.width - gap * (columns - 1)) // columns
    cell_h = min(int(22 * c.u), (area.height - gap * (rows - 1)) // rows)
    for index, (name, label, event) in enumerate(choices):
        rect = pygame.Rect(area.left + (index % columns) * (cell_w + gap),
                           area.top + (index // columns) * (cell_h + gap), cell_w, cell_h)
        colour = w.MUTED if event.asset is None else w.ACCENT
        w.draw_button(c.surface, rect, label, color=colour)
        buttons.append(w.Button(name, rect, event))
    return buttons


def _creating(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    w.draw_text(c.surface, "Preparing your payment…", c.rect(0.05, 0.3, 0.9, 0.2),
                int(9 * c.u))
    return [c.bottom_button("cancel", "Cancel", CancelPressed(), color=w.DANGER)]


def _paying(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    sale = _sale(state)
    assert sale.order is not None and sale.request is not None
    order, request = sale.order, sale.request
    margin = int(3 * c.u)
    qr_side = min(c.height - 2 * margin, int(c.width * 0.55))
    code = qr_surface(request.link, qr_side)
    c.surface.blit(code, code.get_rect(midleft=(margin, c.height // 2)))
    left = code.get_width() + 2 * margin
    column = pygame.Rect(left, margin, c.width - left - margin, c.height - 2 * margin)

    def line(y: float, height: float) -> pygame.Rect:
        return pygame.Rect(column.left, column.top + int(y * column.height), column.width,
                           int(height * column.height))

    w.draw_text(c.surface, order.item_name, line(0.0, 0.12), int(7 * c.u), bold=True)
    amount = f"{format_amount(order.amount, order.currency)} {order.currency}"
    w.draw_text(c.surface, amount, line(0.12, 0.12), int(9 * c.u), w.ACCENT, bold=True)
    w.draw_text(c.surface, _coin_line(sale), line(0.25, 0.09), int(5.5 * c.u), w.MUTED)
    if request.memo:  # XRP tags, memos: without it the coins are lost, so it stands out
        w.draw_text(c.surface, f"Tag / memo: {request.memo}", line(0.33, 0.06), int(5 * c.u),
                    w.ACCENT, bold=True, max_lines=1)
    status, colour = _status_line(state.screen, sale)
    w.draw_text(c.surface, status, line(0.36, 0.2), int(6 * c.u), colour)
    seconds = max(0, math.ceil(order.expires_at - now))
    w.draw_text(c.surface, f"Time left {seconds // 60}:{seconds % 60:02d}", line(0.58, 0.1),
                int(6.5 * c.u), w.TEXT if seconds > 15 else w.DANGER, bold=True)
    if state.screen is Screen.CONFIRMING:
        return []  # money is on its way: cancelling now would only strand it
    rect = line(0.78, 0.2)
    rect.width = min(rect.width, int(45 * c.u))
    rect.centerx = column.centerx
    w.draw_button(c.surface, rect, "Cancel", color=w.DANGER)
    return [w.Button("cancel", rect, CancelPressed())]


def _coin_line(sale: Sale) -> str:
    request = sale.request
    if request and request.crypto_amount is not None and request.crypto_symbol:
        return f"Pay {request.crypto_amount} {request.crypto_symbol}"
    if sale.order and sale.order.asset:
        asset = sale.order.asset
        return f"Pay with {asset.symbol} ({asset.network})"
    return "Pay with any coin your wallet offers"


def _status_line(screen: Screen, sale: Sale) -> tuple[str, tuple[int, int, int]]:
    status = sale.status
    if screen is Screen.UNDERPAID and status is not None:
        remaining = f" {status.remaining} {status.paid_symbol or ''}" if status.remaining else ""
        return f"Part received. Please send the rest{remaining}", w.ACCENT
    if screen is Screen.CONFIRMING:
        if status is not None and status.state.value == "under_review":
            return "Payment under review. Please wait…", w.ACCENT
        return "Payment received, confirming…", w.SUCCESS
    return "Scan the code with your phone wallet", w.TEXT


def _vending(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    sale = _sale(state)
    w.draw_text(c.surface, "Paid. Dispensing your item…", c.rect(0.05, 0.25, 0.9, 0.2),
                int(10 * c.u), w.SUCCESS, bold=True)
    assert sale.order is not None
    w.draw_text(c.surface, sale.order.item_name, c.rect(0.05, 0.5, 0.9, 0.15), int(7 * c.u))
    if sale.prompt:  # MDB: the machine waits for the customer's keypad press
        w.draw_text(c.surface, sale.prompt, c.rect(0.05, 0.68, 0.9, 0.2), int(9 * c.u),
                    w.ACCENT, bold=True)
    return []


def _message_screen(title: str, body: str, colour: tuple[int, int, int],
                    body_with_claim: str = "") -> _Renderer:
    def draw(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
        sale = state.sale
        code = sale.claim_code if sale is not None else ""
        w.draw_text(c.surface, title, c.rect(0.05, 0.08, 0.9, 0.18), int(11 * c.u), colour,
                    bold=True)
        w.draw_text(c.surface, body_with_claim if code and body_with_claim else body,
                    c.rect(0.06, 0.28, 0.88, 0.18), int(6 * c.u))
        if code:
            _claim_block(c, code, "Your refund code", "Photograph it and contact the operator.")
        return [c.bottom_button("done", "Done", DonePressed(), right=True)]
    return draw


def _vend_failed(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    sale = _sale(state)
    w.draw_text(c.surface, "Sorry, your item did not drop", c.rect(0.05, 0.08, 0.9, 0.18),
                int(11 * c.u), w.DANGER, bold=True)
    if c.view.auto_refund:
        body, label = "Your payment is being refunded to you automatically.", "Refund reference"
        hint = "Keep this reference in case you need to ask about the refund."
    else:
        body, label = "You paid, so you will get your money back.", "Your refund code"
        hint = "Photograph it and contact the operator."
    w.draw_text(c.surface, body, c.rect(0.06, 0.28, 0.88, 0.18), int(6 * c.u))
    _claim_block(c, sale.claim_code, label, hint)
    return [c.bottom_button("done", "Done", DonePressed(), right=True)]


def _claim_block(c: Canvas, code: str, label: str, hint: str) -> None:
    """The code in large type, and as a QR the operator's phone can read off a photo."""
    qr_side = int(c.height * 0.36)
    text_w = 0.9 - qr_side / c.width
    w.draw_text(c.surface, label, c.rect(0.05, 0.47, text_w, 0.08), int(5.5 * c.u), w.MUTED)
    w.draw_text(c.surface, code, c.rect(0.05, 0.55, text_w, 0.16), int(14 * c.u), w.ACCENT,
                bold=True, max_lines=1)
    w.draw_text(c.surface, hint, c.rect(0.05, 0.72, text_w, 0.1), int(4.5 * c.u), w.MUTED)
    payload = f"CLAIM {code} {c.view.machine_id}".strip()
    image = qr_surface(payload, qr_side)
    c.surface.blit(image, image.get_rect(topright=(int(c.width * 0.96), int(c.height * 0.44))))


def _out_of_service(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    w.draw_text(c.surface, "Sorry, this machine is resting", c.rect(0.05, 0.25, 0.9, 0.2),
                int(10 * c.u), w.ACCENT, bold=True)
    w.draw_text(c.surface, "Please come back a little later.", c.rect(0.05, 0.46, 0.9, 0.12),
                int(6.5 * c.u))
    w.draw_text(c.surface, f"Status: {state.hardware_fault}", c.rect(0.05, 0.88, 0.9, 0.08),
                int(4 * c.u), w.MUTED, max_lines=1)
    return []


def _sale(state: KioskState) -> Sale:
    assert state.sale is not None, f"{state.screen} needs a sale"
    return state.sale


_RENDERERS: dict[Screen, _Renderer] = {
    Screen.ATTRACT: _attract,
    Screen.CHOOSE_ITEM: _choose_item,
    Screen.CHOOSE_COIN: _choose_coin,
    Screen.CREATING_PAYMENT: _creating,
    Screen.AWAITING_PAYMENT: _paying,
    Screen.CONFIRMING: _paying,
    Screen.UNDERPAID: _paying,
    Screen.VENDING: _vending,
    Screen.THANK_YOU: _message_screen("Thank you!", "Please take your item below.", w.SUCCESS),
    Screen.VEND_FAILED: _vend_failed,
    Screen.PAYMENT_FAILED: _message_screen(
        "Payment not completed", "No item was dispensed and the payment did not go through.",
        w.DANGER, body_with_claim="Your payment is still unconfirmed. If it arrives, "
        "the operator refunds it with this code."),
    Screen.EXPIRED: _message_screen("Time is up", "The payment window closed. "
                                    "You were not charged.", w.ACCENT),
    Screen.CANCELLED: _message_screen("Cancelled", "You were not charged.", w.ACCENT),
    Screen.OUT_OF_SERVICE: _out_of_service,
}
