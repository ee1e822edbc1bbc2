"""Property tests: LNbits' reply parsers fed arbitrary JSON never raise anything but the kiosk's
own errors, and never report PAID for a body that lacks the verified fields."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.errors import GatewayError
from kiosk.payments.base import Order, PaymentRequest, PaymentState
from kiosk.payments.lnbits import LnbitsGateway
from kiosk.payments.lnbits_rate import FixedRate
from kiosk.payments.ratelimit import RateLimiter

WALLET = "kiosk-wallet-0001"
HASH = "ab" * 32
BOLT11 = "lnbc25u1p" + "q" * 60
ORDER = Order("tx-1", "A1", "Water", Decimal("2.50"), "USD", None, 2_000_000_000)
REQUEST = PaymentRequest(HASH, "LIGHTNING:" + BOLT11.upper(), ORDER.expires_at,
                         crypto_amount=Decimal(2500), crypto_symbol="sats", rate=Decimal(1000))

scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=12)
           | st.decimals(allow_nan=False, allow_infinity=False).map(str))
any_json = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(st.text(max_size=8), children, max_size=4),
                        max_leaves=20)
likely = st.sampled_from([True, False, "success", "pending", "failed", HASH, "cd" * 32, WALLET,
                          "other-wallet", 2_500_000, 2_500_001, "2500000", BOLT11, 2500])
details = st.fixed_dictionaries({}, optional={
    name: any_json | likely
    for name in ("payment_hash", "wallet_id", "amount", "bolt11", "status", "checking_id")})
bodies = any_json | st.fixed_dictionaries({}, optional={
    "paid": any_json | likely, "status": any_json | likely, "preimage": any_json,
    "details": any_json | details, "detail": any_json,
    "payment_hash": any_json | likely, "bolt11": any_json | likely,
    "payment_request": any_json | likely, "amount": any_json | likely,
    "wallet_id": any_json | likely})


def gateway_replying(body: bytes, status: int) -> LnbitsGateway:
    return LnbitsGateway(api_base="https://lnbits.test", wallet_id=WALLET, invoice_key="k",
                         rates=FixedRate(Decimal(1000)), clock=lambda: ORDER.expires_at - 120,
                         limiter=RateLimiter(10_000, sleep=lambda s: None),
                         transport=httpx.MockTransport(
                             lambda r: httpx.Response(status, content=body)))


def verified_paid(body: Any) -> bool:
    d = body.get("details") if isinstance(body, dict) else None
    return (isinstance(body, dict) and body.get("paid") is True
            and body.get("status", "success") == "success" and isinstance(d, dict)
            and d.get("status", "success") == "success" and d.get("payment_hash") == HASH
            and d.get("wallet_id") == WALLET and d.get("amount") == 2_500_000
            and not isinstance(d.get("amount"), bool)
            and d.get("bolt11", BOLT11) == BOLT11)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, status=st.sampled_from([200, 200, 200, 201, 400, 401, 404, 429, 500]))
def test_status_parser_never_escapes_the_kiosk_errors_or_fakes_paid(body: Any,
                                                                      status: int) -> None:
    try:
        result = gateway_replying(json.dumps(body).encode(), status).status(ORDER, REQUEST)
    except GatewayError:
        return
    if result.state is PaymentState.PAID:
        assert status < 300 and verified_paid(body), body
        assert result.paid_amount == 2500


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, status=st.sampled_from([200, 201, 400, 500]))
def test_create_parser_never_escapes_the_kiosk_errors(body: Any, status: int) -> None:
    try:
        request = gateway_replying(json.dumps(body).encode(), status).create(ORDER)
    except GatewayError:
        return
    # an invoice only from a real hash and a BOLT11 string, for our amount and wallet
    assert isinstance(body, dict) and request.payment_id == body["payment_hash"]
    assert request.link == "LIGHTNING:" + str(body.get("bolt11", body.get("payment_request"))
                                              ).upper()
    assert body.get("amount", 2_500_000) == 2_500_000
    assert body.get("wallet_id", WALLET) == WALLET


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64))
def test_bytes_that_are_not_json_are_a_protocol_error(raw: bytes) -> None:
    try:
        gateway_replying(raw, 200).status(ORDER, REQUEST)
    except GatewayError:
        return
    json.loads(raw)
