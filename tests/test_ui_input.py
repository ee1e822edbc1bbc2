"""The tap adapter on real SDL events (dummy video driver), upright and rotated."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pygame
import pytest

from kiosk.ui.input import TapAdapter
from kiosk.ui.orientation import Orientation

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


# ---------------------------------------------------------------- rotation


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_every_logical_pixel_maps_to_the_native_pixel_the_blit_puts_it_on(rotation: int) -> None:
    native_size = (7, 4)
    orientation = Orientation(native_size, rotation)
    width, height = orientation.logical_size
    for x, y in itertools.product(range(width), range(height)):
        logical = pygame.Surface((width, height))
        logical.set_at((x, y), (255, 255, 255))
        native = pygame.Surface(native_size)
        orientation.present(logical, native)
        lit = [(nx, ny) for nx, ny in itertools.product(range(7), range(4))
               if native.get_at((nx, ny))[:3] == (255, 255, 255)]
        assert lit == [orientation.to_native((x, y))]
        nx, ny = lit[0]
        assert orientation.to_logical(nx + 0.5, ny + 0.5) == (x, y)


@pytest.mark.parametrize("rotation, corner", [(0, "topleft"), (90, "topright"),
                                              (180, "bottomright"), (270, "bottomleft")])
def test_rotation_is_clockwise_like_cmdline_rotate(rotation: int, corner: str) -> None:
    """The upright picture's top-left corner, turned clockwise on an 800x480 panel."""
    orientation = Orientation((800, 480), rotation)
    assert orientation.logical_size == ((480, 800) if rotation in (90, 270) else (800, 480))
    native = pygame.Surface((800, 480))
    logical = orientation.logical_surface(native)
    logical.fill((0, 0, 0))
    logical.fill((255, 0, 0), pygame.Rect(0, 0, 10, 10))
    orientation.present(logical, native)
    mask = pygame.mask.from_threshold(native, (255, 0, 0), (1, 1, 1, 255))
    [shown] = mask.get_bounding_rects()
    assert getattr(shown, corner) == getattr(native.get_rect(), corner)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_touches_and_clicks_come_out_in_logical_coordinates(rotation: int) -> None:
    adapter = TapAdapter((800, 480), rotation=rotation)
    orientation = adapter.orientation
    for point in [(0, 0), (10, 700), (479, 799), (240, 400)] if rotation != 180 else \
            [(0, 0), (700, 10), (799, 479), (400, 240)]:
        nx, ny = orientation.to_native(point)
        tap = adapter.feed(finger((nx + 0.5) / 800, (ny + 0.5) / 480), 0.0)
        assert tap is not None and (tap.x, tap.y) == point
        adapter = TapAdapter((800, 480), rotation=rotation)
        click = adapter.feed(mouse((nx, ny)), 0.0)  # the autopilot's way in
        assert click is not None and (click.x, click.y) == point


def test_a_finger_slightly_outside_the_window_stays_on_the_screen() -> None:
    adapter = TapAdapter((800, 480), rotation=90)
    tap = adapter.feed(finger(1.02, -0.01), 0.0)
    assert tap is not None and 0 <= tap.x < 480 and 0 <= tap.y < 800


def test_a_rotation_that_is_not_a_quarter_turn_is_refused() -> None:
    with pytest.raises(ValueError, match="rotation"):
        TapAdapter((800, 480), rotation=45)


def test_a_press_held_three_seconds_in_the_top_left_corner_is_the_operator_gesture() -> None:
    from kiosk.ui.input import HOLD_S

    adapter = TapAdapter((800, 480))
    down = pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(10, 10), button=1, touch=False)
    up = pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(10, 10), button=1, touch=False)
    assert adapter.feed(down, 0.0) is not None        # the tap itself is unchanged
    assert not adapter.poll(HOLD_S - 0.1)
    assert adapter.poll(HOLD_S) and not adapter.poll(HOLD_S + 1)   # reported once
    adapter.feed(up, 5.0)
    adapter.feed(down, 10.0)
    adapter.feed(up, 11.0)                            # let go early: a tap, no gesture
    assert not adapter.poll(20.0)
    adapter.feed(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(400, 240), button=1,
                                    touch=False), 30.0)
    assert not adapter.poll(40.0)                     # held elsewhere: nothing
