"""The pygame main loop: the only code that runs on pygame's thread.

It turns taps into flow events, pumps the runtime, redraws when something visible changed and
sleeps in between. Everything slow (network, disk, hardware) is the runtime's worker threads'
job; even screenshots are encoded and written by a worker.

Screens draw on a logical (upright) surface that is turned onto the panel once per changed
frame: ``display.rotation`` is clockwise, like ``rotate=`` in cmdline.txt
(``kiosk.ui.orientation``). What a tap means is ``kiosk.ui.dispatch``, the language on screen
``kiosk.ui.language`` and ``--screenshots`` ``kiosk.ui.screenshots``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygame

from kiosk import stop_signal
from kiosk.autopilot import Autopilot
from kiosk.flow import Screen
from kiosk.runtime import Runtime
from kiosk.sdnotify import Notifier
from kiosk.ui import widgets as w
from kiosk.ui.dispatch import InputDispatch
from kiosk.ui.display import open_display
from kiosk.ui.language import LanguageChoice
from kiosk.ui.operator_screens import render_operator
from kiosk.ui.orientation import Orientation
from kiosk.ui.screens import LANGUAGE_ACTION, View, render
from kiosk.ui.screenshots import ScreenRecorder
from kiosk.ui.widgets import Button

log = logging.getLogger(__name__)

ACTIVE_FRAME_S = 1 / 30   # input sampling while someone is using the screen
IDLE_POLL_S = 0.2         # input sampling when nobody has touched it for a while
ACTIVE_FOR_S = 3.0        # how long after a tap or a screen change counts as "in use"
ANIMATION_FPS = 4         # the attract screen's gentle pulse: cheap on a Pi Zero 2 W
ANIMATED = frozenset({Screen.ATTRACT, Screen.VENDING})
DEFAULT_WINDOW = (1024, 600)
STOP_MARGIN_S = 15.0      # after the vend: the journal's last writes and closing down


@dataclass(frozen=True)
class DisplayOptions:
    width: int = 0
    height: int = 0
    fullscreen: bool = True
    headless: bool = False
    rotation: int = 0          # degrees clockwise the picture is turned on the panel


class KioskApp:
    """The loop: ``open`` the display, then ``frame`` about 30 times a second until it says stop.

    Besides the flow's state it keeps the little state that is the screen's own business: which
    language the customer picked (``LanguageChoice``) and the panel's rotation.
    """

    def __init__(self, runtime: Runtime, view: View, display: DisplayOptions, *,
                 screenshots_dir: Path | None = None, autopilot: Autopilot | None = None,
                 max_run_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._runtime = runtime
        self._view = view
        self._display = display
        self._autopilot = autopilot
        self._max_run_s = max_run_s
        self._clock = clock
        self._buttons: list[Button] = []
        self._recorder = ScreenRecorder(screenshots_dir)
        self._notifier = Notifier()
        self._stop_requested = False
        self._finishing = False            # stop requested mid-vend: the vend ends first
        self._language = LanguageChoice(view.catalogue, view.locale)
        self._dirty = True                 # something only the UI knows changed: redraw
        self._last_screen: Screen | None = None   # on the last frame drawn
        self._screen_changed_at = 0.0
        self._last_second = -1
        self._native: pygame.Surface | None = None
        self._logical: pygame.Surface | None = None
        self._orientation = Orientation(DEFAULT_WINDOW, display.rotation)
        self._input = InputDispatch(DEFAULT_WINDOW, display.rotation, post=runtime.post,
                                    run_action=self._ui_action,
                                    escape_quits=not display.fullscreen)

    @property
    def buttons(self) -> list[Button]:
        """The touch targets of the frame on screen, in logical coordinates."""
        return list(self._buttons)

    @property
    def orientation(self) -> Orientation:
        return self._orientation

    @property
    def language(self) -> str:
        """The language the customer screens speak now."""
        return self._language.current

    @property
    def default_language(self) -> str:
        """``machine.locale``'s language: each new customer's."""
        return self._language.default

    def run(self) -> bool:
        """Run until quit or until the autopilot is done; False if ``max_run_s`` ran out."""
        if self._native is None:
            self.open()
        # systemd stops the service with SIGTERM: leave the loop so the journal closes cleanly.
        stop_signal.listen()
        started = self._clock()
        try:
            while True:
                now = self._clock()
                stopping = self._stop_requested or stop_signal.received()
                if (stopping and not self._finishing_vend()) or not self.frame(now):
                    self._notifier.stopping()
                    return True
                if self._max_run_s is not None and now - started > self._max_run_s:
                    log.error("gave up after %.0f s on screen %s", self._max_run_s,
                              self._runtime.state.screen.value)
                    return False
                # Sleep until the next thing to do; a worker's result wakes the loop at once.
                # (pygame.event.wait(timeout) would busy-poll every millisecond on KMSDRM.)
                wakeup = self._runtime.wakeup
                wakeup.wait(max(0.0, self._next_delay(now) - (self._clock() - now)))
                wakeup.clear()
        finally:
            self.close()

    def open(self) -> None:
        """Open the display (native panel orientation) and the logical surface screens draw on."""
        w.preload_fonts()
        native = self._open_display()
        self._native = native
        self._orientation = Orientation(native.get_size(), self._display.rotation)
        self._logical = self._orientation.logical_surface(native)
        self._input.resize(native.get_size())

    def close(self) -> None:
        self._recorder.close()
        self._notifier.close()
        pygame.display.quit()

    def frame(self, now: float) -> bool:
        """Input, the flow, a redraw if anything visible changed; False: stop (quit, or the
        autopilot is done)."""
        assert self._native is not None and self._logical is not None, "open() first"
        if not self._input.handle(self._buttons, now):
            return False
        if self._runtime.alive():  # a wedged worker stops the pings: systemd restarts us
            self._notifier.ping(now)
        changed = self._runtime.pump(now)
        state = self._runtime.state
        if self._language.follow(state, self._runtime.flow.settings.idle_timeout_s, now):
            self._dirty = True
        second = int(now * (ANIMATION_FPS if state.screen in ANIMATED else 1))
        if changed or self._dirty or second != self._last_second or self._last_screen is None:
            # (a runtime without an operator menu, a test double say, simply has none)
            operator = getattr(self._runtime, "operator", None)
            if operator is not None and operator.open:  # the operator menu has the whole screen
                self._buttons = render_operator(self._logical, operator, now)
            else:
                self._buttons = render(self._logical, state, self._view, now, self.language)
            self._orientation.present(self._logical, self._native)
            pygame.display.flip()
            self._notifier.ready()  # the first frame is on screen
            self._last_second = second
            self._dirty = False
            new_screen = state.screen is not self._last_screen
            self._recorder.frame_drawn(self._logical, state, new_screen)
            if new_screen:
                self._last_screen = state.screen
                self._screen_changed_at = now
        return not (self._autopilot is not None and self._drive_autopilot(now))

    def _next_delay(self, now: float) -> float:
        """Seconds until the loop must look again: input, animation or the countdown."""
        if now - max(self._input.last_tap_at, self._screen_changed_at) < ACTIVE_FOR_S:
            return ACTIVE_FRAME_S
        if self._runtime.state.screen in ANIMATED:
            return min(IDLE_POLL_S, 1 / ANIMATION_FPS)
        return min(IDLE_POLL_S, 1.0 - now % 1.0)  # countdowns tick on whole seconds

    def _finishing_vend(self) -> bool:
        """Asked to stop mid-vend: the vend ends first, on screen, journalled (no new sale
        starts meanwhile) and systemd is asked to wait for it; True while it runs."""
        if self._runtime.state.screen is not Screen.VENDING:
            return False
        if not self._finishing:
            self._finishing = True
            log.warning("stop requested mid-vend: finishing the vend first")
            self._notifier.extend_timeout(self._runtime.flow.settings.vend_backstop_s
                                          + STOP_MARGIN_S)
            self._runtime.stop_selling()
        return True

    def request_stop(self) -> None:
        """Leave the loop after this frame (safe from any thread; wake the runtime too)."""
        self._stop_requested = True

    def _open_display(self) -> pygame.Surface:
        options = self._display
        fullscreen = options.fullscreen and not options.headless
        size = (options.width, options.height)
        if not fullscreen and size == (0, 0):
            size = DEFAULT_WINDOW
        return open_display(size, fullscreen=fullscreen, headless=options.headless)

    def _ui_action(self, action: str, now: float) -> None:
        """Buttons that change only the screen, never the sale."""
        if action == LANGUAGE_ACTION:
            if self._language.pick_next(now):
                self._dirty = True
        else:
            log.warning("no UI action %r", action)

    def _drive_autopilot(self, now: float) -> bool:
        """Tap what the autopilot chooses, through SDL like a finger would; True when done.

        The click is posted where the button is on the panel (native coordinates), so it goes
        through the tap adapter's rotation mapping exactly like a real touch."""
        assert self._autopilot is not None
        state = self._runtime.state
        if self._autopilot.done and state.screen in (Screen.ATTRACT, Screen.OUT_OF_SERVICE):
            return True
        button = self._autopilot.choose(state, self._buttons, now)
        if button is not None:
            x, y = self._orientation.to_native(button.rect.center)
            for kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
                pygame.event.post(pygame.event.Event(kind, pos=(x, y), button=1, touch=False))
        return False
