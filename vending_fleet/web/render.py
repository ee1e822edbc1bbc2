"""Server-rendered pages: one Jinja2 environment (autoescaped), the context every page shares
(who is logged in, their form token, the navigation) and the filters for money and times."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..model import Role, Session
from .freshness import ago, freshness
from .moneytext import money_text
from .roles import allows

TEMPLATES = Path(__file__).parent / "templates"

# (path, label, the role that sees it)
NAV: tuple[tuple[str, str, Role], ...] = (
    ("/", "Machines", Role.VIEWER),
    ("/income", "Income", Role.VIEWER),
    ("/stock", "Stock", Role.VIEWER),
    ("/claims", "Claims", Role.VIEWER),
    ("/alerts", "Alerts", Role.VIEWER),
    ("/audit", "Audit trail", Role.VIEWER),
    ("/users", "Users", Role.ADMIN),
)


def when(value: datetime | None) -> str:
    """Times shown in UTC, to the second: the machines and the console agree on it."""
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def stamp(value: object) -> str:
    """An event's ISO 8601 ``at`` as the other times are shown (as given if unreadable)."""
    try:
        return when(datetime.fromisoformat(str(value)).astimezone(UTC))
    except ValueError:
        return str(value)


class Pages:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._env = Environment(loader=FileSystemLoader(TEMPLATES),
                                autoescape=select_autoescape(["html"]),
                                undefined=StrictUndefined, trim_blocks=True,
                                lstrip_blocks=True)
        self._env.filters["money"] = money_text
        self._env.filters["when"] = when
        self._env.filters["stamp"] = stamp

    def render(self, request: Request, name: str, context: Mapping[str, Any],
               session: Session | None, status_code: int = 200) -> HTMLResponse:
        now = self._now()
        user = session.user if session else None
        shared: dict[str, Any] = {
            "request": request,
            "session": session,
            "user": user,
            "csrf": session.csrf if session else "",
            "nav": [(path, label) for path, label, role in NAV
                    if user is not None and allows(user.role, role)],
            "path": request.url.path,
            "now": now,
            "ago": lambda then: ago(then, now),
            "freshness": lambda then: freshness(then, now),
            "can_operate": user is not None and allows(user.role, Role.OPERATOR),
            "is_admin": user is not None and allows(user.role, Role.ADMIN),
        }
        shared.update(context)
        html = self._env.get_template(name).render(shared)
        return HTMLResponse(html, status_code=status_code)

    def error(self, request: Request, status_code: int, message: str,
              session: Session | None = None) -> HTMLResponse:
        return self.render(request, "error.html",
                           {"status_code": status_code, "message": message}, session,
                           status_code=status_code)
