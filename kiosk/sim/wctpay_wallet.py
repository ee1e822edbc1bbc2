"""WCT Pay's simulated phone wallet: the page that pays or cancels the open payments."""

from __future__ import annotations

import html
from collections.abc import Iterable
from string import Template
from typing import Any
from urllib.parse import parse_qs

from kiosk.sim.refusal import PayRefused
from kiosk.sim.server import Response, html_response
from kiosk.sim.wctpay_state import (
    CREATED,
    PARTIAL,
    STATUS_WORDS,
    Rules,
    WctPayment,
    fmt,
)


def by_qr(payments: Iterable[WctPayment], qr: str, now: float, rules: Rules) -> WctPayment:
    """The payment a scanned QR pays: by address (and XRP tag) or by Lightning invoice."""
    target, _, query = qr.partition("?")
    scheme, colon, rest = target.partition(":")
    target = rest if colon else target
    tag = parse_qs(query).get("dt", [None])[0]
    for payment in reversed(list(payments)):       # the newest first
        if payment.address.casefold() == target.casefold() and payment.tag in (None, tag):
            return payment
        if scheme.casefold() == "lightning" and payment.coin.lightning:
            current = payment.quote(now, rules)
            for quote in range(current, -1, -1):
                if (payment.payreq(quote) or "").casefold() == target.casefold():
                    if quote < current:
                        raise PayRefused(410, "This Lightning invoice has expired; "
                                              "scan the new QR code.")
                    return payment
    raise PayRefused(404, "No payment matches this QR code.")


def summary(p: WctPayment | None, message: str, now: float, rules: Rules) -> dict[str, Any]:
    """What the wallet tells a script: the payment after the action, and the message."""
    if p is None:
        return {"reference": None, "payment_status": None, "message": message}
    status, quote = p.state(now, rules), p.quote(now, rules)
    return {"reference": p.reference, "payment_code": p.code, "payment_status": status,
            "status": STATUS_WORDS[status], "asset": p.coin.asset,
            "payment_amount": fmt(p.crypto(p.usd, quote)),
            "payment_missing_amount": fmt(p.missing(now, quote, rules)),
            "paid": fmt(p.paid),
            "message": message}


def wallet_page(payments: Iterable[WctPayment], mount: str, message: str, status_code: int,
                now: float, rules: Rules) -> Response:
    """The wallet: a QR form and a card for every open payment, the newest first."""
    rows = "".join(wallet_row(mount, p, now, rules) for p in reversed(list(payments))
                   if p.state(now, rules) in (CREATED, PARTIAL))
    return html_response(status_code, WALLET_PAGE.substitute(
        mount=mount, message=(f'<p class="message">{html.escape(message)}</p>'
                              if message else ""),
        rows=rows or "<p>No open payments. Start a sale on the kiosk.</p>"))


def wallet_row(mount: str, p: WctPayment, now: float, rules: Rules) -> str:
    quote = p.quote(now, rules)
    pending = any(now < t.at + rules.confirm_s for t in p.transfers)
    state = "confirming" if pending else STATUS_WORDS[p.state(now, rules)]
    tag = f" &middot; destination tag <b>{p.tag}</b>" if p.tag else ""
    reference = html.escape(p.reference, quote=True)
    return (
        f'<div class="card"><h2>{html.escape(p.description)} &middot; '
        f'{fmt(p.amount)} {p.settlement}</h2>'
        f'<p>Pay <b>{fmt(p.missing(now, quote, rules))} {p.coin.asset}</b> '
        f'({html.escape(p.coin.code)}) to <code>{p.address}</code>{tag}</p>'
        f'<p class="state">{state}</p>'
        f'<form method="post" action="{mount}/wallet/pay">'
        f'<input type="hidden" name="reference" value="{reference}">'
        '<input name="amount" inputmode="decimal" placeholder="amount (optional)">'
        '<button name="part" value="">Pay</button>'
        '<button name="part" value="half">Pay part</button>'
        '<button name="part" value="more">Pay more</button></form>'
        f'<form method="post" action="{mount}/wallet/cancel">'
        f'<input type="hidden" name="reference" value="{reference}">'
        '<button class="cancel">Cancel payment</button></form></div>')


WALLET_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WCT Pay sandbox wallet</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f3f5f9; color: #1c2330; }
  main { max-width: 30rem; margin: 0 auto; padding: 1.5rem 1rem; }
  .card { background: #fff; border-radius: 1rem; padding: 1rem; margin: 1rem 0;
          box-shadow: 0 2px 10px #0002; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
  code { word-break: break-all; } .state { color: #7a8599; }
  .message { padding: .6rem .8rem; border-radius: .6rem; background: #fff5d6; }
  input, textarea { width: 100%; box-sizing: border-box; font-size: 1rem; padding: .5rem;
                    margin: .3rem 0; }
  button { font-size: 1rem; padding: .5rem .8rem; margin: .2rem .2rem 0 0; border: 0;
           border-radius: .5rem; background: #3b5bfd; color: #fff; cursor: pointer; }
  button.cancel { background: #e3e8f4; color: #1c2330; }
</style></head>
<body><main>
<h1>WCT Pay sandbox wallet &middot; no real money</h1>
$message
<form class="card" method="post" action="$mount/wallet/pay">
  <label>Scanned QR text<textarea name="qr" rows="2"></textarea></label>
  <input name="amount" inputmode="decimal" placeholder="amount (optional)">
  <button>Pay</button>
</form>
$rows
<p><a href="$mount/wallet">Refresh</a></p>
</main></body></html>
""")
