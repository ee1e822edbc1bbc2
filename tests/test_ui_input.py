"""The tap adapter on real SDL events (dummy video driver)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pygame
import pytest

from kiosk.ui.input import TapAdapter

os.environ["SDL_VIDEODRIVER"] = "dummy"


@pytest.fixture(autouse=True)
def sdl() -> Iterator[None]:
    pygame.display.init()
    yield
    pygame.display.quit()


def finger(x: float, y: float) -> pygame.event.Event:
    return pygame.event.Event(pygame.FINGERDOWN, x=x, y=y, touch_id=1, finger_id=0,
                              dx=0.0, dy=0.0, pressure=1.0)


def mouse(pos: tuple[int, int], touch: bool = False, button: int = 1) -> pygame.event.Event:
    return pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=button, touch=touch)


def test_touch_and_its_synthetic_mouse_click_count_once() -> None:
    adapter = TapAdapter((800, 480))
    taps = [adapter.feed(finger(0.5, 0.25), 1.0), adapter.feed(mouse((400, 120), touch=True), 1.0)]
    assert [(t.x, t.y) for t in taps if t] == [(400, 120)]


def test_a_real_mouse_click_counts() -> None:
    tap = TapAdapter((800, 480)).feed(mouse((10, 20)), 0.0)
    assert tap is not None and (tap.x, tap.y) == (10, 20)


def test_right_click_and_releases_are_not_taps() -> None:
    adapter = TapAdapter((800, 480))
    assert adapter.feed(mouse((10, 20), button=3), 0.0) is None
    up = pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(10, 20), button=1, touch=False)
    assert adapter.feed(up, 0.0) is None


def test_a_bounce_on_the_same_spot_counts_once_but_a_later_tap_counts() -> None:
    adapter = TapAdapter((800, 480), debounce_s=0.3)
    assert adapter.feed(finger(0.5, 0.5), 1.00) is not None
    assert adapter.feed(finger(0.505, 0.5), 1.10) is None
    assert adapter.feed(finger(0.5, 0.5), 1.50) is not None


def test_a_quick_tap_elsewhere_counts() -> None:
    adapter = TapAdapter((800, 480), debounce_s=0.3)
    assert adapter.feed(finger(0.1, 0.1), 1.0) is not None
    assert adapter.feed(finger(0.9, 0.9), 1.05) is not None


def test_finger_coordinates_follow_a_resize() -> None:
    adapter = TapAdapter((800, 480))
    adapter.resize((1280, 720))
    tap = adapter.feed(finger(0.5, 0.5), 0.0)
    assert tap is not None and (tap.x, tap.y) == (640, 360)
