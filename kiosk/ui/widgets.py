"""Drawing primitives: colours, fonts, text that always fits its box, and buttons."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pygame

from kiosk.flow import Event

BACKGROUND = (18, 24, 38)
PANEL = (32, 42, 64)
TEXT = (240, 244, 250)
MUTED = (150, 162, 184)
ACCENT = (255, 183, 3)
DANGER = (230, 72, 72)
SUCCESS = (64, 196, 120)
DISABLED = (70, 76, 90)
BUTTON_TEXT_DARK = (20, 20, 20)


@dataclass(frozen=True)
class Button:
    """A touch target: where it is, what tapping it means, and a name the autopilot can find."""

    name: str
    rect: pygame.Rect
    event: Event


@lru_cache(maxsize=64)
def font(size: int, bold: bool = False) -> pygame.font.Font:
    face = pygame.font.Font(None, max(8, size))
    face.set_bold(bold)
    return face


def wrap(text: str, face: pygame.font.Font, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if face.size(candidate)[0] <= width or not line:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def draw_text(surface: pygame.Surface, text: str, rect: pygame.Rect, size: int,
              color: tuple[int, int, int] = TEXT, *, bold: bool = False,
              align: str = "center", max_lines: int = 3) -> pygame.Rect:
    """Draw ``text`` inside ``rect``: wrapped, and shrunk until it fits. Returns the ink box."""
    while True:
        face = font(size, bold)
        lines = wrap(text, face, rect.width)
        height = face.get_linesize() * len(lines)
        widest = max((face.size(line)[0] for line in lines), default=0)
        fits = len(lines) <= max_lines and height <= rect.height and widest <= rect.width
        if fits or size <= 10:
            break
        size = max(10, int(size * 0.9))
    top = rect.top + (rect.height - height) // 2
    ink = pygame.Rect(rect.left, top, 0, 0)
    for index, line in enumerate(lines[:max_lines]):
        image = face.render(line, True, color)
        x = {"left": rect.left, "right": rect.right - image.get_width()}.get(
            align, rect.centerx - image.get_width() // 2)
        y = top + index * face.get_linesize()
        surface.blit(image, (x, y))
        ink.union_ip(pygame.Rect(x, y, image.get_width(), image.get_height()))
    return ink


def draw_button(surface: pygame.Surface, rect: pygame.Rect, label: str, *,
                color: tuple[int, int, int] = ACCENT,
                text_color: tuple[int, int, int] = BUTTON_TEXT_DARK) -> None:
    radius = max(6, rect.height // 5)
    pygame.draw.rect(surface, color, rect, border_radius=radius)
    inner = rect.inflate(-rect.height // 3, -rect.height // 6)
    draw_text(surface, label, inner, int(rect.height * 0.45), text_color, bold=True,
              max_lines=2)


@lru_cache(maxsize=32)
def load_image(path: Path, side: int) -> pygame.Surface | None:
    """A product picture scaled to fit a ``side`` square, or None if it cannot be read."""
    try:
        image = pygame.image.load(str(path))
    except (pygame.error, FileNotFoundError):
        return None
    width, height = image.get_size()
    scale = side / max(width, height)
    return pygame.transform.smoothscale(image, (max(1, int(width * scale)),
                                                max(1, int(height * scale))))
