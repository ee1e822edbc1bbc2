"""``kiosk run`` when it cannot sell at all: out of service with the reason, never a console.

An installed machine whose operator file still holds the example's placeholders (or any config
that fails validation), or a journal that cannot be opened (a read-only or full data
directory, a corrupt database, which is left as it is for the operator), must not restart in a
loop with a traceback in front of customers, nor sell. The kiosk shows the out-of-service
screen with the reason for the technician ("not configured: ...", "journal unavailable: ..."),
tells systemd it is up (READY, WATCHDOG) like a working kiosk, and leaves it as soon as the
cause is gone: the config file changed (systemd then starts it on the new one) or the journal
opens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kiosk.errors import ConfigError, ConfigIssue
from kiosk.flow import Event, Flow, FlowSettings, KioskState, initial_state
from kiosk.resources import assets_dir
from kiosk.ui.app import DisplayOptions, KioskApp
from kiosk.ui.screens import View

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 2.0
NOT_CONFIGURED = "not configured"


def rejection_reason(error: ConfigError) -> str:
    """One line for the screen: what to fix first, and how many more problems there are."""
    first: ConfigIssue | None = error.issues[0] if error.issues else None
    if first is None:
        return "configuration error"
    where = f"[{first.table}] {first.key}".strip() if first.table else first.key
    placeholder = all(NOT_CONFIGURED in issue.message for issue in error.issues)
    prefix = NOT_CONFIGURED if placeholder else "configuration error"
    more = len(error.issues) - 1
    tail = f" (+{more} more: kiosk check-config)" if more else ""
    message = first.message.removeprefix(f"{NOT_CONFIGURED}: ")
    return f"{prefix}: {where}: {message}{tail}"


class _Idle:
    """What the app needs of a runtime, for a kiosk that sells nothing: one fixed state."""

    def __init__(self, reason: str, now: float) -> None:
        self.flow = Flow(FlowSettings(currency="USD", gateway="-"), new_tx_id=lambda: "")
        self.state: KioskState = initial_state((), {}, frozenset(), reason, now)
        self.wakeup = threading.Event()

    def post(self, event: Event) -> None:
        """Taps change nothing on a kiosk that cannot sell."""

    def pump(self, now: float | None = None) -> bool:
        return False

    def alive(self) -> bool:
        return True


def config_changed(path: Path) -> Callable[[], bool]:
    """True once ``path`` differs from now: the operator fixed (or replaced) the file."""
    before = _fingerprint(path)
    return lambda: _fingerprint(path) != before


def run_out_of_service(reason: str, until: Callable[[], bool], *, headless: bool,
                       screenshots: Path | None = None, max_run_s: float | None = None) -> bool:
    """Show out of service with ``reason`` until ``until()`` (checked every 2 s) or SIGTERM."""
    log.error("kiosk out of service: %s", reason)
    idle = _Idle(reason, time.monotonic())
    view = View(currency="USD", images_dir=assets_dir() / "products")
    app = KioskApp(idle, view, DisplayOptions(headless=headless),  # type: ignore[arg-type]
                   screenshots_dir=screenshots, max_run_s=max_run_s)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(until, app, idle, stop),
                               name="cause-watch", daemon=True)
    watcher.start()
    try:
        return app.run()
    finally:
        stop.set()


def _watch(until: Callable[[], bool], app: KioskApp, idle: _Idle,
           stop: threading.Event) -> None:
    while not stop.wait(WATCH_INTERVAL_S):
        if until():
            log.info("the cause is gone: leaving the out-of-service screen")
            app.request_stop()
            idle.wakeup.set()
            return


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
