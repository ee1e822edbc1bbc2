"""The machines page (home): every machine with its freshness, service and claims; and one
machine's detail: slots, recent events, the commands sent to it with their replies, and (for
operators) the command forms."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..model import Alert, CommandRecord, Machine, Session, Slot
from .context import Console, console_of
from .forms import FormError
from .freshness import freshness
from .guard import page
from .jsonout import json_response, plain

RECENT_EVENTS = timedelta(days=7)
EVENTS_SHOWN = 50
COMMANDS_SHOWN = 50


@dataclass(frozen=True)
class MachineRow:
    machine: Machine
    alerts: int                # active alerts on it


def machine_rows(console: Console) -> list[MachineRow]:
    counts = Counter(alert.machine for alert in console.store.alerts(active_only=True))
    return [MachineRow(m, counts[m.id]) for m in console.store.machines()]


@page()
async def machines_page(request: Request, session: Session) -> Response:
    console = console_of(request)
    return console.pages.render(request, "machines.html", {"rows": machine_rows(console)},
                                session)


@page(api=True)
async def machines_fragment(request: Request, session: Session) -> Response:
    console = console_of(request)
    return console.pages.render(request, "_machine_rows.html",
                                {"rows": machine_rows(console)}, session)


@page(api=True)
async def machines_api(request: Request, session: Session) -> Response:
    console = console_of(request)
    now = console.clock()
    return json_response([
        plain(row.machine) | {"active_alerts": row.alerts,
                              "freshness": freshness(row.machine.last_seen, now)}
        for row in machine_rows(console)])


@dataclass(frozen=True)
class MachineView:
    machine: Machine
    slots: list[Slot]
    events: list[Mapping[str, Any]]        # newest first
    commands: list[CommandRecord]
    alerts: list[Alert]


def machine_view(console: Console, machine_id: str) -> MachineView | None:
    machine = console.store.machine(machine_id)
    if machine is None:
        return None
    since = console.clock() - RECENT_EVENTS
    events = list(console.store.events_of(machine_id, since))[-EVENTS_SHOWN:]
    events.reverse()
    return MachineView(machine, console.store.slots(machine_id), events,
                       console.store.commands(machine_id, limit=COMMANDS_SHOWN),
                       [a for a in console.store.alerts(active_only=True)
                        if a.machine == machine_id])


def render_machine(request: Request, session: Session, machine_id: str, *,
                   error: FormError | None = None, failed: str = "",
                   values: Mapping[str, str] | None = None, status_code: int = 200) -> Response:
    """The detail page; after a refused form, with ``error`` and the values typed into the
    ``failed`` form kept."""
    console = console_of(request)
    view = machine_view(console, machine_id)
    if view is None:
        return console.pages.error(request, 404, f"No machine {machine_id!r} is known.",
                                   session)
    return console.pages.render(
        request, "machine.html",
        {"view": view, "error": error, "failed": failed, "values": dict(values or {}),
         "sent": request.query_params.get("sent", ""), "summary": event_summary,
         "reply_text": reply_text, "args_text": args_text},
        session, status_code=status_code)


@page()
async def machine_page(request: Request, session: Session) -> Response:
    return render_machine(request, session, request.path_params["machine"])


@page(api=True)
async def machine_fragment(request: Request, session: Session) -> Response:
    console = console_of(request)
    view = machine_view(console, request.path_params["machine"])
    if view is None:
        return console.pages.error(request, 404, "No such machine.", session)
    return console.pages.render(
        request, "_machine_live.html",
        {"view": view, "summary": event_summary, "reply_text": reply_text,
         "args_text": args_text}, session)


@page(api=True)
async def machine_api(request: Request, session: Session) -> Response:
    console = console_of(request)
    view = machine_view(console, request.path_params["machine"])
    if view is None:
        return json_response({"error": "no such machine"}, 404)
    return json_response(view)


_SUMMARY_FIELDS = ("tx", "status", "slot", "item", "amount", "currency", "gateway", "reason",
                   "passed")


def event_summary(event: Mapping[str, Any]) -> str:
    """One line for an event in the machine's log: its main fields, then its detail."""
    parts = [f"{key}={event[key]}" for key in _SUMMARY_FIELDS if event.get(key) not in
             (None, "")]
    detail = event.get("detail")
    if detail:
        parts.append(_short(json.dumps(detail, sort_keys=True, default=str)))
    return " ".join(parts)


def args_text(args: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(args.items())) or "-"


def reply_text(record: CommandRecord) -> str:
    """The reply's gist: the result of an applied command, the error of a refused one."""
    reply = record.reply
    if not reply:
        return "no reply yet"
    if "error" in reply:
        return _short(str(reply["error"]))
    result = reply.get("result")
    if isinstance(result, Mapping) and "file" in result:
        # send_audit: the whole DEX file; its size is what fits a table cell.
        result = {k: v for k, v in result.items() if k != "file"} | {
            "file": f"{len(str(result['file']))} characters"}
    return _short(json.dumps(result, sort_keys=True, default=str)) if result else ""


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@page()
async def audit_file(request: Request, session: Session) -> Response:
    """The DEX/EVA-DTS file a ``send_audit`` command brought back, as a download."""
    console = console_of(request)
    machine_id, command_id = request.path_params["machine"], request.path_params["command"]
    record = next((c for c in console.store.commands(machine_id, limit=1000)
                   if c.id == command_id and c.command == "send_audit"), None)
    result = record.reply.get("result") if record and record.reply else None
    if not isinstance(result, Mapping) or not isinstance(result.get("file"), str):
        return console.pages.error(request, 404, "No audit file came back for this command.",
                                   session)
    return PlainTextResponse(result["file"], headers={
        "Content-Disposition": f'attachment; filename="audit-{_safe(machine_id)}-'
                               f'{_safe(command_id)}.dex"'})


def _safe(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum() or ch in "-_.")
