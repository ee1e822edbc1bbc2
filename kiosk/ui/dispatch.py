"""A frame's input: what each SDL event means to the kiosk.

A tap (``kiosk.ui.input``) on a button posts the button's flow event to the runtime, or runs
its UI action (one that changes only the screen); the operator menu's hidden gesture posts
``CornerHeld``; closing the window, or Escape in a window, quits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pygame

from kiosk.flow import Event
from kiosk.operator import CornerHeld, OpEvent
from kiosk.ui.input import Tap, TapAdapter
from kiosk.ui.widgets import Button


class InputDispatch:
    """SDL events -> taps -> the button under the finger -> its event or UI action.

    :param post: hands an event to the runtime (the flow's or the operator menu's).
    :param run_action: runs a button's UI action, given the action and the time.
    :param escape_quits: Escape leaves (in a window; never on the kiosk's full screen).
    """

    def __init__(self, size: tuple[int, int], rotation: int, *,
                 post: Callable[[Event | OpEvent], None],
                 run_action: Callable[[str, float], None], escape_quits: bool) -> None:
        self._adapter = TapAdapter(size, rotation=rotation)
        self._post = post
        self._run_action = run_action
        self._escape_quits = escape_quits
        self.last_tap_at = 0.0

    def resize(self, size: tuple[int, int]) -> None:
        """The display's native size, once it is open."""
        self._adapter.resize(size)

    def handle(self, buttons: Sequence[Button], now: float) -> bool:
        """Every SDL event waiting, against the buttons on screen; False: quit."""
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                return False
            if (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
                    and self._escape_quits):
                return False
            tap = self._adapter.feed(event, now)
            if tap is not None:
                self._tap(tap, buttons, now)
        if self._adapter.poll(now):  # the operator menu's hidden gesture
            self._post(CornerHeld())
        return True

    def _tap(self, tap: Tap, buttons: Sequence[Button], now: float) -> None:
        self.last_tap_at = now
        for button in buttons:
            if button.rect.collidepoint(tap.x, tap.y):
                if button.action is not None:
                    self._run_action(button.action, now)
                elif button.event is not None:
                    self._post(button.event)
                return
