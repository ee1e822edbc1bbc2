"""One drawing function per screen. Each draws the state and returns its touch targets.

Layout is in relative units: fractions of the canvas, and ``u`` = 1% of its short side for sizes
that must not stretch with the long side (type, margins, button heights). It holds from 800x480
up, landscape or portrait (``height > width``: a portrait panel, or a landscape one mounted on
its side with ``display.rotation``). The canvas is always the *logical* (upright) surface.

Every customer-facing word comes from the catalogue (``kiosk.i18n``) in the language the app
passes in; only the technician's status line on the out-of-service screen stays English.

Every word a customer sees is chosen here; the surface and its units are ``kiosk.ui.canvas``
and the word-free pieces (product card, payment QR, claim block...) ``kiosk.ui.panels``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pygame

from kiosk.flow import (
    CancelPressed,
    ClaimReason,
    CoinChosen,
    DonePressed,
    Event,
    ItemChosen,
    KioskState,
    Sale,
    Screen,
    StartTapped,
)
from kiosk.money import format_amount
from kiosk.ui import panels
from kiosk.ui import widgets as w
from kiosk.ui.canvas import Canvas, Renderer, grid, sale_of
from kiosk.ui.canvas import View as View  # re-exported: the app, session and gallery build it

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


def render(surface: pygame.Surface, state: KioskState, view: View, now: float,
           language: str | None = None) -> list[w.Button]:
    """Draw ``state`` in ``language`` (default: ``view.locale``); the screen's touch targets,
    in ``surface`` coordinates, first match wins."""
    surface.fill(w.BACKGROUND)
    texts = view.catalogue.with_language(language or view.locale)
    canvas = Canvas(surface, view, texts)
    return _RENDERERS[state.screen](canvas, state, now)


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
        label = c.price(product) if available else c.t("choose_item.sold_out")
        panels.product_card(c, cell, product, available, label)
        if available:
            buttons.append(w.Button(f"item:{product.slot_id}", cell,
                                    ItemChosen(product.slot_id)))
    return buttons


def _choose_coin(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    sale = sale_of(state)
    product = state.product(sale.slot_id)
    assert product is not None
    if sale.price is not None:   # the price the sale started at, not a newer one
        product = replace(product, price=sale.price)
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
        # Without a wallet's choice the gateway takes the first coin: the QR screen names it.
        label = (c.t("choose_coin.pay") if c.view.wallet_picks_coin
                 else c.t("choose_coin.pay_now"))
        return buttons + [panels.pay_in_wallet(c, product, top, label)]
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


# ---------------------------------------------------------------- paying


def _creating(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    w.draw_text(c.surface, c.t("creating.body"), c.rect(0.05, 0.3, 0.9, 0.2), c.px(7))
    return [c.bottom_button("cancel", c.t("button.cancel"), CancelPressed(), color=w.DANGER)]


def _paying(c: Canvas, state: KioskState, now: float) -> list[w.Button]:
    """The largest QR that fits (left in landscape, on top in portrait), the words beside it."""
    sale = sale_of(state)
    assert sale.order is not None and sale.request is not None
    order, request = sale.order, sale.request
    column = panels.payment_qr(c, request.link)

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
        if request.rate is not None and sale.order is not None:   # converted: say at what
            return c.t("pay.amount_at_rate", amount=request.crypto_amount,
                       symbol=request.crypto_symbol, rate=f"{request.rate:f}",
                       currency=sale.order.currency)
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
    sale = sale_of(state)
    w.draw_text(c.surface, c.t("vending.title"), c.rect(0.05, 0.22, 0.9, 0.24), c.px(8),
                w.SUCCESS, bold=True)
    assert sale.order is not None
    w.draw_text(c.surface, sale.order.item_name, c.rect(0.05, 0.48, 0.9, 0.15), c.px(5.5),
                max_lines=2)
    if sale.prompt:  # MDB: the machine waits for the customer's keypad press
        w.draw_text(c.surface, _prompt(c, state, sale), c.rect(0.05, 0.66, 0.9, 0.22),
                    c.px(7), w.ACCENT, bold=True)
    else:
        panels.working_bar(c, c.rect(0.2, 0.7, 0.6, 0.05), now - state.screen_since)
    return []


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
    """The code, its QR and how to reach the operator when the config says."""
    contact = c.t("support.contact", support=c.view.support) if c.view.support else ""
    panels.claim_block(c, code, label, hint, _claim_payload(c, code), contact)


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
                    claim_body: bool = True) -> Renderer:
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
    sale = sale_of(state)
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
    title, body, contact = panels.out_of_service_boxes(c)
    w.draw_text(c.surface, c.t("out_of_service.title"), title, c.px(8), w.ACCENT, bold=True)
    w.draw_text(c.surface, c.t("out_of_service.body"), body, c.px(5))
    if support:
        w.draw_text(c.surface, c.t("support.contact", support=support), contact, c.px(4.5),
                    max_lines=2)
    # For the technician, deliberately not translated.
    w.draw_text(c.surface, f"Status: {state.hardware_fault}", c.rect(0.05, 0.88, 0.9, 0.08),
                c.px(3.2), w.MUTED, max_lines=1)
    return []


_RENDERERS: dict[Screen, Renderer] = {
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
