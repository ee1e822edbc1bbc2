"""Centrapay's simulated patron page: what a PR's ``url`` (the QR) opens, with Pay and Decline."""

from __future__ import annotations

import html
from string import Template

from kiosk.sim.centrapay_state import MERCHANT_NAME, PaymentRequest, money
from kiosk.sim.server import Response, html_response

_STATUS_WORDS = {
    "new": "Waiting for payment",
    "paid": "Paid. Thank you!",
    "expired": "This payment request has expired.",
}

_PAGE_HTML = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<title>Centrapay sandbox</title>
<style>
 body{font-family:system-ui,sans-serif;margin:0;background:#f4f2fb;color:#1d1a2e}
 main{max-width:26rem;margin:0 auto;padding:1.5rem 1rem}
 .card{background:#fff;border-radius:1rem;padding:1.25rem;box-shadow:0 2px 10px #0002}
 .tag{font-size:.75rem;letter-spacing:.08em;text-transform:uppercase;color:#7b7594}
 h1{font-size:1.3rem;margin:.25rem 0 1rem} .amount{font-size:2rem;font-weight:700;margin:0}
 .code{font-family:ui-monospace,monospace;color:#5b5676}
 .status{padding:.6rem .8rem;border-radius:.6rem;background:#eeecf6;margin:1rem 0}
 .status.paid{background:#dcf5e3} .status.cancelled,.status.expired{background:#fbe1e1}
 .message{padding:.6rem .8rem;border-radius:.6rem;background:#fff5d6;margin:1rem 0}
 button{width:100%;border:0;border-radius:.7rem;cursor:pointer;margin-top:.6rem}
 .pay{font-size:1.5rem;font-weight:700;padding:1rem;background:#6b4ef6;color:#fff}
 .part,.decline{font-size:.95rem;padding:.6rem;background:#e6e3f3;color:#1d1a2e}
</style></head><body><main><div class="card">
<div class="tag">Centrapay sandbox &middot; no real money</div>
<h1>${merchant}</h1>
<p class="amount">${amount}</p>
<p class="code">${short_code}</p>
<div class="status ${status_class}">${status}</div>
${message}${buttons}
<p><a href="${page}">Refresh</a></p>
</div></main></body></html>
""")


def patron_page(pr: PaymentRequest, mount: str, now: float, confirm_s: float, message: str,
                status_code: int) -> Response:
    """The page a PR's QR opens: amount, status, and Pay / Pay part / Decline while open."""
    status = pr.status(now, confirm_s)
    page = f"{mount}/pay/{pr.id}"
    settling = status == "new" and pr.paid_at is not None
    words = ("Payment received, processing…" if settling
             else f"Cancelled: {pr.cancellation_reason}" if status == "cancelled"
             else _STATUS_WORDS[status])
    if status == "paid" and pr.remaining > 0:
        words = f"Part paid: {money(pr.remaining, pr.currency)} to pay another way"
    buttons = ""
    if status == "new" and not settling:
        part = ('<button class="part" type="submit" name="part" value="half">Pay part'
                '</button>' if pr.partial_allowed else "")
        buttons = (f'<form method="post" action="{page}/pay">'
                   f'<button class="pay" type="submit">Pay</button>{part}</form>'
                   f'<form method="post" action="{page}/decline">'
                   '<button class="decline" type="submit">Decline</button></form>')
    return html_response(status_code, _PAGE_HTML.substitute(
        refresh=(f'\n<meta http-equiv="refresh" content="1;url={page}">' if settling else ""),
        merchant=html.escape(MERCHANT_NAME),
        amount=html.escape(money(pr.amount, pr.currency)),
        short_code=html.escape(pr.short_code),
        status_class=status, status=html.escape(words),
        message=f'<div class="message">{html.escape(message)}</div>' if message else "",
        buttons=buttons, page=page))
