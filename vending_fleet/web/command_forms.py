"""The operator's command forms on a machine's page: each form's fields checked here (so a
typo is answered at once, naming the field, rather than refused by the machine minutes later),
then signed, recorded, audited and published by the command sender."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..commands import CommandError, NotSent
from ..model import Machine, Role, Session, Slot
from . import forms
from .context import console_of
from .forms import FormError
from .guard import action
from .machines import render_machine
from .moneytext import money_text

log = logging.getLogger(__name__)

MAX_STOCK = 10_000            # the kiosk's own bound on set_stock
MAX_REASON = 80               # the kiosk keeps this much of a service reason
NOT_SENT = "not sent: the console failed (its log says why); try again"

Parser = Callable[[FormData, Machine, list[Slot]], dict[str, Any]]


def _slot(form: FormData, slots: list[Slot]) -> str:
    if not slots:              # no state heard yet: the machine checks the slot itself
        return forms.text(form, "slot", max_len=40)
    return forms.choice(form, "slot", tuple(s.slot for s in slots))


def _set_price(form: FormData, machine: Machine, slots: list[Slot]) -> dict[str, Any]:
    slot = _slot(form, slots)
    price = forms.price(form, "price", machine.currency or None)
    return {"slot": slot, "price": money_text(price, machine.currency)}


def _set_stock(form: FormData, machine: Machine, slots: list[Slot]) -> dict[str, Any]:
    return {"slot": _slot(form, slots), "stock": forms.integer(form, "stock", 0, MAX_STOCK)}


def _set_slot_enabled(form: FormData, machine: Machine, slots: list[Slot]) -> dict[str, Any]:
    slot = _slot(form, slots)
    return {"slot": slot, "enabled": forms.choice(form, "enabled", ("true", "false")) == "true"}


def _set_service(form: FormData, machine: Machine, slots: list[Slot]) -> dict[str, Any]:
    in_service = forms.choice(form, "in_service", ("true", "false")) == "true"
    args: dict[str, Any] = {"in_service": in_service}
    reason = forms.text(form, "reason", required=False, max_len=MAX_REASON)
    if reason:
        args["reason"] = reason
    return args


def _selftest(form: FormData, machine: Machine, slots: list[Slot]) -> dict[str, Any]:
    return {}


def _send_audit(form: FormData, machine: Machine, slots: list[Slot]) -> dict[str, Any]:
    return {"reset": forms.flag(form, "reset")}


PARSERS: dict[str, Parser] = {
    "set_price": _set_price,
    "set_stock": _set_stock,
    "set_slot_enabled": _set_slot_enabled,
    "set_service": _set_service,
    "selftest": _selftest,
    "send_audit": _send_audit,
}


@action(Role.OPERATOR)
async def send_command(request: Request, session: Session, form: FormData) -> Response:
    console = console_of(request)
    machine_id = request.path_params["machine"]
    command = request.path_params["command"]
    machine = console.store.machine(machine_id)
    if machine is None:
        return console.pages.error(request, 404, f"No machine {machine_id!r} is known.",
                                   session)
    parser = PARSERS.get(command)
    if parser is None:
        return console.pages.error(request, 404, f"No command {command!r} on this console.",
                                   session)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    try:
        args = parser(form, machine, console.store.slots(machine_id))
    except FormError as error:
        return render_machine(request, session, machine_id, error=error, failed=command,
                              values=values, status_code=400)
    try:
        record = console.commands.send(machine_id, command, args, session.user.name)
    except Exception as exc:   # refused, or the broker would not take it: say so, keep the form
        return render_machine(request, session, machine_id, failed=command, values=values,
                              error=send_failure(exc, command, machine_id),
                              status_code=send_status(exc))
    # The sender records the command and writes its audit entry (with the user).
    return RedirectResponse(f"/machines/{quote(machine_id, safe='')}?sent={quote(record.id)}",
                            status_code=303)


def send_failure(exc: Exception, command: str, machine: str) -> FormError:
    """The sender's refusal (``CommandError``: the message names the argument) or failure, as
    an error on the form. A failure's text stays in the log: a database error names the host
    and the user."""
    if isinstance(exc, CommandError):
        return FormError("command", str(exc))
    log.error("sending %s to %s failed", command, machine, exc_info=exc)
    return FormError("command", NOT_SENT)


def send_status(exc: Exception) -> int:
    if isinstance(exc, NotSent):
        return 503             # the broker connection is down: try again later
    if isinstance(exc, CommandError):
        return 400
    return 502
