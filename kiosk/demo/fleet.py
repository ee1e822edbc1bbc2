"""The fleet console beside the demo kiosk (``vending_fleet.demo.DemoConsole``): an embedded
MQTT broker, the console on SQLite in ``<data dir>/console``, a fresh fleet key whose public half
goes into the demo kiosk's ``[fleet]`` table, and a demo operator whose login is printed.

Optional: without the ``fleet`` extra (starlette, uvicorn, amqtt...), or when it fails to start,
the kiosk demo runs as before and says why on stderr. Everything it prints goes to stderr:
stdout stays one JSON line per staged customer.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def start_console(data_dir: Path, wanted: bool, machines: int = 0) -> Iterator[Any]:
    """The running demo console (stopped on the way out), or None."""
    if not wanted:
        yield None
        return
    try:
        from vending_fleet.demo import DemoConsole
    except ImportError as exc:
        print(f"kiosk demo: no fleet console ({exc.name or exc} is not installed: the fleet "
              "extra, pip install -e '.[fleet]'); the kiosk runs without it", file=sys.stderr)
        yield None
        return
    console = DemoConsole(data_dir / "console", machines=machines,
                          rate=max(1.0, machines / 2))
    try:
        console.start()
    except Exception as exc:  # noqa: BLE001 - the kiosk demo goes on without it
        log.debug("demo console", exc_info=True)
        print(f"kiosk demo: no fleet console ({type(exc).__name__}: {exc}); the kiosk runs "
              "without it", file=sys.stderr)
        yield None
        return
    for line in console.banner().splitlines():
        print(line if line.startswith("dashboard:") else f"kiosk demo: {line}",
              file=sys.stderr)
    try:
        yield console
    finally:
        console.stop()
