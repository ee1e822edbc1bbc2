"""Property tests: MixPay's reply parsers fed arbitrary JSON never raise anything but the kiosk's
own errors, and never report PAID for a body that lacks the verified fields."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.errors import GatewayError
from kiosk.payments.base import Order, PaymentRequest, PaymentState
from kiosk.payments.mixpay import MixPayGateway
from kiosk.payments.ratelimit import RateLimiter

PAYEE = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"
TRACE = "8e69e534-d0c4-3e04-8b61-37a73cd9e7d7"
ORDER = Order(TRACE, "A1", "Water", Decimal("2.50"), "USD", None, 2_000_000_000)
REQUEST = PaymentRequest(TRACE, f"https://mixpay.me/code/{TRACE}", 2_000_000_000)

scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=12)
           | st.decimals(allow_nan=False, allow_infinity=False).map(str))
any_json = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(st.text(max_size=8), children, max_size=4),
                        max_leaves=20)
FIELDS = ["status", "payeeId", "quoteAmount", "quoteAssetId", "traceId", "paymentAmount",
          "payableAmount", "failureCode", "failureReason", "payment", "paymentSymbol"]
result_like = st.fixed_dictionaries({}, optional={
    name: any_json | st.sampled_from(["success", "paid_less", "failed", PAYEE, TRACE, "usd",
                                      "2.50", "2.5", "0", "40000"])
    for name in FIELDS})
envelopes = st.fixed_dictionaries({}, optional={
    "code": any_json | st.just(0) | st.just(1429), "success": any_json | st.just(True),
    "message": any_json, "data": any_json | result_like})
bodies = any_json | envelopes | envelopes.map(lambda e: {**e, "success": True, "code": 0})


def gateway_replying(body: bytes, status: int) -> MixPayGateway:
    limiter = RateLimiter(10_000, sleep=lambda s: None)
    # The clock puts the order's deadline two minutes ahead, so create reaches the network.
    return MixPayGateway(payee_id=PAYEE, settlement_asset_id="s", limiter=limiter,
                         clock=lambda: ORDER.expires_at - 120,
                         transport=httpx.MockTransport(lambda r: httpx.Response(status,
                                                                                content=body)))


def verified_paid(body: Any) -> bool:
    data = body.get("data") if isinstance(body, dict) else None
    return (isinstance(body, dict) and body.get("success") is True and isinstance(data, dict)
            and data.get("status") == "success" and data.get("payeeId") == PAYEE
            and data.get("traceId") == TRACE and str(data.get("quoteAssetId")).lower() == "usd"
            and _decimal(data.get("quoteAmount")) == Decimal("2.50"))


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, status=st.sampled_from([200, 200, 200, 400, 404, 429, 500]))
def test_status_parser_never_escapes_the_kiosk_errors_or_fakes_paid(body: Any,
                                                                      status: int) -> None:
    gateway = gateway_replying(json.dumps(body).encode(), status)
    try:
        result = gateway.status(ORDER, REQUEST)
    except GatewayError:
        return
    if result.state is PaymentState.PAID:
        assert status == 200 and verified_paid(body), body


@settings(max_examples=200, deadline=None)
@given(body=bodies | st.binary(max_size=40).map(lambda b: {"raw": b.hex()}))
def test_create_and_asset_parsers_never_escape_the_kiosk_errors(body: Any) -> None:
    gateway = gateway_replying(json.dumps(body).encode(), 200)
    try:
        request = gateway.create(ORDER)
    except GatewayError:
        pass
    else:  # a link was made only from a real code string
        data = body["data"]
        assert isinstance(data["code"], str)
        assert request.link.endswith("/code/" + quote(data["code"], safe=""))
    try:
        assets = gateway.list_assets(Decimal("2.50"), "USD")
    except GatewayError:
        return
    assert all(a.symbol and a.asset_id for a in assets)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64))
def test_bytes_that_are_not_json_are_a_protocol_error(raw: bytes) -> None:
    gateway = gateway_replying(raw, 200)
    try:
        gateway.status(ORDER, REQUEST)
    except GatewayError:
        return
    json.loads(raw)  # it parsed: then it must have been valid JSON after all
