"""The console's parts as every page reads them, kept on ``app.state`` by ``create_app``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from starlette.requests import Request

from ..hub import Hub
from ..model import Store
from .render import Pages
from .sender import CommandSenderLike
from .throttle import LoginThrottle

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Console:
    store: Store
    hub: Hub
    commands: CommandSenderLike
    clock: Clock
    pages: Pages
    secure_cookies: bool
    session_lifetime: timedelta
    low_stock: int             # the default "low" mark on the stock page (units left)
    sse_heartbeat_s: float     # a comment line this often keeps proxies from closing /events
    logins: LoginThrottle      # failed logins per name and client


def console_of(request: Request) -> Console:
    return cast(Console, request.app.state.console)
