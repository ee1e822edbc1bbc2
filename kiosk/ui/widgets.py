"""Drawing primitives: colours, fonts, text that always fits its box, and buttons."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pygame

from kiosk.flow import Event
from kiosk.resources import assets_dir

log = logging.getLogger(__name__)

BACKGROUND = (18, 24, 38)
PANEL = (32, 42, 64)
TEXT = (240, 244, 250)
MUTED = (150, 162, 184)
ACCENT = (255, 183, 3)
DANGER = (230, 72, 72)
SUCCESS = (64, 196, 120)
DISABLED = (70, 76, 90)
BUTTON_TEXT_DARK = (20, 20, 20)

FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}
MIN_TEXT_PX = 10          # text shrinks to this before it wraps words or is cut with "…"
ELLIPSIS = "…"


@dataclass(frozen=True)
class Button:
    """A touch target: where it is, what tapping it means, and a name the autopilot can find.

    Tapping sends ``event`` to the sale flow, or, for buttons that only change the screen itself
    (the language button), asks the app to run the UI ``action`` instead; exactly one is set.
    """

    name: str
    rect: pygame.Rect
    event: Event | None = None
    action: str | None = None

    def __post_init__(self) -> None:
        if (self.event is None) == (self.action is None):
            raise ValueError(f"button {self.name!r} needs an event or an action, not both")


# ---------------------------------------------------------------- fonts


@lru_cache(maxsize=2)
def _font_bytes(bold: bool) -> bytes | None:
    """The shipped font file, read once (the render path never touches the disk again)."""
    path = assets_dir() / "fonts" / FONT_FILES[bold]
    try:
        return path.read_bytes()
    except OSError as exc:
        log.warning("font %s unavailable (%s): using pygame's default font", path, exc)
        return None


def preload_fonts() -> None:
    """Read the font files now (at start-up) rather than on the first frame."""
    _font_bytes(False)
    _font_bytes(True)


@lru_cache(maxsize=256)
def font(size: int, bold: bool = False) -> pygame.font.Font:
    """DejaVu Sans (bold) at ``size``; pygame's own font only if the file is missing."""
    data = _font_bytes(bold)
    if data is None:
        face = pygame.font.Font(None, max(1, size))
        face.set_bold(bold)
        return face
    return pygame.font.Font(io.BytesIO(data), max(1, size))


# ---------------------------------------------------------------- text

_recorders: list[list[TextInk]] = []


@dataclass(frozen=True)
class TextInk:
    """One ``draw_text`` call: the text, the box it was given and the area its glyphs cover."""

    text: str
    box: pygame.Rect
    ink: pygame.Rect
    size: int


@contextmanager
def record_text() -> Iterator[list[TextInk]]:
    """Collect every text drawn inside the ``with`` (tests check that ink stays in its box)."""
    drawn: list[TextInk] = []
    _recorders.append(drawn)
    try:
        yield drawn
    finally:
        _recorders.remove(drawn)


def wrap(text: str, face: pygame.font.Font, width: int, *,
         break_words: bool = False) -> list[str]:
    """Greedy word wrap; ``break_words`` splits a word wider than ``width`` between letters."""
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
            while break_words and face.size(line)[0] > width and len(line) > 1:
                head = _longest_prefix(line, face, width)
                lines.append(head)
                line = line[len(head):]
        lines.append(line)
    return lines


