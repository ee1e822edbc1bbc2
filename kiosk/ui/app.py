"""The pygame main loop: the only code that runs on pygame's thread.

It turns taps into flow events, pumps the runtime, redraws when something visible changed and
sleeps in between. Everything slow (network, disk, hardware) is the runtime's worker threads'
job; even screenshots are encoded and written by a worker.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pygame
from PIL import Image

from kiosk.autopilot import Autopilot
from kiosk.flow import Screen
from kiosk.runtime import Runtime
from kiosk.sdnotify import Notifier
from kiosk.ui.input import Tap, TapAdapter
from kiosk.ui.screens import View, render
from kiosk.ui.widgets import Button

log = logging.getLogger(__name__)

FRAME_S = 1 / 30          # input sampling and animation pace
ANIMATED = frozenset({Screen.ATTRACT})
DEFAULT_WINDOW = (1024, 600)


@dataclass(frozen=True)
class DisplayOptions:
    width: int = 0
    height: int = 0
    fullscreen: bool = True
    headless: bool = False


class KioskApp:
    def __init__(self, runtime: Runtime, view: View, display: DisplayOptions, *,
                 screenshots_dir: Path | None = None, autopilot: Autopilot | None = None,
                 max_run_s: float | None = None, clock: Callable[[], float] = time.time) -> None:
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
        self._stop_requested = False

    def run(self) -> bool:
        """Run until quit or until the autopilot is done; False if ``max_run_s`` ran out."""
        surface = self._open_display()
        adapter = TapAdapter(surface.get_size())
        # systemd stops the service with SIGTERM: leave the loop so the journal closes cleanly.
        signal.signal(signal.SIGTERM, self._request_stop)
        started = self._clock()
        last_screen: Screen | None = None
        last_second = -1
        try:
            while True:
                now = self._clock()
                if self._stop_requested or not self._handle_input(adapter, now):
                    self._notifier.stopping()
                    return True
                self._notifier.ping(now)
                changed = self._runtime.pump(now)
                state = self._runtime.state
                second = int(now * (10 if state.screen in ANIMATED else 1))
                if changed or second != last_second or last_screen is None:
                    self._buttons = render(surface, state, self._view, now)
                    pygame.display.flip()
                    self._notifier.ready()  # the first frame is on screen
                    last_second = second
                    if state.screen is not last_screen:
                        self._screenshot(surface, state.screen)
                        last_screen = state.screen
                if self._autopilot is not None and self._drive_autopilot(now):
                    return True
                if self._max_run_s is not None and now - started > self._max_run_s:
                    log.error("gave up after %.0f s on screen %s", self._max_run_s,
                              self._runtime.state.screen.value)
                    return False
                time.sleep(max(0.0, FRAME_S - (self._clock() - now)))
        finally:
            self._writer.shutdown(wait=True)
            self._notifier.close()
            pygame.display.quit()

    def _request_stop(self, signum: int, frame: object) -> None:
        self._stop_requested = True

    def _open_display(self) -> pygame.Surface:
        if self._display.headless:
            os.environ["SDL_VIDEODRIVER"] = "dummy"
        pygame.display.init()
        pygame.font.init()
        size = (self._display.width, self._display.height)
        flags = 0
        if self._display.fullscreen and not self._display.headless:
            flags = pygame.FULLSCREEN
            pygame.mouse.set_visible(False)
        elif size == (0, 0):
            size = DEFAULT_WINDOW
        pygame.display.set_caption("vending-kiosk")
        return pygame.display.set_mode(size, flags)

    def _handle_input(self, adapter: TapAdapter, now: float) -> bool:
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                return False
            if (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
                    and not self._display.fullscreen):
                return False
            tap = adapter.feed(event, now)
            if tap is not None:
                self._tap(tap)
        return True

    def _tap(self, tap: Tap) -> None:
        for button in self._buttons:
            if button.rect.collidepoint(tap.x, tap.y):
                self._runtime.post(button.event)
                return

    def _drive_autopilot(self, now: float) -> bool:
        """Tap what the autopilot chooses, through SDL like a finger would; True when done."""
        assert self._autopilot is not None
        state = self._runtime.state
        if self._autopilot.done and state.screen in (Screen.ATTRACT, Screen.OUT_OF_SERVICE):
            return True
        button = self._autopilot.choose(state, self._buttons, now)
        if button is not None:
            x, y = button.rect.center
            for kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
                pygame.event.post(pygame.event.Event(kind, pos=(x, y), button=1, touch=False))
        return False

    def _screenshot(self, surface: pygame.Surface, screen: Screen) -> None:
        if self._screenshots_dir is None:
            return
        self._shots += 1
        path = self._screenshots_dir / f"{self._shots:04d}-{screen.value}.png"
        pixels = pygame.image.tobytes(surface, "RGB")
        self._writer.submit(_write_png, path, surface.get_size(), pixels)


def _write_png(path: Path, size: tuple[int, int], pixels: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", size, pixels).save(path)
