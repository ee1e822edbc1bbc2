"""The claims desk: every open claim, oldest first; a lookup by the code a customer brings;
and (operators) settling a claim: a refund sent (with its reference) or the item given, sent to
the machine as a ``settle_claim`` command and written to the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kiosk.claims import normalize_claim_code

from ..model import AuditEntry, Claim, Role, Session
from . import forms
from .command_forms import send_failure, send_status
from .context import Console, console_of
from .forms import FormError
from .guard import action, page
from .jsonout import json_response
from .moneytext import money_text

OPEN_STATUSES = ("refund_due", "paid_late", "vend_unknown")
HOWS = ("refund_sent", "item_given")
MAX_REFERENCE = 200            # the kiosk keeps this much of a reference


def lookup(console: Console, code: str) -> Claim | None:
    """The claim with ``code`` as the customer typed it (any case, hyphens, I/L/O)."""
    wanted = normalize_claim_code(code)
    if not wanted:
        return None
    claim = console.store.find_claim(wanted)
    if claim is not None:
        return claim
    # Whether the store keeps codes normalised or as the kiosk printed them ("0HFF-B56R"),
    # an open claim is still found by comparing normalised forms.
    for candidate in console.store.open_claims():
        if candidate.code and normalize_claim_code(candidate.code) == wanted:
            return candidate
    return None


def render_claims(request: Request, session: Session, *, error: FormError | None = None,
                  values: Mapping[str, str] | None = None, status_code: int = 200) -> Response:
    console = console_of(request)
    code = request.query_params.get("code", "").strip()
    if values and not code:
        code = values.get("claim", "")
    found = lookup(console, code) if code else None
    return console.pages.render(
        request, "claims.html",
        {"claims": console.store.open_claims(), "code": code, "found": found,
         "open_statuses": OPEN_STATUSES, "error": error, "values": dict(values or {}),
         "settled": request.query_params.get("settled", "")},
        session, status_code=status_code)


@page()
async def claims_page(request: Request, session: Session) -> Response:
    return render_claims(request, session)


@page(api=True)
async def claims_api(request: Request, session: Session) -> Response:
    console = console_of(request)
    code = request.query_params.get("code", "")
    if code:
        claim = lookup(console, code)
        if claim is None:
            return json_response({"error": f"no claim with code {code!r}"}, 404)
        return json_response(claim)
    return json_response(console.store.open_claims())


def _settle_args(console: Console, form: FormData) -> tuple[Claim, dict[str, Any]]:
    machine = forms.text(form, "machine", max_len=100)
    code = forms.text(form, "claim", max_len=40)
    how = forms.choice(form, "how", HOWS)
    # A refund is settled against something the operator can show: its reference.
    reference = forms.text(form, "reference", required=how == "refund_sent",
                           max_len=MAX_REFERENCE)
    wanted = normalize_claim_code(code)
    claim = next((c for c in console.store.open_claims()
                  if c.machine == machine and c.code and normalize_claim_code(c.code) == wanted),
                 None)
    if claim is None:
        raise FormError("claim", f"no open claim {code!r} on machine {machine!r}")
    args: dict[str, Any] = {"claim": claim.code, "how": how}
    if reference:
        args["reference"] = reference
    return claim, args


@action(Role.OPERATOR)
async def settle_claim(request: Request, session: Session, form: FormData) -> Response:
    console = console_of(request)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    try:
        claim, args = _settle_args(console, form)
    except FormError as error:
        return render_claims(request, session, error=error, values=values, status_code=400)
    try:
        record = console.commands.send(claim.machine, "settle_claim", args, session.user.name)
    except Exception as exc:   # refused, or the broker would not take it: say so, keep the form
        return render_claims(request, session, values=values, status_code=send_status(exc),
                             error=send_failure(exc, "settle_claim", claim.machine))
    # Besides the sender's "command" entry: the settlement itself, with the sale it closes.
    console.store.audit(AuditEntry(
        console.clock(), session.user.name, "settle",
        {"machine": claim.machine, "tx": claim.tx, "claim": claim.code, "how": args["how"],
         "reference": args.get("reference", ""), "command": record.id,
         "amount": money_text(claim.amount, claim.currency), "currency": claim.currency}))
    return RedirectResponse(f"/claims?settled={record.id}", status_code=303)
