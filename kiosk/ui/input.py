"""One adapter turns SDL mouse and finger events into taps.

SDL reports a touch twice: as a FINGERDOWN (normalized coordinates) and as a synthetic mouse
click flagged ``touch``. Only the finger counts; a real mouse counts for desktops. Taps that land
on the same spot within ``debounce_s`` count once (a shaky finger, a double-firing panel).
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame


@dataclass(frozen=True)
class Tap:
    x: int
    y: int
    at: float


class TapAdapter:
    def __init__(self, size: tuple[int, int], debounce_s: float = 0.3,
                 debounce_px: int = 24) -> None:
        self._size = size
        self._debounce_s = debounce_s
        self._debounce_px = debounce_px
        self._last: Tap | None = None

    def resize(self, size: tuple[int, int]) -> None:
        self._size = size

    def feed(self, event: pygame.event.Event, now: float) -> Tap | None:
        """The tap this event makes, or None (not a press, synthetic, or a bounce)."""
        if event.type == pygame.FINGERDOWN:
            width, height = self._size
            tap = Tap(int(event.x * width), int(event.y * height), now)
        elif (event.type == pygame.MOUSEBUTTONDOWN and event.button == 1
              and not getattr(event, "touch", False)):
            tap = Tap(int(event.pos[0]), int(event.pos[1]), now)
        else:
            return None
        if self._is_bounce(tap):
            return None
        self._last = tap
        return tap

    def _is_bounce(self, tap: Tap) -> bool:
        last = self._last
        return (last is not None and tap.at - last.at < self._debounce_s
                and abs(tap.x - last.x) <= self._debounce_px
                and abs(tap.y - last.y) <= self._debounce_px)
