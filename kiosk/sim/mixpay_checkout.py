"""MixPay's simulated checkout page: the payment as the payer sees it, with a Pay form."""

from __future__ import annotations

import html
from importlib import resources
from string import Template
from typing import Any

from kiosk.sim.mixpay_state import MixPayment
from kiosk.sim.mixpay_terms import COINS, QUOTES, fmt
from kiosk.sim.server import Response, html_response

_PAGE = Template(resources.files("kiosk.sim").joinpath("checkout.html")
                 .read_text("utf-8"))

_STATUS_WORDS = {
    "unpaid": "Waiting for payment",
    "confirming": "Payment seen, confirming on the network…",
    "paid_less": "Part paid: please pay the rest",
    "success": "Paid. Thank you!",
}


def pay_summary(code: str, payment: MixPayment | None, message: str, now: float,
                confirm_s: float) -> dict[str, Any]:
    """What the checkout tells a script after a Pay: the payment as it now stands, the message."""
    if payment is None:
        return {"code": code, "status": None, "message": message}
    status, failure_code, _ = payment.state(now, confirm_s)
    payable = payment.payable
    return {"code": code, "status": status, "failureCode": failure_code,
            "paidAmount": fmt(payment.paid),
            "payableAmount": fmt(payable) if payable is not None else "",
            "paymentSymbol": payment.coin.symbol if payment.coin else "", "message": message}


def checkout_page(payment: MixPayment, mount: str, message: str, status_code: int,
                  now: float, confirm_s: float) -> Response:
    status, _, reason = payment.state(now, confirm_s)
    terms = payment.terms
    page = f"{mount}/code/{payment.code}"
    due = payment.due
    coin = payment.coin
    can_pay = status not in ("success", "failed") and (due is None or due > 0)
    return html_response(status_code, _PAGE.substitute(
        refresh=(f'<meta http-equiv="refresh" content="2;url={page}">'
                 if status == "confirming" else ""),
        remark=html.escape(terms.remark or "Payment"),
        quote=f"{fmt(terms.quote_amount)} {QUOTES[terms.quote_asset_id][0]}",
        due=(f'<p class="due">Pay <b>{fmt(due)} {html.escape(coin.symbol)}</b> '
             f'({html.escape(coin.network)})</p>' if coin and due else ""),
        status_class=status,
        status=html.escape(_STATUS_WORDS.get(status, f"Failed: {reason}")),
        message=f'<div class="message">{html.escape(message)}</div>' if message else "",
        form=_pay_form(page, payment, can_pay),
        page=page,
    ))


def _pay_form(page: str, payment: MixPayment, can_pay: bool) -> str:
    """The Pay form: a coin selector until a coin is fixed, an optional amount, Pay / Pay part."""
    if not can_pay:
        return ""
    terms = payment.terms
    coin_control = ""
    if payment.coin is None:
        options = "".join(
            f'<option value="{c.asset_id}">{html.escape(c.symbol)} ({html.escape(c.network)}) '
            f'&middot; {fmt(terms.payable_in(c))}</option>'
            for c in COINS if c.min_usd <= terms.quote_usd)
        coin_control = f'<label>Coin<select name="assetId">{options}</select></label>'
    return (f'<form method="post" action="{page}/pay">{coin_control}'
            '<label>Amount (optional, default: all that is due)'
            '<input name="amount" inputmode="decimal" autocomplete="off"></label>'
            '<button class="pay" type="submit">Pay</button>'
            '<button class="part" type="submit" name="part" value="half">Pay part</button>'
            '</form>')
