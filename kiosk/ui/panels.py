"""The word-free pieces of the customer screens: product cards, the wallet's pay panel, the
payment QR, the working bar, the claim block, the out-of-service layout. The screens
(``kiosk.ui.screens``) choose every word in the customer's language and pass it in; these only
lay it out and draw it."""

from __future__ import annotations

import pygame

from kiosk.flow import CoinChosen, Product
from kiosk.ui import widgets as w
from kiosk.ui.canvas import Canvas
from kiosk.ui.qr import qr_surface


def product_card(c: Canvas, cell: pygame.Rect, product: Product, available: bool,
                 label: str) -> None:
    """The product's picture, name and ``label`` (its price, or sold out) in ``cell``."""
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
    w.draw_text(c.surface, label, price_box, c.px(5 * big),
                w.ACCENT if available else w.MUTED, bold=True, max_lines=1)


def pay_in_wallet(c: Canvas, product: Product, top: int, label: str) -> w.Button:
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
    w.draw_button(c.surface, button, label, size=c.px(6))
    return w.Button("coin:wallet", button, CoinChosen(None))



def payment_qr(c: Canvas, link: str) -> pygame.Rect:
    """The largest QR of ``link`` that fits, left in landscape and on top in portrait; the
    column beside it is left for the words."""
    margin = c.px(3)
    if c.portrait:
        qr_side = min(c.width - 2 * margin, int(c.height * 0.5))
        code = qr_surface(link, qr_side)
        place = code.get_rect(midtop=(c.width // 2, margin))
        top = place.bottom + margin
        column = pygame.Rect(margin, top, c.width - 2 * margin, c.height - top - margin)
    else:
        qr_side = min(c.height - 2 * margin, int(c.width * 0.55))
        code = qr_surface(link, qr_side)
        place = code.get_rect(midleft=(margin, c.height // 2))
        left = place.right + margin
        column = pygame.Rect(left, margin, c.width - left - margin, c.height - 2 * margin)
    c.surface.blit(code, place)
    return column


def working_bar(c: Canvas, track: pygame.Rect, elapsed: float) -> None:
    """A block sliding along a track: the machine is working. Vend times vary (a slow spiral,
    an MDB machine), so the bar shows activity, not a percentage it cannot know."""
    pygame.draw.rect(c.surface, w.PANEL, track, border_radius=track.height // 2)
    block = track.width // 4
    phase = (elapsed * 0.5) % 2.0                      # there and back every 4 s
    offset = int((phase if phase <= 1 else 2 - phase) * (track.width - block))
    pygame.draw.rect(c.surface, w.SUCCESS, (track.left + offset, track.top, block, track.height),
                     border_radius=track.height // 2)


def claim_block(c: Canvas, code: str, label: str, hint: str, payload: str,
                contact_text: str) -> None:
    """The code in large type and as a QR of ``payload`` the operator's phone can read off a
    photo, and ``contact_text``: how to reach the operator ("": the config gives no contact)."""
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
    if contact_text:
        w.draw_text(c.surface, contact_text, contact, c.px(4), max_lines=2)


def out_of_service_boxes(c: Canvas) -> tuple[pygame.Rect, pygame.Rect, pygame.Rect]:
    """The title, body and contact boxes of the out-of-service screen; a web address for
    support is drawn as a QR under them."""
    support = c.view.support
    if is_url(support):  # the words move up to make room for the address as a QR
        title, body, contact = (c.rect(0.05, 0.04, 0.9, 0.2), c.rect(0.05, 0.25, 0.9, 0.1),
                                c.rect(0.05, 0.36, 0.9, 0.08))
        image = qr_surface(support, min(int(c.height * 0.38), int(c.width * 0.8)))
        c.surface.blit(image, image.get_rect(midtop=(c.width // 2, int(c.height * 0.47))))
    else:
        title, body, contact = (c.rect(0.05, 0.22, 0.9, 0.24), c.rect(0.05, 0.48, 0.9, 0.12),
                                c.rect(0.05, 0.62, 0.9, 0.1))
    return title, body, contact


def is_url(support: str) -> bool:
    """A web address (the config checked its shape): shown as a QR as well as in words."""
    return support.lower().startswith(("http://", "https://"))
