"""The gateway sandbox in its own process, answering every API call after a fixed delay.

Used by the other bench scripts so that the gateway, like a real one, is not inside the process
being measured. It listens on 127.0.0.1 only and prints, on stdout, one JSON line describing
where it listens, then one JSON line per API request with CLOCK_MONOTONIC timestamps (the same
clock as ``time.monotonic()``/``time.perf_counter()`` in any process on this machine):

    {"listening": "http://127.0.0.1:41234", "mixpay_api_base": "...", "checkout_base": "..."}
    {"method": "POST", "path": "/mixpay/v1/one_time_payment", "arrived": 1234.5, "answered": ...}

It exits when its stdin closes, so it never outlives the bench script that started it.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.sim import Sandbox  # noqa: E402
from kiosk.sim.server import Request, Response  # noqa: E402

_print_lock = threading.Lock()


def emit(record: dict[str, Any]) -> None:
    with _print_lock:
        print(json.dumps(record), flush=True)


def delay_api(sandbox: Sandbox, mount: str, delay_s: float, timeline: bool) -> None:
    """Wrap one simulator so each API call (``/v1/...``) answers ``delay_s`` later.

    Hosted pages (the checkout a phone opens, its pay button) are not delayed.
    """
    simulator = sandbox.simulators[mount]
    inner = simulator.handle

    def handle(request: Request) -> Response:
        arrived = time.monotonic()
        is_api = request.path.startswith("/v1/")
        if is_api and delay_s > 0:
            time.sleep(delay_s)
        response = inner(request)
        if timeline:
            emit({"method": request.method, "path": f"{request.mount}{request.path}",
                  "api": is_api, "arrived": arrived, "answered": time.monotonic(),
                  "status": response.status})
        return response

    simulator.handle = handle  # type: ignore[method-assign]  # the server calls the instance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=50.0,
                        help="how long each gateway API call takes to answer (default 50)")
    parser.add_argument("--confirm-s", type=float, default=0.0,
                        help="how long a paid payment stays 'confirming' (default 0)")
    parser.add_argument("--requests-per-minute", type=int, default=600,
                        help="the simulated gateway's per-client budget (default 600)")
    parser.add_argument("--timeline", action="store_true",
                        help="print a JSON line for every request")
    args = parser.parse_args(argv)
    sandbox = Sandbox("127.0.0.1", 0, confirm_s=args.confirm_s,
                      requests_per_minute=args.requests_per_minute)
    delay_api(sandbox, "mixpay", args.delay_ms / 1000, args.timeline)
    with sandbox:
        emit({"listening": sandbox.url, "mixpay_api_base": sandbox.mixpay_api_base,
              "checkout_base": sandbox.checkout_base})
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
