"""systemd's stop (SIGTERM) for the whole process, not for one screen.

``kiosk run`` may show the out-of-service screen and then start selling in the same process
(the journal opened again). A SIGTERM that arrives while one screen hands over to the next, or
while the kiosk is still starting, must stop it all the same: it is remembered here, once, and
every screen loop looks here.
"""

from __future__ import annotations

import signal
import threading

_received = threading.Event()


def listen() -> None:
    """Remember SIGTERM from now on, instead of dying at once (call from the main thread)."""
    signal.signal(signal.SIGTERM, _remember)


def received() -> bool:
    """True once SIGTERM has arrived: stop, and start nothing new."""
    return _received.is_set()


def _remember(signum: int, frame: object) -> None:
    _received.set()
