"""The fleet link of one kiosk session, built from its config and runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk import __version__
from kiosk.assembly import products
from kiosk.config import Config
from kiosk.fleet.state import KioskObserver, config_version
from kiosk.runtime import Runtime

if TYPE_CHECKING:
    from kiosk.fleet.link import FleetLink


def start_fleet(config: Config, runtime: Runtime) -> FleetLink | None:
    """Start the link (None without ``[fleet]``); the runtime's watchdog ping then also
    depends on its thread."""
    if config.fleet is None:
        runtime.journal.disable_outbox()   # nothing kept for a fleet it no longer has
        return None
    from kiosk.fleet.link import FleetLink, Identity   # paho, only with a fleet

    observer = KioskObserver(runtime, runtime.journal, products(config),
                             config.machine.currency, config_version(config.path))
    from kiosk.fleet.commands import CommandInbox

    commands = CommandInbox(config.machine.id, config.fleet.public_key_bytes(), runtime.journal,
                            runtime.fleet_commands(config))
    link = FleetLink(config.fleet, Identity(config.machine.id, __version__), runtime.journal,
                     observer, commands)
    runtime.supervise(link)
    link.start()
    return link
