"""One drawing function per screen. Each draws the state and returns its touch targets.

Layout is in relative units: fractions of the canvas, and ``u`` = 1% of its short side for sizes
that must not stretch with the long side (type, margins, button heights). It holds from 800x480
up, landscape or portrait (``height > width``: a portrait panel, or a landscape one mounted on
its side with ``display.rotation``). The canvas is always the *logical* (upright) surface.

Every customer-facing word comes from the catalogue (``kiosk.i18n``) in the language the app
passes in; only the technician's status line on the out-of-service screen stays English.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pygame

from kiosk.flow import (
    CancelPressed,
    ClaimReason,
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
from kiosk.i18n import Catalogue, default_catalogue
from kiosk.money import format_amount
from kiosk.ui import widgets as w
from kiosk.ui.qr import qr_surface

LANGUAGE_ACTION = "language"      # the UI action of the language button (handled by the app)
QR_MIN_SHORT_SIDE = 0.45          # the payment QR is at least this share of the short side
# What a result screen with a code promises, by why the customer holds it. Never "you were not
# charged": the flow drops the code only when the gateway confirmed nothing arrived.
CLAIM_TEXTS: dict[ClaimReason, str] = {
    ClaimReason.VEND_FAILED: "vend_failed.refund",
    ClaimReason.VEND_UNKNOWN: "claim.vend_unknown",
    ClaimReason.PART_PAID: "claim.part_paid",
    ClaimReason.MAYBE_PAID: "claim.maybe_paid",
    ClaimReason.UNCONFIRMED: "claim.unconfirmed",
    ClaimReason.UNVERIFIED: "claim.unverified",
}


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


_Renderer = Callable[["Canvas", KioskState, float], list[w.Button]]


def render(surface: pygame.Surface, state: KioskState, view: View, now: float,
           language: str | None = None) -> list[w.Button]:
    """Draw ``state`` in ``language`` (default: ``view.locale``); the screen's touch targets,
    in ``surface`` coordinates, first match wins."""
    surface.fill(w.BACKGROUND)
    texts = view.catalogue.with_language(language or view.locale)
    canvas = Canvas(surface, view, texts)
    return _RENDERERS[state.screen](canvas, state, now)


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


# ---------------------------------------------------------------- attract


def _attract(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    title = c.view.title or c.t("attract.title")
    w.draw_text(c.surface, title, c.rect(0.05, 0.08, 0.9, 0.22), c.px(11), w.ACCENT,
                bold=True, max_lines=2)
    w.draw_text(c.surface, c.t("attract.subtitle"), c.rect(0.07, 0.32, 0.86, 0.16), c.px(5))
    pulse = 0.5 + 0.5 * math.sin(now * 2)  # a gentle breathing cue that invites a touch
    colour = tuple(int(a + (b - a) * pulse) for a, b in zip(w.ACCENT, w.TEXT, strict=True))
    start = pygame.Rect(0, 0, min(int(0.8 * c.width), c.px(70)), c.px(20))
    start.center = (c.width // 2, int(c.height * 0.62))
    w.draw_button(c.surface, start, c.t("attract.start"), color=colour,  # type: ignore[arg-type]
                  size=c.px(7))
    # The language button comes first: it wins over "touch anywhere to start".
    return [_language_button(c), w.Button("start", c.surface.get_rect(), StartTapped())]


def _language_button(c: Canvas) -> w.Button:
    """Bottom right: a globe and the current language's own name; each tap, the next one."""
    margin = c.px(3)
    rect = pygame.Rect(0, 0, min(c.px(40), c.width // 2 - margin), c.px(12))
    rect.bottomright = (c.width - margin, c.height - margin)
    pygame.draw.rect(c.surface, w.PANEL, rect, border_radius=rect.height // 4)
    pygame.draw.rect(c.surface, w.MUTED, rect, max(1, c.px(0.4)),
                     border_radius=rect.height // 4)
    radius = int(rect.height * 0.28)
    globe = (rect.left + rect.height // 2, rect.centery)
    w.draw_globe(c.surface, globe, radius, w.TEXT)
    label = pygame.Rect(rect.left + rect.height, rect.top + rect.height // 8,
                        rect.width - rect.height - rect.height // 4, rect.height * 3 // 4)
    w.draw_text(c.surface, c.t("language.name"), label, c.px(5), w.TEXT, bold=True,
                max_lines=1)
    return w.Button("language", rect, action=LANGUAGE_ACTION)


# ---------------------------------------------------------------- browsing


def _choose_item(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    c.header(c.t("choose_item.title"))
    products = state.products
    top = c.header_rect().bottom + c.px(2)
    area = pygame.Rect(int(0.03 * c.width), top, int(0.94 * c.width), c.content_bottom() - top)
    buttons = [c.bottom_button("cancel", c.t("button.back"), CancelPressed(), color=w.MUTED)]
    cells = grid(area, len(products), c.px(2), 0.9, max_height=c.px(60))
    for cell, product in zip(cells, products, strict=True):
        available = state.available(product.slot_id)
        _product_card(c, cell, product, available)
        if available:
            buttons.append(w.Button(f"item:{product.slot_id}", cell,
                                    ItemChosen(product.slot_id)))
    return buttons


def _product_card(c: Canvas, cell: pygame.Rect, product: Product, available: bool) -> None:
    pygame.draw.rect(c.surface, w.PANEL if available else w.DISABLED, cell,
                     border_radius=int(2 * c.u))
    pad = max(2, c.px(1))
    wide = cell.width >= 1.8 * cell.height   # a wide, short cell: picture left, words right
    if wide:
        side = max(8, min(cell.height - 2 * pad, int(cell.width * 0.4)))
    else:
        text_h = min(int(cell.height * 0.55), c.px(17))  # two lines of name, one of price
        side = max(8, min(cell.width - 2 * pad, cell.height - text_h - pad))
    image = w.load_image(c.view.images_dir / product.image, side) if product.image else None
    if image is None:  # no picture: the words take the card
        words = cell.inflate(-2 * pad, -2 * pad)
        name_box = pygame.Rect(words.left, words.top, words.width, int(words.height * 0.62))
    elif wide:
        picture = pygame.Rect(cell.left + pad, cell.top + pad, side, side)
        words = pygame.Rect(picture.right + pad, cell.top + pad,
                            cell.right - picture.right - 2 * pad, cell.height - 2 * pad)
        name_box = pygame.Rect(words.left, words.top, words.width, int(words.height * 0.6))
    else:
        picture = pygame.Rect(0, 0, side, side)
        picture.midtop = (cell.centerx, cell.top + pad)
        words = pygame.Rect(cell.left + pad, cell.bottom - text_h, cell.width - 2 * pad,
                            text_h - pad)
        name_box = pygame.Rect(words.left, words.top, words.width, int(words.height * 0.62))
    if image is not None:
        if not available:
            image = image.copy()
            image.set_alpha(90)
        c.surface.blit(image, image.get_rect(center=picture.center))
    colour = w.TEXT if available else w.MUTED
    big = 1.5 if image is None else 1.0
    w.draw_text(c.surface, product.name, name_box, c.px(4 * big), colour, max_lines=2)
    price_box = pygame.Rect(words.left, name_box.bottom, words.width,
                            words.bottom - name_box.bottom)
    label = c.price(product) if available else c.t("choose_item.sold_out")
    w.draw_text(c.surface, label, price_box, c.px(5 * big),
                w.ACCENT if available else w.MUTED, bold=True, max_lines=1)


def _choose_coin(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    sale = _sale(state)
    product = state.product(sale.slot_id)
    assert product is not None
    c.header(c.t("choose_coin.title", item=product.name, price=c.price(product)))
    top = c.header_rect().bottom + c.px(1)
    w.draw_text(c.surface, c.t("choose_coin.pay_with"),
                pygame.Rect(int(0.05 * c.width), top, int(0.9 * c.width), c.px(8)), c.px(5),
                w.MUTED)
    buttons = [c.bottom_button("cancel", c.t("button.back"), CancelPressed(), color=w.MUTED)]
    if sale.assets is None:
        w.draw_text(c.surface, c.t("choose_coin.loading"), c.rect(0.05, 0.35, 0.9, 0.2),
                    c.px(6))
        return buttons
    if not sale.assets:  # the wallet picks the coin: this is the item's detail and confirm step
        return buttons + [_pay_in_wallet(c, product, top)]
    choices: list[tuple[str, str, Event]] = [
        (f"coin:{a.symbol}", f"{a.symbol}\n{a.network}", CoinChosen(a)) for a in sale.assets]
    if c.view.wallet_picks_coin:
        choices.append(("coin:wallet", c.t("choose_coin.wallet"), CoinChosen(None)))
    area_top = top + c.px(10)
    area = pygame.Rect(int(0.04 * c.width), area_top, int(0.92 * c.width),
                       c.content_bottom() - area_top)
    cells = grid(area, len(choices), c.px(3), 2.4, max_height=c.px(24))
    for rect, (name, label, event) in zip(cells, choices, strict=True):
        assert isinstance(event, CoinChosen)
        colour = w.MUTED if event.asset is None else w.ACCENT
        w.draw_button(c.surface, rect, label, color=colour, size=c.px(5.5))
        buttons.append(w.Button(name, rect, event))
    return buttons


def _pay_in_wallet(c: Canvas, product: Product, top: int) -> w.Button:
    """The product large beside one Pay button (above it in portrait)."""
    area = pygame.Rect(int(0.04 * c.width), top + c.px(10), int(0.92 * c.width),
                       c.content_bottom() - top - c.px(10))
    if c.portrait:
        picture = pygame.Rect(area.left, area.top, area.width, area.height * 2 // 3)
        button = pygame.Rect(area.left, picture.bottom + c.px(3), area.width,
                             area.bottom - picture.bottom - c.px(3))
    else:
        picture = pygame.Rect(area.left, area.top, area.width // 2, area.height)
        button = pygame.Rect(picture.right + c.px(3), area.top, area.width // 2 - c.px(3),
                             area.height)
    button.height = min(button.height, c.px(30))
    image = w.load_image(c.view.images_dir / product.image, min(picture.size)) \
        if product.image else None
    if image is not None:
        c.surface.blit(image, image.get_rect(center=picture.center))
    # Without a wallet's choice the gateway takes the first coin: the QR screen names it.
    label = c.t("choose_coin.pay") if c.view.wallet_picks_coin else c.t("choose_coin.pay_now")
    w.draw_button(c.surface, button, label, size=c.px(6))
    return w.Button("coin:wallet", button, CoinChosen(None))


# ---------------------------------------------------------------- paying


def _creating(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    w.draw_text(c.surface, c.t("creating.body"), c.rect(0.05, 0.3, 0.9, 0.2), c.px(7))
    return [c.bottom_button("cancel", c.t("button.cancel"), CancelPressed(), color=w.DANGER)]


def _paying(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    """The largest QR that fits (left in landscape, on top in portrait), the words beside it."""
    sale = _sale(state)
    assert sale.order is not None and sale.request is not None
    order, request = sale.order, sale.request
    margin = c.px(3)
    if c.portrait:
        qr_side = min(c.width - 2 * margin, int(c.height * 0.5))
        code = qr_surface(request.link, qr_side)
        place = code.get_rect(midtop=(c.width // 2, margin))
        top = place.bottom + margin
        column = pygame.Rect(margin, top, c.width - 2 * margin, c.height - top - margin)
    else:
        qr_side = min(c.height - 2 * margin, int(c.width * 0.55))
        code = qr_surface(request.link, qr_side)
        place = code.get_rect(midleft=(margin, c.height // 2))
        left = place.right + margin
        column = pygame.Rect(left, margin, c.width - left - margin, c.height - 2 * margin)
    c.surface.blit(code, place)

    def line(y: float, height: float) -> pygame.Rect:
        return pygame.Rect(column.left, column.top + int(y * column.height), column.width,
                           int(height * column.height))

    w.draw_text(c.surface, order.item_name, line(0.0, 0.12), c.px(5.5), bold=True,
                max_lines=2)
    amount = f"{format_amount(order.amount, order.currency)} {order.currency}"
    w.draw_text(c.surface, amount, line(0.12, 0.12), c.px(7), w.ACCENT, bold=True,
                max_lines=1)
    coin_box, status_box = line(0.25, 0.09), line(0.35, 0.21)
    if request.memo:  # XRP tags, memos: without it the coins are lost, so it stands out
        coin_box, memo_box, status_box = line(0.24, 0.07), line(0.31, 0.07), line(0.38, 0.18)
        w.draw_text(c.surface, c.t("pay.memo", memo=request.memo), memo_box, c.px(4.5),
                    w.ACCENT, bold=True, max_lines=1)
    w.draw_text(c.surface, _coin_line(c, sale), coin_box, c.px(4.5), w.MUTED, max_lines=2)
    status, colour = _status_line(c, state.screen, sale)
    w.draw_text(c.surface, status, status_box, c.px(5), colour)
    seconds = max(0, math.ceil(sale.pay_by - now))
    w.draw_text(c.surface, c.t("pay.time_left", time=f"{seconds // 60}:{seconds % 60:02d}"),
                line(0.58, 0.1), c.px(5.5), w.TEXT if seconds > 15 else w.DANGER, bold=True,
                max_lines=1)
    if state.screen is Screen.CONFIRMING:
        return []  # money is on its way: cancelling now would only strand it
    rect = line(0.78, 0.2)
    rect.height = min(rect.height, c.px(18))
    rect.bottom = column.bottom
    rect.width = min(rect.width, c.px(45))
    rect.centerx = column.centerx
    w.draw_button(c.surface, rect, c.t("button.cancel"), color=w.DANGER, size=c.px(6))
    return [w.Button("cancel", rect, CancelPressed())]


def _coin_line(c: Canvas, sale: Sale) -> str:
    request = sale.request
    asset = sale.order.asset if sale.order else None
    if request and request.crypto_amount is not None and request.crypto_symbol:
        if asset is not None:  # the network too: Lightning or on-chain, Tron or Ethereum
            return c.t("pay.amount_on_network", amount=request.crypto_amount,
                       symbol=request.crypto_symbol, network=asset.network)
        return c.t("pay.amount_in_coin", amount=request.crypto_amount,
                   symbol=request.crypto_symbol)
    if asset is not None:
        return c.t("pay.with_coin", symbol=asset.symbol, network=asset.network)
    return c.t("pay.any_coin")


def _status_line(c: Canvas, screen: Screen, sale: Sale) -> tuple[str, tuple[int, int, int]]:
    status = sale.status
    if screen is Screen.UNDERPAID and status is not None:
        if status.remaining:
            return c.t("pay.underpaid_amount", amount=status.remaining,
                       symbol=status.paid_symbol or ""), w.ACCENT
        return c.t("pay.underpaid"), w.ACCENT
    if screen is Screen.CONFIRMING:
        if status is not None and status.state.value == "under_review":
            return c.t("pay.under_review"), w.ACCENT
        return c.t("pay.confirming"), w.SUCCESS
    return c.t("pay.scan"), w.TEXT


def _vending(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    sale = _sale(state)
    w.draw_text(c.surface, c.t("vending.title"), c.rect(0.05, 0.22, 0.9, 0.24), c.px(8),
                w.SUCCESS, bold=True)
    assert sale.order is not None
    w.draw_text(c.surface, sale.order.item_name, c.rect(0.05, 0.48, 0.9, 0.15), c.px(5.5),
                max_lines=2)
    if sale.prompt:  # MDB: the machine waits for the customer's keypad press
        w.draw_text(c.surface, _prompt(c, state, sale), c.rect(0.05, 0.66, 0.9, 0.22),
                    c.px(7), w.ACCENT, bold=True)
    else:
        _working(c, c.rect(0.2, 0.7, 0.6, 0.05), now - state.screen_since)
    return []


def _working(c: Canvas, track: pygame.Rect, elapsed: float) -> None:
    """A block sliding along a track: the machine is working. Vend times vary (a slow spiral,
    an MDB machine), so the bar shows activity, not a percentage it cannot know."""
    pygame.draw.rect(c.surface, w.PANEL, track, border_radius=track.height // 2)
    block = track.width // 4
    phase = (elapsed * 0.5) % 2.0                      # there and back every 4 s
    offset = int((phase if phase <= 1 else 2 - phase) * (track.width - block))
    pygame.draw.rect(c.surface, w.SUCCESS, (track.left + offset, track.top, block, track.height),
                     border_radius=track.height // 2)


def _prompt(c: Canvas, state: KioskState, sale: Sale) -> str:
    """The vend driver's prompt in the customer's language. The only driver that prompts (MDB)
    asks for the slot's keypad number, which the screen knows; any other prompt is shown as the
    driver wrote it."""
    product = state.product(sale.slot_id)
    if product is not None and product.mdb_item is not None \
            and str(product.mdb_item) in sale.prompt:
        return c.t("vending.keypad", item=product.mdb_item)
    return sale.prompt


# ---------------------------------------------------------------- results


def _result(c: Canvas, title: str, body: str, colour: tuple[int, int, int],
            claim: tuple[str, str, str] | None) -> list[w.Button]:
    """Title, body, and with ``claim`` (code, label, hint) the code as text and as a QR."""
    if claim is None:
        w.draw_text(c.surface, title, c.rect(0.05, 0.1, 0.9, 0.22), c.px(8), colour,
                    bold=True, max_lines=2)
        w.draw_text(c.surface, body, c.rect(0.06, 0.34, 0.88, 0.22), c.px(5))
    elif c.portrait:
        w.draw_text(c.surface, title, c.rect(0.05, 0.03, 0.9, 0.1), c.px(8), colour,
                    bold=True, max_lines=2)
        w.draw_text(c.surface, body, c.rect(0.06, 0.14, 0.88, 0.11), c.px(5))
        _claim_block(c, *claim)
    else:
        w.draw_text(c.surface, title, c.rect(0.05, 0.06, 0.9, 0.18), c.px(8), colour,
                    bold=True, max_lines=2)
        w.draw_text(c.surface, body, c.rect(0.06, 0.26, 0.88, 0.16), c.px(5))
        _claim_block(c, *claim)
    return [c.bottom_button("done", c.t("button.done"), DonePressed(), right=True)]


def _claim_block(c: Canvas, code: str, label: str, hint: str) -> None:
    """The code in large type and as a QR the operator's phone can read off a photo, and how to
    reach the operator when the config says."""
    payload = _claim_payload(c, code)
    if c.portrait:  # words full width, the QR centred under them, the contact under that
        w.draw_text(c.surface, label, c.rect(0.05, 0.26, 0.9, 0.04), c.px(4.5), w.MUTED,
                    max_lines=1)
        w.draw_text(c.surface, code, c.rect(0.05, 0.30, 0.9, 0.07), c.px(10), w.ACCENT,
                    bold=True, max_lines=1)
        w.draw_text(c.surface, hint, c.rect(0.05, 0.37, 0.9, 0.07), c.px(4), w.MUTED)
        image = qr_surface(payload, min(int(c.height * 0.33), int(c.width * 0.7)))
        c.surface.blit(image, image.get_rect(midtop=(c.width // 2, int(c.height * 0.45))))
        contact = c.rect(0.05, 0.79, 0.9, 0.1)
    else:
        qr_side = int(c.height * 0.36)
        text_w = 0.9 - qr_side / c.width
        w.draw_text(c.surface, label, c.rect(0.05, 0.45, text_w, 0.08), c.px(4.5), w.MUTED,
                    max_lines=1)
        w.draw_text(c.surface, code, c.rect(0.05, 0.53, text_w, 0.16), c.px(10), w.ACCENT,
                    bold=True, max_lines=1)
        w.draw_text(c.surface, hint, c.rect(0.05, 0.70, text_w, 0.12), c.px(4), w.MUTED)
        image = qr_surface(payload, qr_side)
        c.surface.blit(image,
                       image.get_rect(topright=(int(c.width * 0.96), int(c.height * 0.44))))
        done = c.bottom_rect(right=True)  # the contact sits left of the Done button
        left = int(0.05 * c.width)
        contact = pygame.Rect(left, done.top, done.left - c.px(2) - left, done.height)
    if c.view.support:
        w.draw_text(c.surface, c.t("support.contact", support=c.view.support), contact,
                    c.px(4), max_lines=2)


def _claim_payload(c: Canvas, code: str) -> str:
    """What the claim QR reads as: the code first, then the machine and the operator's
    contact, one per line, so a photo of the screen is enough to make the claim."""
    lines = [c.t("claim.qr_code", code=code)]
    if c.view.machine_id:
        lines.append(c.t("claim.qr_machine", machine=c.view.machine_id))
    if c.view.support:
        lines.append(c.t("support.contact", support=c.view.support))
    return "\n".join(lines)


def _message_screen(prefix: str, colour: tuple[int, int, int], *,
                    claim_body: bool = True) -> _Renderer:
    """A result screen from the catalogue's ``<prefix>.title`` / ``.body``; with a code the body
    is the one for the code's reason (``CLAIM_TEXTS``)."""
    def draw(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
        sale = state.sale
        code = sale.claim_code if sale is not None else ""
        claim = (code, c.t("claim.code_label"), c.t("claim.code_hint")) if code else None
        body = c.t(f"{prefix}.body")
        if sale is not None and code and claim_body:
            # A code without a reason still never reads "you were not charged".
            body = c.t(CLAIM_TEXTS[sale.claim_reason or ClaimReason.MAYBE_PAID])
        return _result(c, c.t(f"{prefix}.title"), body, colour, claim)
    return draw


def _vend_failed(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    sale = _sale(state)
    title = c.t("vend_failed.title")
    code = (sale.claim_code, c.t("claim.code_label"), c.t("claim.code_hint"))
    if sale.claim_reason is ClaimReason.VEND_UNKNOWN:
        # The item may have dropped: no refund is under way, not even an automatic one.
        title, body = c.t("vend_failed.title_unknown"), c.t(CLAIM_TEXTS[ClaimReason.VEND_UNKNOWN])
    elif c.view.auto_refund:
        body = c.t("vend_failed.auto_refund")
        code = (sale.claim_code, c.t("claim.reference_label"), c.t("claim.reference_hint"))
    else:
        body = c.t(CLAIM_TEXTS[ClaimReason.VEND_FAILED])
    return _result(c, title, body, w.DANGER, code)


def _out_of_service(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    support = c.view.support
    if _is_url(support):  # the words move up to make room for the address as a QR
        title, body, contact = (c.rect(0.05, 0.04, 0.9, 0.2), c.rect(0.05, 0.25, 0.9, 0.1),
                                c.rect(0.05, 0.36, 0.9, 0.08))
        image = qr_surface(support, min(int(c.height * 0.38), int(c.width * 0.8)))
        c.surface.blit(image, image.get_rect(midtop=(c.width // 2, int(c.height * 0.47))))
    else:
        title, body, contact = (c.rect(0.05, 0.22, 0.9, 0.24), c.rect(0.05, 0.48, 0.9, 0.12),
                                c.rect(0.05, 0.62, 0.9, 0.1))
    w.draw_text(c.surface, c.t("out_of_service.title"), title, c.px(8), w.ACCENT, bold=True)
    w.draw_text(c.surface, c.t("out_of_service.body"), body, c.px(5))
    if support:
        w.draw_text(c.surface, c.t("support.contact", support=support), contact, c.px(4.5),
                    max_lines=2)
    # For the technician, deliberately not translated.
    w.draw_text(c.surface, f"Status: {state.hardware_fault}", c.rect(0.05, 0.88, 0.9, 0.08),
                c.px(3.2), w.MUTED, max_lines=1)
    return []


def _is_url(support: str) -> bool:
    """A web address (the config checked its shape): shown as a QR as well as in words."""
    return support.lower().startswith(("http://", "https://"))


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
    Screen.THANK_YOU: _message_screen("thank_you", w.SUCCESS, claim_body=False),
    Screen.VEND_FAILED: _vend_failed,
    Screen.PAYMENT_FAILED: _message_screen("payment_failed", w.DANGER),
    Screen.EXPIRED: _message_screen("expired", w.ACCENT),
    Screen.CANCELLED: _message_screen("cancelled", w.ACCENT),
    Screen.OUT_OF_SERVICE: _out_of_service,
}
