"""One kiosk session: build the parts from config, run the UI loop, shut down in order."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware.base import VendDriver
from kiosk.assembly import build_gateway, build_runtime
from kiosk.autopilot import Autopilot
from kiosk.config import Config
from kiosk.fleet.start import start_fleet
from kiosk.runtime import Runtime
from kiosk.ui.app import DisplayOptions, KioskApp
from kiosk.ui.screens import View
from kiosk.resources import images_dir


SETTLE_S = 15.0


def run_kiosk(config: Config, *, headless: bool, customers: int | None = None,
              screenshots: Path | None = None, autopilot: Autopilot | None = None,
              on_sale: Callable[[dict[str, Any]], None] | None = None,
              max_run_s: float | None = None, driver: VendDriver | None = None,
              before_close: Callable[[Runtime], None] | None = None) -> bool:
    """Run until quit, or until the autopilot's customers are done. False if it gave up."""
    if autopilot is None and customers is not None:
        autopilot = Autopilot(customers)

    def sale_finished(line: dict[str, Any]) -> None:
        print(json.dumps(line), flush=True)  # the autopilot's contract: one line per customer
        if autopilot is not None:
            autopilot.sale_finished()
        if on_sale is not None:
            on_sale(line)

    gateway = build_gateway(config)
    runtime = build_runtime(config, sale_finished, gateway=gateway, driver=driver)
    display = config.display
    options = DisplayOptions(width=display.width, height=display.height,
                             fullscreen=display.fullscreen, headless=headless,
                             rotation=display.rotation)
    view = View(currency=config.machine.currency, images_dir=images_dir(config),
                machine_id=config.machine.id, auto_refund=runtime.flow.settings.auto_refund,
                locale=config.machine.locale, support=config.machine.support,
                wallet_picks_coin=gateway.wallet_picks_coin)
    app = KioskApp(runtime, view, options, screenshots_dir=screenshots, autopilot=autopilot,
                   max_run_s=max_run_s)
    fleet = None
    try:
        app.open()   # no screen, no kiosk: said before any worker starts (DisplayError)
        runtime.start()
        fleet = start_fleet(config, runtime)
        finished = app.run()
        runtime.settle(SETTLE_S, watches=False)  # vend results and refunds still in flight
        if before_close is not None:
            before_close(runtime)
    finally:
        if fleet is not None:   # first: its last words need the journal still open
            fleet.stop()
        runtime.close()
    return finished
