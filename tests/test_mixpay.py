"""MixPayGateway end to end against the sandbox over loopback HTTP; edge cases via MockTransport."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from fakes import FakeTime, status_refused
from kiosk.errors import (
    GatewayProtocolError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
    OperationNotSupported,
)
from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentState
from kiosk.payments.mixpay import MixPayGateway
from kiosk.payments.ratelimit import RateLimiter
from kiosk.sim import Sandbox

PAYEE = "3f1e7c2a-8d4b-4c55-9e61-2b7a0c9d1e42"
USDT_ERC20 = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
BTC = Asset("BTC", "Bitcoin", "Bitcoin", "c6d0c728-2624-429b-8e0d-d9d19b6592fa")
USDT_TRC20 = Asset("USDT", "Tether USD", "Tron", "b91e18ff-a9ae-3dc7-8679-e935d9a4b34b")


def make_order(clock: FakeTime, *, amount: str = "2.50", asset: Asset | None = None,
               lead_s: int = 120, name: str = "Sparkling water") -> Order:
    return Order(tx_id=str(uuid.uuid4()), slot_id="A1", item_name=name, amount=Decimal(amount),
                 currency="USD", asset=asset, expires_at=int(clock()) + lead_s)


# ``clock``, ``web`` and ``sandbox`` (on the fake clock, confirming in 2 s): tests/conftest.py
pytestmark = pytest.mark.sandbox(clock=True, confirm_s=2.0)


# == against the sandbox, over real loopback HTTP ==================================================

def sandbox_gateway(sandbox: Sandbox, clock: FakeTime, **options: Any) -> MixPayGateway:
    # A generous client budget: these tests are about behaviour, not the local limiter.
    return MixPayGateway(payee_id=PAYEE, settlement_asset_id=USDT_ERC20,
                         api_base=sandbox.mixpay_api_base, checkout_base=sandbox.checkout_base,
                         clock=clock, requests_per_minute=6000, **options)


@pytest.fixture
def gateway(sandbox: Sandbox, clock: FakeTime) -> Iterator[MixPayGateway]:
    client = sandbox_gateway(sandbox, clock)
    yield client
    client.close()


def api_calls(sandbox: Sandbox, path: str) -> int:
    return sum(1 for line in sandbox.request_log if line.endswith(f"/mixpay/v1{path}"))


def pay(web: httpx.Client, request: PaymentRequest, **fields: str) -> httpx.Response:
    """The payer presses Pay on the hosted checkout (a form POST, as the browser sends it)."""
    return web.post(f"{request.link}/pay", data=fields)


def test_list_assets_offers_the_coins_usable_for_the_amount(gateway: MixPayGateway) -> None:
    assets = gateway.list_assets(Decimal("2.50"), "USD")
    assert [a.symbol for a in assets] == ["BTC", "ETH", "USDT", "LTC", "DOGE"]
    assert BTC in assets and USDT_TRC20 in assets
    # USDT on Ethereum needs at least 5 USD in the sandbox: maxPaymentAmount "0" drops it.
    assert USDT_ERC20 not in {a.asset_id for a in assets}


def test_list_assets_keeps_only_the_allow_list_in_its_order(sandbox: Sandbox,
                                                            clock: FakeTime) -> None:
    client = sandbox_gateway(sandbox, clock, asset_allow_list=["DOGE", "usdt", "BTC", "XMR"])
    assets = client.list_assets(Decimal("10"), "USD")
    assert [(a.symbol, a.network) for a in assets] == [
        ("DOGE", "Dogecoin"), ("USDT", "Ethereum"), ("USDT", "Tron"), ("BTC", "Bitcoin")]


def test_list_assets_is_cached_per_amount_for_five_minutes(gateway: MixPayGateway,
                                                           sandbox: Sandbox,
                                                           clock: FakeTime) -> None:
    first = gateway.list_assets(Decimal("2.50"), "USD")
    assert gateway.list_assets(Decimal("2.5"), "USD") == first
    assert api_calls(sandbox, "/setting/payment_assets") == 1
    gateway.list_assets(Decimal("7"), "USD")
    assert api_calls(sandbox, "/setting/payment_assets") == 2
    clock.now += 299
    gateway.list_assets(Decimal("2.50"), "USD")
    assert api_calls(sandbox, "/setting/payment_assets") == 2
    clock.now += 2
    gateway.list_assets(Decimal("2.50"), "USD")
    assert api_calls(sandbox, "/setting/payment_assets") == 3


def test_pay_in_full_goes_confirming_then_paid(web: httpx.Client, gateway: MixPayGateway,
                                               sandbox: Sandbox, clock: FakeTime) -> None:
    order = make_order(clock, asset=BTC)
    request = gateway.create(order)
    assert request.link == f"{sandbox.checkout_base}/code/{order.tx_id}"
    assert (request.payment_id, request.expires_at) == (order.tx_id, order.expires_at)
    assert gateway.status(order, request).state is PaymentState.AWAITING

    page = web.get(request.link)
    assert page.status_code == 200
    assert '<button class="pay" type="submit">Pay</button>' in page.text
    assert "Sparkling water" in page.text and "2.50 USD" in page.text
    assert 'name="assetId"' not in page.text               # the coin was fixed by the kiosk

    assert pay(web, request).status_code == 200
    confirming = gateway.status(order, request)
    assert (confirming.state, confirming.raw_status) == (PaymentState.CONFIRMING, "confirming")

    clock.now += 2
    paid = gateway.status(order, request)
    payable = sandbox.payment(order.tx_id).payable_amount
    assert payable == Decimal("0.00004167")
    assert (paid.state, paid.paid_amount, paid.paid_symbol) == (PaymentState.PAID, payable, "BTC")


def test_underpay_then_top_up(web: httpx.Client, gateway: MixPayGateway,
                              clock: FakeTime) -> None:
    order = make_order(clock, asset=USDT_TRC20)
    request = gateway.create(order)
    pay(web, request, amount="1")
    clock.now += 2
    underpaid = gateway.status(order, request)
    assert (underpaid.state, underpaid.remaining) == (PaymentState.UNDERPAID, Decimal("1.5"))
    assert underpaid.paid_amount == Decimal("1")

    topped = web.post(f"{request.link}/pay", json={"amount": "1.5"},
                      headers={"Accept": "application/json"})
    assert topped.json()["status"] == "confirming"
    assert gateway.status(order, request).state is PaymentState.CONFIRMING
    clock.now += 2
    paid = gateway.status(order, request)
    assert (paid.state, paid.paid_amount) == (PaymentState.PAID, Decimal("2.5"))


def test_the_payer_may_pick_the_coin_on_the_checkout(web: httpx.Client, gateway: MixPayGateway,
                                                     clock: FakeTime) -> None:
    order = make_order(clock)
    request = gateway.create(order)
    assert 'name="assetId"' in web.get(request.link).text
    pay(web, request, assetId=USDT_TRC20.asset_id)
    clock.now += 2
    paid = gateway.status(order, request)
    assert (paid.state, paid.paid_amount, paid.paid_symbol) == (
        PaymentState.PAID, Decimal("2.5"), "USDT")


def test_no_payment_before_the_deadline_expires(gateway: MixPayGateway, clock: FakeTime) -> None:
    order = make_order(clock, lead_s=60)
    request = gateway.create(order)
    clock.now += 59
    assert gateway.status(order, request).state is PaymentState.AWAITING
    clock.now += 1
    expired = gateway.status(order, request)
    assert (expired.state, expired.raw_status) == (PaymentState.EXPIRED, "failed")
    assert expired.reason == "40000 Payment overtime"


def test_part_payment_then_deadline_expires_with_40024(web: httpx.Client, gateway: MixPayGateway,
                                                       clock: FakeTime) -> None:
    order = make_order(clock, asset=BTC, lead_s=60)
    request = gateway.create(order)
    pay(web, request, part="half")
    clock.now += 30
    assert gateway.status(order, request).state is PaymentState.UNDERPAID
    clock.now += 30
    expired = gateway.status(order, request)
    assert expired.state is PaymentState.EXPIRED and expired.reason.startswith("40024")


def test_create_is_idempotent(gateway: MixPayGateway, sandbox: Sandbox, clock: FakeTime) -> None:
    order = make_order(clock)
    assert gateway.create(order) == gateway.create(order)
    assert api_calls(sandbox, "/one_time_payment") == 2
    assert sandbox.payment(order.tx_id).status == "unpaid"


def test_create_refuses_a_deadline_under_ten_seconds_away_without_calling(
        gateway: MixPayGateway, sandbox: Sandbox, clock: FakeTime) -> None:
    with pytest.raises(GatewayRejected, match="more than 10 s") as caught:
        gateway.create(make_order(clock, lead_s=10))
    assert caught.value.code == "local"
    assert sandbox.request_log == ()


def test_orders_in_another_currency_than_the_quote_asset_are_refused(
        gateway: MixPayGateway, sandbox: Sandbox, clock: FakeTime) -> None:
    order = make_order(clock)
    with pytest.raises(GatewayRejected, match="EUR"):
        gateway.create(Order(**{**order.__dict__, "currency": "EUR"}))
    with pytest.raises(GatewayRejected, match="EUR"):
        gateway.list_assets(Decimal("2.50"), "EUR")
    assert sandbox.request_log == ()


def test_a_gateway_refusal_carries_its_code(gateway: MixPayGateway, clock: FakeTime) -> None:
    with pytest.raises(GatewayRejected, match="1000 USDT") as caught:
        gateway.create(make_order(clock, amount="5000"))
    assert caught.value.code == "10006"


def test_status_of_an_unknown_trace_is_rejected(gateway: MixPayGateway, clock: FakeTime) -> None:
    order = make_order(clock)
    with pytest.raises(GatewayRejected) as caught:
        gateway.status(order, PaymentRequest(order.tx_id, "x", order.expires_at))
    assert caught.value.code == "40022"


@pytest.mark.sandbox(clock=True, requests_per_minute=2)
def test_the_sandbox_rate_limit_pauses_the_client(sandbox: Sandbox, clock: FakeTime) -> None:
    limiter = RateLimiter(600, clock=clock, sleep=clock.sleep)
    client = sandbox_gateway(sandbox, clock, limiter=limiter)
    order = make_order(clock)
    request = client.create(order)
    assert status_refused(client, order, request).retry_after_s == 60
    with pytest.raises(GatewayRateLimited, match="next slot in 60.0 s"):
        client.status(order, request)               # refused locally, not sent
    assert api_calls(sandbox, "/payments_result") == 2
    clock.now += 60
    assert client.status(order, request).state is PaymentState.AWAITING


# == against httpx.MockTransport ===================================================================

Handler = Callable[[httpx.Request], httpx.Response]


def mock_gateway(handler: Handler, clock: FakeTime, **options: Any) -> MixPayGateway:
    options.setdefault("limiter", RateLimiter(6000, clock=clock, sleep=clock.sleep))
    return MixPayGateway(payee_id=PAYEE, settlement_asset_id=USDT_ERC20,
                         transport=httpx.MockTransport(handler), clock=clock, **options)


def envelope(data: Any, *, success: bool = True, code: int = 0) -> dict[str, Any]:
    return {"code": code, "success": success, "message": "" if success else "nope", "data": data,
            "timestampMs": 1}


def reply_with(payload: Any, status: int = 200, **headers: str) -> Handler:
    return lambda request: httpx.Response(status, json=payload, headers=headers)


def result(order: Order, **fields: Any) -> dict[str, Any]:
    """A documented ``payments_result`` data object for ``order``, overridable per field."""
    data = {"status": "success", "quoteAmount": format(order.amount, "f"), "quoteSymbol": "USD",
            "quoteAssetId": "usd", "paymentAmount": "0.00004167", "paymentSymbol": "BTC",
            "paymentAssetId": BTC.asset_id, "payeeId": PAYEE, "surplusAmount": "0",
            "surplusStatus": "no", "payableAmount": "0.00004167", "failureCode": "0",
            "failureReason": "", "traceId": order.tx_id,
            "payment": {"isMultiPay": False, "isFullyPaid": True,
                        "totalTransactionsAmount": "0.00004167"}}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def watching(handler: Handler, clock: FakeTime, order: Order | None = None,
             **options: Any) -> tuple[MixPayGateway, Order, PaymentRequest]:
    """A client on ``handler``, an order (``order``, or a new one) and its payment to watch."""
    order = order or make_order(clock)
    return (mock_gateway(handler, clock, **options), order,
            PaymentRequest(order.tx_id, "link", order.expires_at))


def status_of(data: dict[str, Any], order: Order, clock: FakeTime) -> Any:
    client, _, request = watching(reply_with(envelope(data)), clock, order)
    return client.status(order, request)


def poll(handler: Handler, clock: FakeTime, **options: Any) -> Any:
    client, order, request = watching(handler, clock, **options)
    return client.status(order, request)


def test_create_sends_exactly_the_documented_fields(clock: FakeTime) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=envelope({"code": "abc-123", "info": {}}))

    client = mock_gateway(handler, clock)
    plain = make_order(clock, name="A very long item name that does not fit in fifty characters")
    request = client.create(plain)
    client.create(make_order(clock, asset=BTC, amount="2.5"))

    first, second = (json.loads(r.content) for r in sent)
    assert (sent[0].method, sent[0].url.path) == ("POST", "/v1/one_time_payment")
    assert sent[0].headers["content-type"] == "application/json"
    assert first == {"payeeId": PAYEE, "quoteAmount": "2.50", "quoteAssetId": "usd",
                     "settlementAssetId": USDT_ERC20, "traceId": plain.tx_id,
                     "expiredTimestamp": plain.expires_at,
                     "remark": plain.item_name[:50]}
    assert isinstance(first["expiredTimestamp"], int) and len(first["remark"]) == 50
    assert second["paymentAssetId"] == BTC.asset_id and second["quoteAmount"] == "2.5"
    assert request == PaymentRequest(plain.tx_id, "https://mixpay.me/code/abc-123",
                                     plain.expires_at)


def test_status_and_assets_use_the_documented_queries(clock: FakeTime) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=envelope(
            [] if request.url.path.endswith("payment_assets") else {"status": "unpaid"}))

    order = make_order(clock)
    client = mock_gateway(handler, clock)
    client.status(order, PaymentRequest("ignored", "link", order.expires_at))
    client.list_assets(Decimal("2.50"), "USD")
    assert sent[0].url == f"https://api.mixpay.me/v1/payments_result?traceId={order.tx_id}"
    assert sent[1].url.path == "/v1/setting/payment_assets"
    assert dict(sent[1].url.params) == {"payeeId": PAYEE, "quoteAssetId": "usd",
                                        "quoteAmount": "2.50"}


def test_link_escapes_the_code_and_polling_stays_on_the_trace_id(clock: FakeTime) -> None:
    client = mock_gateway(reply_with(envelope({"code": "a/b?c"})), clock,
                          checkout_base="https://pay.example/")
    order = make_order(clock)
    request = client.create(order)
    assert request.link == "https://pay.example/code/a%2Fb%3Fc"
    assert request.payment_id == order.tx_id


@pytest.mark.parametrize("data", [{}, {"code": ""}, {"code": 7}, ["code"]])
def test_create_without_a_code_is_a_protocol_error(data: Any, clock: FakeTime) -> None:
    with pytest.raises(GatewayProtocolError, match="data.code"):
        mock_gateway(reply_with(envelope(data)), clock).create(make_order(clock))


def test_list_assets_drops_unusable_and_malformed_items(clock: FakeTime) -> None:
    def item(symbol: str, low: Any, high: Any, **extra: Any) -> dict[str, Any]:
        return {"name": symbol.title(), "symbol": symbol, "assetId": f"id-{symbol}",
                "network": "Net", "minPaymentAmount": low, "maxPaymentAmount": high, **extra}

    items = [item("BTC", "0.00001", "0.5"), item("ETH", "0.001", "0"), item("LTC", "2", "1"),
             item("DOGE", "abc", "10"), item("XIN", 1, 3), {"symbol": "BAD"}, "junk",
             item("TRX", "1", "5", assetId=None)]
    assets = mock_gateway(reply_with(envelope(items)), clock).list_assets(Decimal("1"), "USD")
    assert [(a.symbol, a.asset_id) for a in assets] == [("BTC", "id-BTC"), ("XIN", "id-XIN")]


def test_list_assets_needs_a_list(clock: FakeTime) -> None:
    with pytest.raises(GatewayProtocolError, match="not a list"):
        mock_gateway(reply_with(envelope({"BTC": {}})), clock).list_assets(Decimal("1"), "USD")


@pytest.mark.parametrize(("handler", "words"), [
    (lambda r: httpx.Response(200, content=b"{not json"), "not JSON"),
    (lambda r: httpx.Response(200, content=b"<html>502 Bad Gateway</html>"), "not JSON"),
    (reply_with([envelope({})]), "not an object"),
    (reply_with({"code": 0, "success": True}), "no 'data'"),
    (reply_with({"code": 0, "data": {}}), "no boolean 'success'"),
    (reply_with({"code": 0, "success": "true", "data": {}}), "no boolean 'success'"),
    (reply_with(envelope([])), "data.status"),
    (reply_with(envelope({"status": 1})), "data.status"),
])
def test_malformed_replies_are_protocol_errors(handler: Handler, words: str,
                                               clock: FakeTime) -> None:
    with pytest.raises(GatewayProtocolError, match=words):
        poll(handler, clock)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_unavailable(status: int, clock: FakeTime) -> None:
    with pytest.raises(GatewayUnavailable, match=f"mixpay GET /payments_result: HTTP {status}"):
        poll(lambda r: httpx.Response(status, text="oops"), clock)


@pytest.mark.parametrize("raised", [httpx.ConnectTimeout, httpx.ReadTimeout])
def test_timeouts_are_gateway_timeouts(raised: type[httpx.TimeoutException],
                                       clock: FakeTime) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised("timed out", request=request)

    with pytest.raises(GatewayTimeout, match="mixpay GET /payments_result: .* timeout"):
        poll(handler, clock)


def test_a_connection_failure_is_unavailable(clock: FakeTime) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(GatewayUnavailable) as caught:
        poll(handler, clock)
    assert not isinstance(caught.value, GatewayTimeout)


def test_envelope_error_is_rejected_with_the_gateway_code(clock: FakeTime) -> None:
    with pytest.raises(GatewayRejected, match="code 10011") as caught:
        poll(reply_with(envelope([], success=False, code=10011), status=400), clock)
    assert caught.value.code == "10011"


def test_envelope_1429_pauses_the_limiter_for_the_default_ten_seconds(clock: FakeTime) -> None:
    calls: list[httpx.Request] = []
    replies = [envelope([], success=False, code=1429), envelope({"status": "unpaid"})]

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=replies[len(calls) - 1])

    client, order, request = watching(handler, clock)
    with pytest.raises(GatewayRateLimited) as caught:
        client.status(order, request)
    assert caught.value.retry_after_s == 10
    assert client.status(order, request).state is PaymentState.AWAITING
    assert clock.sleeps == [10] and len(calls) == 2


def test_http_429_honours_retry_after_and_holds_the_next_call(clock: FakeTime) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, json=envelope([], success=False, code=1429),
                                  headers={"Retry-After": "30"})
        return httpx.Response(200, json=envelope({"status": "unpaid"}))

    client, order, request = watching(handler, clock)
    with pytest.raises(GatewayRateLimited) as caught:
        client.status(order, request)
    assert caught.value.retry_after_s == 30
    with pytest.raises(GatewayRateLimited):        # 30 s is over the 15 s a caller may wait
        client.status(order, request)
    assert len(calls) == 1
    clock.now += 20
    assert client.status(order, request).state is PaymentState.AWAITING
    assert clock.sleeps == [10] and len(calls) == 2


@pytest.mark.parametrize(("fields", "field"), [
    ({"payeeId": "00000000-0000-4000-8000-000000000000"}, "payeeId mismatch"),
    ({"quoteAmount": "2.51"}, "quoteAmount mismatch"),
    ({"quoteAmount": "25.0"}, "quoteAmount mismatch"),
    ({"quoteAssetId": "eur"}, "quoteAssetId mismatch"),
    ({"traceId": str(uuid.uuid4())}, "traceId mismatch"),
    ({"payeeId": None}, "payeeId missing"),
    ({"quoteAmount": None}, "quoteAmount missing"),
    ({"quoteAssetId": None}, "quoteAssetId missing"),
    ({"traceId": None}, "traceId missing"),
    ({"payeeId": 12345}, "payeeId missing or not a string"),
    ({"quoteAmount": "two fifty"}, "quoteAmount missing or not a number"),
    ({"quoteAmount": True}, "quoteAmount missing or not a number"),
    ({"quoteAmount": "NaN"}, "quoteAmount missing or not a number"),
])
def test_a_spoofed_success_fails_verification_and_never_pays(
        fields: dict[str, Any], field: str, clock: FakeTime) -> None:
    order = make_order(clock)
    seen = status_of(result(order, **fields), order, clock)
    assert seen.state is PaymentState.UNVERIFIED
    assert seen.reason.startswith("verification failed: ") and field in seen.reason


@pytest.mark.parametrize("amount", ["2.50", "2.5", "2.500", " 2.50"])
def test_quote_amounts_compare_as_decimals(amount: str, clock: FakeTime) -> None:
    order = make_order(clock)
    assert status_of(result(order, quoteAmount=amount), order, clock).state is PaymentState.PAID


@pytest.mark.parametrize("number", ["2.50", "0.30", "0.1"])
def test_json_number_amounts_are_parsed_without_float(number: str, clock: FakeTime) -> None:
    # Through a float, 0.30 would become 0.299999999999999988897769753748... and fail to verify.
    order = make_order(clock, amount=number)
    body = json.dumps(envelope(result(order, quoteAmount="@", paymentAmount="@")))
    content = body.replace('"@"', number).encode()
    client = mock_gateway(lambda r: httpx.Response(200, content=content), clock)
    paid = client.status(order, PaymentRequest(order.tx_id, "link", order.expires_at))
    assert paid.state is PaymentState.PAID
    assert isinstance(paid.paid_amount, Decimal) and str(paid.paid_amount) == number


def test_case_differences_in_ids_still_verify(clock: FakeTime) -> None:
    order = make_order(clock)
    data = result(order, quoteAssetId="USD", payeeId=PAYEE.upper(), traceId=order.tx_id.upper())
    assert status_of(data, order, clock).state is PaymentState.PAID


@pytest.mark.parametrize(("fields", "state"), [
    ({"status": "unpaid"}, PaymentState.AWAITING),
    ({"status": "confirming"}, PaymentState.CONFIRMING),
    ({"status": "processing"}, PaymentState.CONFIRMING),
    ({"status": "pending"}, PaymentState.CONFIRMING),
    ({"status": "pending", "payment": {"isMultiPay": True, "isFullyPaid": True}},
     PaymentState.CONFIRMING),
    ({"status": "pending", "payment": {"isMultiPay": True, "isFullyPaid": False}},
     PaymentState.UNDERPAID),
    ({"status": "paid_less"}, PaymentState.UNDERPAID),
    ({"status": "auditing"}, PaymentState.UNDER_REVIEW),
    ({"status": "success"}, PaymentState.PAID),
    ({"status": "failed", "failureCode": "40000", "failureReason": "Payment overtime"},
     PaymentState.EXPIRED),
    ({"status": "failed", "failureCode": "40024"}, PaymentState.EXPIRED),
    ({"status": "failed", "failureCode": 40000}, PaymentState.EXPIRED),
    ({"status": "failed", "failureCode": "40032"}, PaymentState.CANCELLED),
    ({"status": "failed", "failureCode": "40020", "failureReason": "Wrong asset"},
     PaymentState.FAILED),
    ({"status": "failed", "failureCode": "10095"}, PaymentState.FAILED),
    ({"status": "weird"}, PaymentState.CONFIRMING),
    ({"status": "SUCCESS"}, PaymentState.CONFIRMING),
])
def test_each_status_maps_to_the_normalized_state(fields: dict[str, Any], state: PaymentState,
                                                  clock: FakeTime) -> None:
    order = make_order(clock)
    seen = status_of(result(order, **fields), order, clock)
    assert (seen.state, seen.raw_status) == (state, fields["status"])
    assert seen.paid_symbol == "BTC" and seen.paid_amount == Decimal("0.00004167")


def test_an_unknown_status_is_watched_but_never_terminal(clock: FakeTime) -> None:
    order = make_order(clock)
    seen = status_of(result(order, status="weird"), order, clock)
    assert not seen.state.terminal and seen.state is not PaymentState.PAID
    assert "weird" in seen.reason


def test_failure_reasons_carry_the_code(clock: FakeTime) -> None:
    order = make_order(clock)
    seen = status_of(result(order, status="failed", failureCode="40020",
                            failureReason="Wrong payment asset"), order, clock)
    assert seen.reason == "40020 Wrong payment asset"


@pytest.mark.parametrize(("payable", "paid", "remaining"), [
    ("0.00004167", "0.00002", "0.00002167"),
    ("2.5", "3", "0"),
])
def test_underpaid_remaining_is_exact_and_never_negative(payable: str, paid: str, remaining: str,
                                                         clock: FakeTime) -> None:
    order = make_order(clock)
    seen = status_of(result(order, status="paid_less", payableAmount=payable,
                            paymentAmount=paid), order, clock)
    assert seen.remaining == Decimal(remaining)


def test_underpaid_without_amounts_is_a_protocol_error(clock: FakeTime) -> None:
    order = make_order(clock)
    with pytest.raises(GatewayProtocolError, match="payableAmount"):
        status_of(result(order, status="paid_less", payableAmount=""), order, clock)


def test_mixpay_cannot_cancel_or_refund(clock: FakeTime) -> None:
    client = mock_gateway(reply_with(envelope({})), clock)
    order = make_order(clock)
    assert (client.name, client.can_cancel, client.can_refund) == ("mixpay", False, False)
    with pytest.raises(OperationNotSupported):
        client.cancel(order, PaymentRequest(order.tx_id, "link", order.expires_at))


def test_request_for_rebuilds_the_polling_handle_from_the_trace_id() -> None:
    gateway = MixPayGateway(payee_id="p", settlement_asset_id="s",
                            checkout_base="https://mixpay.me",
                            transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    order = Order("8e69e534-d0c4-3e04-8b61-37a73cd9e7d7", "A1", "Water", Decimal("2.50"), "USD",
                  None, 2_000_000_000)
    request = gateway.request_for(order)
    assert request.payment_id == order.tx_id
    assert request.link == "https://mixpay.me/code/8e69e534-d0c4-3e04-8b61-37a73cd9e7d7"
    assert request.expires_at == order.expires_at
