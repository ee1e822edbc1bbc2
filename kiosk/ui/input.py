"""One adapter turns SDL mouse and finger events into taps.

SDL reports a touch twice: as a FINGERDOWN (normalized coordinates) and as a synthetic mouse
click flagged ``touch``. Only the finger counts; a real mouse counts for desktops. Taps that land
on the same spot within ``debounce_s`` count once (a shaky finger, a double-firing panel).

Positions arrive in the panel's native coordinates; taps come out in the logical (upright)
coordinates the screens draw in, through ``Orientation`` (see ``kiosk.ui.orientation``). This is
the only place that mapping is applied to input.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from kiosk.ui.orientation import Orientation

HOLD_CORNER_PX = 64       # the operator gesture's corner: this square at the top left (logical)
HOLD_S = 3.0              # held this long, it is the gesture, not a tap


@dataclass(frozen=True)
class Tap:
    x: int
    y: int
    at: float


class TapAdapter:
    def __init__(self, size: tuple[int, int], debounce_s: float = 0.3,
                 debounce_px: int = 24, *, rotation: int = 0) -> None:
        """``size``: the display surface (native panel pixels); ``rotation``: clockwise degrees
        the picture is turned on the panel."""
        self.orientation = Orientation(size, rotation)
        self._debounce_s = debounce_s
        self._debounce_px = debounce_px
        self._last: Tap | None = None
        self._corner: Tap | None = None      # a press held in the top-left corner

    def poll(self, now: float) -> bool:
        """True once when a press has been held ``HOLD_S`` in the top-left corner (the
        operator menu's hidden gesture)."""
        if self._corner is not None and now - self._corner.at >= HOLD_S:
            self._corner = None
            return True
        return False

    def resize(self, size: tuple[int, int]) -> None:
        self.orientation = Orientation(size, self.orientation.rotation)

    def feed(self, event: pygame.event.Event, now: float) -> Tap | None:
        """The tap this event makes, in logical coordinates, or None (not a press, synthetic,
        or a bounce).

        A press in the top-left corner is also remembered until it is released: held
        ``HOLD_S``, ``poll`` reports the operator menu's hidden gesture. The tap itself is
        unchanged (on press), so customers' taps work exactly as everywhere else."""
        if self._is_release(event):
            self._corner = None
            return None
        tap = self._press(event, now)
        if tap is None:
            return None
        self._corner = tap if tap.x < HOLD_CORNER_PX and tap.y < HOLD_CORNER_PX else None
        return self._accept(tap)

    @staticmethod
    def _is_release(event: pygame.event.Event) -> bool:
        return event.type == pygame.FINGERUP or (
            event.type == pygame.MOUSEBUTTONUP and event.button == 1
            and not getattr(event, "touch", False))

    def _accept(self, tap: Tap) -> Tap | None:
        if self._is_bounce(tap):
            return None
        self._last = tap
        return tap

    def _press(self, event: pygame.event.Event, now: float) -> Tap | None:
        if event.type == pygame.FINGERDOWN:
            tap = Tap(*self.orientation.finger_to_logical(event.x, event.y), now)
        elif (event.type == pygame.MOUSEBUTTONDOWN and event.button == 1
              and not getattr(event, "touch", False)):
            # pixel centre, so a click maps to exactly the logical pixel shown under it
            x, y = event.pos
            tap = Tap(*self.orientation.to_logical(x + 0.5, y + 0.5), now)
        else:
            return None
        return tap

    def _is_bounce(self, tap: Tap) -> bool:
        last = self._last
        return (last is not None and tap.at - last.at < self._debounce_s
                and abs(tap.x - last.x) <= self._debounce_px
                and abs(tap.y - last.y) <= self._debounce_px)