def _longest_prefix(text: str, face: pygame.font.Font, width: int) -> str:
    """The longest start of ``text`` (at least one character) no wider than ``width``."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if face.size(text[:middle])[0] <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def _ellipsize(text: str, face: pygame.font.Font, width: int) -> str:
    if face.size(text)[0] <= width:
        return text
    if face.size(ELLIPSIS)[0] > width:
        return ""
    while text and face.size(text.rstrip() + ELLIPSIS)[0] > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS if text else ELLIPSIS


def _block_height(face: pygame.font.Font, lines: int) -> int:
    return face.get_height() + face.get_linesize() * max(0, lines - 1)


def _fits(face: pygame.font.Font, lines: list[str], rect: pygame.Rect, max_lines: int) -> bool:
    return (len(lines) <= max_lines and _block_height(face, len(lines)) <= rect.height
            and all(face.size(line)[0] <= rect.width for line in lines))


def fit_text(text: str, rect: pygame.Rect, size: int, *, bold: bool = False,
             max_lines: int = 3) -> tuple[pygame.font.Font, list[str], int]:
    """The face, lines and size that show ``text`` inside ``rect``.

    In order of preference: shrink (down to ``MIN_TEXT_PX``), break words too long for a line
    (once the type is already small), cut the last line with "…"; below ``MIN_TEXT_PX`` only
    when the box is too short for one line.
    """
    size = max(1, size)
    floor = min(size, MIN_TEXT_PX)
    breaking_from = max(floor, int(size * 0.8))
    while True:
        face = font(size, bold)
        lines = wrap(text, face, rect.width)
        if _fits(face, lines, rect, max_lines):
            return face, lines, size
        if size <= breaking_from:
            lines = wrap(text, face, rect.width, break_words=True)
            if _fits(face, lines, rect, max_lines):
                return face, lines, size
        if size <= floor:
            break
        size = max(floor, min(size - 1, int(size * 0.9)))
    while size > 1 and face.get_height() > rect.height:  # a box too short for one line
        size -= 1
        face = font(size, bold)
    room = 1 + max(0, (rect.height - face.get_height()) // max(1, face.get_linesize()))
    keep = max(1, min(max_lines, room))
    lines = wrap(text, face, rect.width, break_words=True)
    if len(lines) > keep:
        lines = lines[:keep - 1] + [" ".join(lines[keep - 1:])]
    return face, [_ellipsize(line, face, rect.width) for line in lines], size


def draw_text(surface: pygame.Surface, text: str, rect: pygame.Rect, size: int,
              color: tuple[int, int, int] = TEXT, *, bold: bool = False,
              align: str = "center", max_lines: int = 3) -> pygame.Rect:
    """Draw ``text`` inside ``rect``: wrapped, and shrunk until it fits. Returns the ink box
    (the rendered lines' bounds, which contain every glyph)."""
    face, lines, used = fit_text(text, rect, size, bold=bold, max_lines=max_lines)
    top = rect.top + (rect.height - _block_height(face, len(lines))) // 2
    ink: pygame.Rect | None = None
    for index, line in enumerate(lines):
        image = face.render(line, True, color)
        free = rect.width - image.get_width()
        x = {"left": rect.left, "right": rect.left + free}.get(align, rect.left + free // 2)
        y = top + index * face.get_linesize()
        surface.blit(image, (x, y))
        line_box = pygame.Rect(x, y, image.get_width(), image.get_height())
        ink = line_box if ink is None else ink.union(line_box)
    if ink is None:
        ink = pygame.Rect(rect.centerx, rect.centery, 0, 0)
    for drawn in _recorders:
        drawn.append(TextInk(text, pygame.Rect(rect), ink, used))
    return ink


# ---------------------------------------------------------------- buttons and pictures


def draw_button(surface: pygame.Surface, rect: pygame.Rect, label: str, *,
                color: tuple[int, int, int] = ACCENT,
                text_color: tuple[int, int, int] = BUTTON_TEXT_DARK,
                size: int | None = None) -> pygame.Rect:
    """A rounded button with its label fitted inside; returns the label's ink box."""
    radius = max(6, rect.height // 5)
    pygame.draw.rect(surface, color, rect, border_radius=radius)
    inner = rect.inflate(-max(8, rect.height // 3), -max(4, rect.height // 6))
    return draw_text(surface, label, inner, size or int(rect.height * 0.36), text_color,
                     bold=True, max_lines=2)


def draw_globe(surface: pygame.Surface, center: tuple[int, int], radius: int,
               color: tuple[int, int, int]) -> None:
    """A line-drawn globe: the language sign that needs no language."""
    x, y = center
    width = max(1, radius // 7)
    pygame.draw.circle(surface, color, center, radius, width)
    pygame.draw.ellipse(surface, color, (x - radius // 2, y - radius, radius, 2 * radius), width)
    pygame.draw.line(surface, color, (x - radius, y), (x + radius, y), width)
    for dy in (-radius // 2, radius // 2):
        half = int((radius ** 2 - dy ** 2) ** 0.5)
        pygame.draw.line(surface, color, (x - half, y + dy), (x + half, y + dy), width)
    pygame.draw.line(surface, color, (x, y - radius), (x, y + radius), width)


@lru_cache(maxsize=64)
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
