"""The pygame main loop: the only code that runs on pygame's thread.

It turns taps into flow events, pumps the runtime, redraws when something visible changed and
sleeps in between. Everything slow (network, disk, hardware) is the runtime's worker threads'
job; even screenshots are encoded and written by a worker.

Screens draw on a logical (upright) surface that is turned onto the panel once per changed
frame: ``display.rotation`` is clockwise, like ``rotate=`` in cmdline.txt
(``kiosk.ui.orientation``).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pygame
from PIL import Image

from kiosk.autopilot import Autopilot
from kiosk.flow import KioskState, Screen
from kiosk.operator import CornerHeld
from kiosk.runtime import Runtime
from kiosk.sdnotify import Notifier
from kiosk.ui import widgets as w
from kiosk.ui.input import Tap, TapAdapter
from kiosk.ui.operator_screens import render_operator
from kiosk.ui.display import open_display
from kiosk.ui.orientation import Orientation
from kiosk.ui.screens import LANGUAGE_ACTION, View, render
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
    language the customer picked (back to ``machine.locale`` once the kiosk returns to attract
    after a sale or inactivity) and the panel's rotation.
    """

    def __init__(self, runtime: Runtime, view: View, display: DisplayOptions, *,
                 screenshots_dir: Path | None = None, autopilot: Autopilot | None = None,
                 max_run_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._runtime = runtime
        self._view = view
        self._display = display
        self._screenshots_dir = screenshots_dir
        self._autopilot = autopilot
        self._max_run_s = max_run_s
        self._clock = clock
        self._buttons: list[Button] = []
        self._shots = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screenshots")
        self._notifier = Notifier()
        self._last_activity = 0.0
        self._stop_requested = False
        self._finishing = False            # stop requested mid-vend: the vend ends first
        self.default_language = view.catalogue.resolve(view.locale)
        self.language = self.default_language
        self._language_at = 0.0            # when the customer last changed the language
        self._dirty = True                 # something only the UI knows changed: redraw
        self._last_screen: Screen | None = None   # on the last frame drawn
        self._last_asked: tuple[object, ...] = ()  # what that frame asked of the customer
        self._seen_screen: Screen | None = None   # on the last frame, drawn or not
        self._last_second = -1
        self._native: pygame.Surface | None = None
        self._logical: pygame.Surface | None = None
        self._orientation = Orientation(DEFAULT_WINDOW, display.rotation)
        self._adapter = TapAdapter(DEFAULT_WINDOW, rotation=display.rotation)

    @property
    def buttons(self) -> list[Button]:
        """The touch targets of the frame on screen, in logical coordinates."""
        return list(self._buttons)

    @property
    def orientation(self) -> Orientation:
        return self._orientation

    def run(self) -> bool:
        """Run until quit or until the autopilot is done; False if ``max_run_s`` ran out."""
        if self._native is None:
            self.open()
        # systemd stops the service with SIGTERM: leave the loop so the journal closes cleanly.
        signal.signal(signal.SIGTERM, self._request_stop)
        started = self._clock()
        try:
            while True:
                now = self._clock()
                if (self._stop_requested and not self._finishing_vend()) or not self.frame(now):
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
        self._adapter = TapAdapter(native.get_size(), rotation=self._display.rotation)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._notifier.close()
        pygame.display.quit()

    def frame(self, now: float) -> bool:
        """Input, the flow, a redraw if anything visible changed; False: stop (quit, or the
        autopilot is done)."""
        assert self._native is not None and self._logical is not None, "open() first"
        if not self._handle_input(now):
            return False
        if self._runtime.alive():  # a wedged worker stops the pings: systemd restarts us
            self._notifier.ping(now)
        changed = self._runtime.pump(now)
        state = self._runtime.state
        self._follow_language(state, now)
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
            asked = _asked_of_customer(state)
            if state.screen is not self._last_screen or asked != self._last_asked:
                # A new screen, or a new QR, amount or code on the same one (a re-quote, a
                # top-up, a withdrawn code): each is a record of what the customer was told.
                self._screenshot(self._logical, state.screen)
                self._last_asked = asked
            if state.screen is not self._last_screen:
                self._last_screen = state.screen
                self._last_activity = now
        return not (self._autopilot is not None and self._drive_autopilot(now))

    def _next_delay(self, now: float) -> float:
        """Seconds until the loop must look again: input, animation or the countdown."""
        if now - self._last_activity < ACTIVE_FOR_S:
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

    def _request_stop(self, signum: int, frame: object) -> None:
        self.request_stop()

    def _open_display(self) -> pygame.Surface:
        options = self._display
        fullscreen = options.fullscreen and not options.headless
        size = (options.width, options.height)
        if not fullscreen and size == (0, 0):
            size = DEFAULT_WINDOW
        return open_display(size, fullscreen=fullscreen, headless=options.headless)

    def _handle_input(self, now: float) -> bool:
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                return False
            if (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
                    and not self._display.fullscreen):
                return False
            tap = self._adapter.feed(event, now)
            if tap is not None:
                self._tap(tap, now)
        if self._adapter.poll(now):  # the operator menu's hidden gesture
            self._runtime.post(CornerHeld())
        return True

    def _tap(self, tap: Tap, now: float) -> None:
        self._last_activity = now
        for button in self._buttons:
            if button.rect.collidepoint(tap.x, tap.y):
                if button.action is not None:
                    self._ui_action(button.action, now)
                elif button.event is not None:
                    self._runtime.post(button.event)
                return

    def _ui_action(self, action: str, now: float) -> None:
        """Buttons that change only the screen, never the sale."""
        if action == LANGUAGE_ACTION:
            self._set_language(self._view.catalogue.with_language(self.language).next_language())
            self._language_at = now
        else:
            log.warning("no UI action %r", action)

    def _set_language(self, language: str) -> None:
        if language != self.language:
            self.language = language
            self._dirty = True

    def _follow_language(self, state: KioskState, now: float) -> None:
        """Back to ``machine.locale`` for the next customer: when the kiosk returns to attract
        (after a sale, a cancel, inactivity, a fault), unless this customer just tapped Back on
        the item list; and when a language was picked on attract but nobody started."""
        previous, self._seen_screen = self._seen_screen, state.screen
        if state.screen is not Screen.ATTRACT:
            return
        if previous is not None and previous is not Screen.ATTRACT:
            backed_out = (previous is Screen.CHOOSE_ITEM
                          and state.last_input == state.screen_since)
            if not backed_out:
                self._set_language(self.default_language)
        idle_s = self._runtime.flow.settings.idle_timeout_s
        if now - max(self._language_at, state.screen_since) >= idle_s:
            self._set_language(self.default_language)

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

    def _screenshot(self, surface: pygame.Surface, screen: Screen) -> None:
        """The upright (logical) picture: what the customer reads, whatever the rotation."""
        if self._screenshots_dir is None:
            return
        self._shots += 1
        path = self._screenshots_dir / f"{self._shots:04d}-{screen.value}.png"
        pixels = pygame.image.tobytes(surface, "RGB")
        self._writer.submit(_write_png, path, surface.get_size(), pixels)


def _asked_of_customer(state: KioskState) -> tuple[object, ...]:
    """What the screen asks the customer to pay, or gives them to keep."""
    sale = state.sale
    if sale is None:
        return ()
    request, status = sale.request, sale.status
    return (request.link if request else None, request.crypto_amount if request else None,
            status.remaining if status else None, sale.claim_code)


def _write_png(path: Path, size: tuple[int, int], pixels: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", size, pixels).save(path)
