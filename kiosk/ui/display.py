"""Opening the screen. A kiosk with no display says so in one line (``DisplayError``), never
a traceback on the console nor an invisible window waiting for taps nobody can make: SDL
falls back to its offscreen driver when no real one works."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pygame

from kiosk.errors import DisplayError

NO_SCREEN_DRIVERS = ("offscreen", "dummy")


def open_display(size: tuple[int, int], *, fullscreen: bool, headless: bool) -> pygame.Surface:
    """The window or panel, fullscreen with the pointer hidden, or SDL's dummy when
    ``headless``; ``DisplayError`` naming what SDL found when there is no screen."""
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    try:
        with _fd2_silenced():  # SDL's video backends print their own probing failures to fd 2
            pygame.display.init()
        driver = pygame.display.get_driver()
        if not headless and driver in NO_SCREEN_DRIVERS:
            raise DisplayError(f"no display: SDL has only its {driver} video driver "
                               f"({_asked()}); run with --headless to run without one")
        pygame.font.init()
        flags = 0
        if fullscreen and not headless:
            flags = pygame.FULLSCREEN
            pygame.mouse.set_visible(False)
        pygame.display.set_caption("vending-kiosk")
        return pygame.display.set_mode(size, flags)
    except pygame.error as exc:
        pygame.display.quit()
        raise DisplayError(f"no display: SDL: {exc} ({_asked()})") from exc


def why_no_display() -> str | None:
    """Why SDL cannot show a window here, or None."""
    try:
        open_display((1, 1), fullscreen=False, headless=False)
    except DisplayError as exc:
        return str(exc)
    finally:
        pygame.display.quit()
    return None


def _asked() -> str:
    return f"SDL_VIDEODRIVER={os.environ.get('SDL_VIDEODRIVER', '(not set)')}"


@contextmanager
def _fd2_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
