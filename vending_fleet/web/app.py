"""The console's Starlette app: its routes, error pages and headers."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..hub import Hub
from ..model import Role, Store
from . import alerts, audit, claims, command_forms, income, live, machines, stock, users
from .auth import login, login_page, logout
from .context import Clock, Console, utc_now
from .errors import http_error, server_error
from .guard import action
from .headers import SecurityHeaders
from .render import Pages
from .sender import CommandSenderLike
from .throttle import LoginThrottle, Monotonic

STATIC = Path(__file__).parent / "static"

SESSION_LIFETIME = timedelta(hours=12)
LOW_STOCK = 2
SSE_HEARTBEAT_S = 15.0


def create_app(store: Store, hub: Hub, commands: CommandSenderLike, *,
               clock: Clock = utc_now, secure_cookies: bool,
               session_lifetime: timedelta = SESSION_LIFETIME, low_stock: int = LOW_STOCK,
               sse_heartbeat_s: float = SSE_HEARTBEAT_S,
               monotonic: Monotonic = time.monotonic) -> Starlette:
    """The web console over ``store`` (reads, sessions, audit), ``hub`` (live updates) and
    ``commands`` (signed commands). ``clock`` gives the time (UTC, aware) for sessions and
    freshness; ``monotonic`` (seconds) for the failed-login limit; ``secure_cookies``: mark
    cookies Secure (serve over HTTPS)."""
    console = Console(store=store, hub=hub, commands=commands, clock=clock,
                      pages=Pages(clock), secure_cookies=secure_cookies,
                      session_lifetime=session_lifetime, low_stock=low_stock,
                      sse_heartbeat_s=sse_heartbeat_s, logins=LoginThrottle(monotonic))
    app = Starlette(routes=routes(),
                    middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.console = console
    return app


def routes() -> list[BaseRoute]:
    get, post = ["GET"], ["POST"]
    return [
        Route("/login", login_page, methods=get),
        Route("/login", login, methods=post),
        Route("/logout", action(Role.VIEWER)(logout), methods=post),
        # pages
        Route("/", machines.machines_page, methods=get),
        Route("/machines/{machine}", machines.machine_page, methods=get),
        Route("/machines/{machine}/commands/{command}", command_forms.send_command,
              methods=post),
        Route("/machines/{machine}/audit/{command}", machines.audit_file, methods=get),
        Route("/income", income.income_page, methods=get),
        Route("/income/sales.csv", income.sales_csv, methods=get),
        Route("/income/totals.csv", income.totals_csv, methods=get),
        Route("/stock", stock.stock_page, methods=get),
        Route("/claims", claims.claims_page, methods=get),
        Route("/claims/settle", claims.settle_claim, methods=post),
        Route("/alerts", alerts.alerts_page, methods=get),
        Route("/audit", audit.audit_page, methods=get),
        Route("/users", users.users_page, methods=get),
        Route("/users", users.add_user, methods=post),
        # live updates, and the page fragments they make the browser re-fetch
        Route("/events", live.events, methods=get),
        Route("/fragments/machines", machines.machines_fragment, methods=get),
        Route("/fragments/machines/{machine}", machines.machine_fragment, methods=get),
        Route("/fragments/sales", income.sales_fragment, methods=get),
        # JSON
        Route("/api/machines", machines.machines_api, methods=get),
        Route("/api/machines/{machine}", machines.machine_api, methods=get),
        Route("/api/sales", income.sales_api, methods=get),
        Route("/api/totals", income.totals_api, methods=get),
        Route("/api/stock", stock.stock_api, methods=get),
        Route("/api/claims", claims.claims_api, methods=get),
        Route("/api/alerts", alerts.alerts_api, methods=get),
        Route("/api/audit", audit.audit_api, methods=get),
        Route("/api/users", users.users_api, methods=get),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
