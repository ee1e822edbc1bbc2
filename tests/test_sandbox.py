"""The gateway sandbox's MixPay simulator, spoken to over real loopback HTTP; and what every
simulator reports as received, spoofs and outages, checked with the production clients."""

from __future__ import annotations

import re
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fakes import START, FakeTime

from kiosk.errors import GatewayUnavailable
from kiosk.payments.base import Order, PaymentState
from kiosk.payments.centrapay import CentrapayGateway
from kiosk.payments.mixpay import MixPayGateway
from kiosk.sim import Fault, ReceivedPayment, Sandbox
from kiosk.sim.mixpay import SPOOF_PAYEE_ID
from kiosk.payments.wctpay import WctPayGateway

PAYEE = "3f1e7c2a-8d4b-4c55-9e61-2b7a0c9d1e42"
USDT_ERC20 = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
USDT_TRC20 = "b91e18ff-a9ae-3dc7-8679-e935d9a4b34b"
BTC = "c6d0c728-2624-429b-8e0d-d9d19b6592fa"
NOW = int(START)
AMOUNT_FIELDS = ("quoteAmount", "paymentAmount", "surplusAmount", "payableAmount",
                 "settleAmount")


# ``clock`` (at NOW) and ``sandbox`` (on it, confirming in 2 s): tests/conftest.py
pytestmark = pytest.mark.sandbox(clock=True, confirm_s=2.0)


def loopback_client(base_url: str) -> httpx.Client:
    # Plain HTTP on loopback: no TLS, so skip loading the CA bundle (tens of ms per client).
    return httpx.Client(base_url=base_url, verify=False)


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """The MixPay API; absolute URLs (the checkout pages) work through it too."""
    with loopback_client(sandbox.mixpay_api_base) as client:
        yield client


def create_fields(**overrides: Any) -> dict[str, Any]:
    fields = {"payeeId": PAYEE, "quoteAmount": "2.50", "quoteAssetId": "usd",
              "settlementAssetId": USDT_ERC20, "traceId": str(uuid.uuid4()),
              "expiredTimestamp": NOW + 120, "remark": "Sparkling water"}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def create(api: httpx.Client, **overrides: Any) -> str:
    reply = api.post("/one_time_payment", json=create_fields(**overrides))
    assert reply.status_code == 200, reply.text
    code: str = reply.json()["data"]["code"]
    return code


def result(api: httpx.Client, code: str) -> dict[str, Any]:
    reply = api.get("/payments_result", params={"traceId": code})
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


def pay_json(api: httpx.Client, sandbox: Sandbox, code: str, **body: str) -> httpx.Response:
    """The JSON control endpoint scripts use instead of the checkout form."""
    return api.post(f"{sandbox.checkout_base}/code/{code}/pay", json=body,
                    headers={"Accept": "application/json"})


# -- POST /one_time_payment -----------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "words"), [
    ({"payeeId": None}, "payeeId is required"),
    ({"payeeId": "alice"}, "payeeId must be a UUID"),
    ({"payeeId": 42}, "payeeId must be a string"),
    ({"quoteAmount": None}, "quoteAmount must be numeric"),
    ({"quoteAmount": "abc"}, "quoteAmount must be numeric"),
    ({"quoteAmount": True}, "quoteAmount must be numeric"),
    ({"quoteAmount": "0"}, "quoteAmount must be greater than 0"),
    ({"quoteAmount": -1}, "quoteAmount must be greater than 0"),
    ({"quoteAmount": "Infinity"}, "quoteAmount must be greater than 0"),
    ({"quoteAssetId": None}, "quoteAssetId is required"),
    ({"settlementAssetId": "BTC"}, "settlementAssetId must be a UUID"),
    ({"traceId": None}, "traceId or orderId is required"),
    ({"traceId": "order-1"}, "traceId must be a UUID"),
    ({"traceId": None, "orderId": "abc"}, "orderId must be 6-36"),
    ({"traceId": None, "orderId": "bad order!"}, "orderId must be 6-36"),
    ({"traceId": None, "orderId": "x" * 37}, "orderId must be 6-36"),
    ({"expiredTimestamp": NOW + 10}, "more than 10 seconds"),
    ({"expiredTimestamp": NOW + 2880 * 60}, "less than 2880 minutes"),
    ({"expiredTimestamp": "soon"}, "integer unix timestamp"),
    ({"expiredTimestamp": 1.7e9}, "integer unix timestamp"),
    ({"paymentAssetId": str(uuid.uuid4())}, "paymentAssetId is not a supported"),
    ({"remark": "x" * 51}, "remark must be at most 50"),
])
def test_create_validates_parameters_with_the_documented_envelope(
        api: httpx.Client, overrides: dict[str, Any], words: str) -> None:
    reply = api.post("/one_time_payment", json=create_fields(**overrides))
    body = reply.json()
    assert reply.status_code == 400
    assert (body["code"], body["success"], body["data"]) == (10011, False, [])
    assert words in body["message"] and isinstance(body["timestampMs"], int)


@pytest.mark.parametrize(("overrides", "code"), [
    ({"quoteAssetId": "xyz"}, 10003),
    ({"quoteAmount": "1000.01"}, 10006),
    ({"quoteAssetId": "eur", "quoteAmount": "950"}, 10006),
])
def test_create_refuses_unsupported_quotes_with_their_codes(api: httpx.Client,
                                                            overrides: dict[str, Any],
                                                            code: int) -> None:
    body = api.post("/one_time_payment", json=create_fields(**overrides)).json()
    assert (body["code"], body["success"]) == (code, False)


def test_a_body_that_is_not_json_is_a_1017_parameter_error(api: httpx.Client) -> None:
    reply = api.post("/one_time_payment", content=b"{payeeId:",
                     headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["code"] == 1017


def test_create_accepts_form_encoding_and_order_ids(api: httpx.Client) -> None:
    fields = create_fields(traceId=None, orderId="kiosk_0001-A1",
                           expiredTimestamp=str(NOW + 120))
    reply = api.post("/one_time_payment", data=fields)
    code = reply.json()["data"]["code"]
    assert uuid.UUID(code)                                   # a fresh code when no traceId
    by_order = api.get("/payments_result", params={"orderId": "kiosk_0001-A1", "payeeId": PAYEE})
    assert by_order.json()["data"]["traceId"] == code
    assert by_order.json()["data"]["orderId"] == "kiosk_0001-A1"


def test_create_is_idempotent_for_the_same_trace_id(api: httpx.Client, sandbox: Sandbox) -> None:
    fields = create_fields()
    first = api.post("/one_time_payment", json=fields).json()
    again = api.post("/one_time_payment", json={**fields, "quoteAmount": 2.5}).json()
    assert first["data"]["code"] == again["data"]["code"] == fields["traceId"]
    changed = api.post("/one_time_payment", json={**fields, "quoteAmount": "3"}).json()
    assert (changed["code"], changed["success"]) == (10011, False)
    assert "already used" in changed["message"]
    assert sandbox.payment(fields["traceId"]).quote_amount == Decimal("2.50")


# -- GET /payments_result -------------------------------------------------------------------------

def test_payments_result_needs_a_trace_or_an_order_and_payee(api: httpx.Client) -> None:
    for params in ({}, {"orderId": "kiosk_0001"}, {"payeeId": PAYEE}):
        body = api.get("/payments_result", params=params).json()
        assert (body["code"], body["success"]) == (10011, False)


def test_payments_result_for_an_unknown_trace_is_40022(api: httpx.Client) -> None:
    reply = api.get("/payments_result", params={"traceId": str(uuid.uuid4())})
    assert reply.status_code == 404
    assert reply.json()["code"] == 40022 and reply.json()["success"] is False


def test_payments_result_has_the_documented_shape(api: httpx.Client, sandbox: Sandbox,
                                                  clock: FakeTime) -> None:
    code = create(api, paymentAssetId=BTC)
    pay_json(api, sandbox, code, amount="0.0001")
    clock.now += 2
    data = result(api, code)
    assert data["status"] == "success"
    for name in AMOUNT_FIELDS:
        assert isinstance(data[name], str), name
        Decimal(data[name])
    assert data["failureCode"] == "0" and isinstance(data["failureCode"], str)
    assert (data["payeeId"], data["traceId"], data["quoteAssetId"]) == (PAYEE, code, "usd")
    assert (data["paymentSymbol"], data["paymentAssetId"]) == ("BTC", BTC)
    assert data["payment"] == {"isMultiPay": False, "isFullyPaid": True,
                               "totalTransactionsAmount": "0.00010000"}
    assert data["transactions"][0]["paymentAmount"] == "0.00010000"
    # overpaid: still success, the surplus is refunded by MixPay
    assert Decimal(data["surplusAmount"]) == Decimal("0.0001") - Decimal("0.00004167")
    assert data["surplusStatus"] == "pending"


def test_statuses_follow_the_payment_lifecycle(api: httpx.Client, sandbox: Sandbox,
                                               clock: FakeTime) -> None:
    code = create(api, paymentAssetId=USDT_TRC20)
    assert result(api, code)["status"] == "unpaid"
    pay_json(api, sandbox, code, amount="1")
    data = result(api, code)
    assert (data["status"], data["confirmations"]) == ("confirming", 0)
    clock.now += 2
    data = result(api, code)
    assert (data["status"], data["payableAmount"], data["paymentAmount"]) == (
        "paid_less", "2.50000000", "1.00000000")
    assert data["surplusStatus"] == "no"
    pay_json(api, sandbox, code)                                 # tops up exactly what is due
    clock.now += 2
    data = result(api, code)
    assert (data["status"], data["paymentAmount"], data["surplusAmount"]) == (
        "success", "2.50000000", "0")
    assert data["payment"]["isMultiPay"] is True


def test_failed_statuses_after_the_deadline(api: httpx.Client, sandbox: Sandbox,
                                            clock: FakeTime) -> None:
    unpaid, partial = create(api), create(api, paymentAssetId=BTC)
    pay_json(api, sandbox, partial, amount="0.00001")
    clock.now += 120
    assert (result(api, unpaid)["status"], result(api, unpaid)["failureCode"]) == (
        "failed", "40000")
    assert result(api, unpaid)["failureReason"] == "Payment overtime"
    assert (result(api, partial)["status"], result(api, partial)["failureCode"]) == (
        "failed", "40024")


def test_a_payment_seen_before_the_deadline_keeps_confirming_after_it(
        api: httpx.Client, sandbox: Sandbox, clock: FakeTime) -> None:
    code = create(api, paymentAssetId=BTC)
    clock.now += 119
    pay_json(api, sandbox, code)
    clock.now += 1
    assert result(api, code)["status"] == "confirming"
    clock.now += 1
    assert result(api, code)["status"] == "success"


# -- GET /setting/payment_assets ------------------------------------------------------------------

def test_payment_assets_lists_the_documented_items(api: httpx.Client) -> None:
    items = api.get("/setting/payment_assets").json()["data"]
    by_id = {item["assetId"]: item for item in items}
    assert {(i["symbol"], i["network"]) for i in items} == {
        ("BTC", "Bitcoin"), ("ETH", "Ethereum"), ("USDT", "Ethereum"), ("USDT", "Tron"),
        ("LTC", "Litecoin"), ("DOGE", "Dogecoin")}
    assert by_id[USDT_ERC20]["symbol"] == by_id[USDT_TRC20]["symbol"] == "USDT"
    assert set(by_id[BTC]) == {"name", "symbol", "iconUrl", "assetId", "network",
                               "onChainSupported", "minPaymentAmount", "maxPaymentAmount",
                               "chainAsset"}
    assert set(by_id[BTC]["chainAsset"]) == {"id", "name", "symbol", "iconUrl"}
    assert all(Decimal(i["maxPaymentAmount"]) > Decimal(i["minPaymentAmount"]) for i in items)


def test_payment_assets_respect_the_quote_amount(api: httpx.Client) -> None:
    items = api.get("/setting/payment_assets",
                    params={"quoteAssetId": "usd", "quoteAmount": "2.50"}).json()["data"]
    unusable = {i["assetId"] for i in items if i["maxPaymentAmount"] == "0"}
    assert unusable == {USDT_ERC20}                 # minimum 5 USD on Ethereum
    cheap = api.get("/setting/payment_assets",
                    params={"quoteAssetId": "usd", "quoteAmount": "0.60"}).json()["data"]
    assert {i["symbol"] for i in cheap if i["maxPaymentAmount"] != "0"} == {"ETH", "LTC"}


def test_payment_assets_want_quote_asset_and_amount_together(api: httpx.Client) -> None:
    body = api.get("/setting/payment_assets", params={"quoteAmount": "2"}).json()
    assert (body["code"], body["success"]) == (10011, False)


# -- rate limit -----------------------------------------------------------------------------------

@pytest.mark.sandbox(clock=True, requests_per_minute=3)
def test_rate_limit_answers_1429_with_headers(api: httpx.Client, clock: FakeTime) -> None:
    remaining = []
    for _ in range(3):
        reply = api.get("/setting/payment_assets")
        assert reply.status_code == 200 and reply.headers["x-ratelimit-limit"] == "3"
        remaining.append(reply.headers["x-ratelimit-remaining"])
    assert remaining == ["2", "1", "0"]
    clock.now += 20
    limited = api.get("/payments_result", params={"traceId": str(uuid.uuid4())})
    assert limited.status_code == 429
    assert {k: limited.json()[k] for k in ("code", "success")} == {"code": 1429,
                                                                   "success": False}
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["retry-after"] == "40"
    clock.now += 40
    again = api.get("/setting/payment_assets")
    assert again.status_code == 200 and again.headers["x-ratelimit-remaining"] == "2"


def test_error_replies_carry_rate_limit_headers_too(api: httpx.Client) -> None:
    reply = api.get("/payments_result")
    assert reply.status_code == 400 and reply.headers["x-ratelimit-remaining"] == "59"


@pytest.mark.sandbox(clock=True, requests_per_minute=1)
def test_checkout_pages_do_not_count_against_the_api_limit(api: httpx.Client,
                                                           sandbox: Sandbox) -> None:
    code = create(api)
    for _ in range(3):
        assert api.get(f"{sandbox.checkout_base}/code/{code}").status_code == 200


# -- hosted checkout ------------------------------------------------------------------------------

def test_checkout_page_shows_item_amount_coins_and_pay_button(api: httpx.Client,
                                                              sandbox: Sandbox) -> None:
    code = create(api, remark="<script>Water</script>")
    page = api.get(f"{sandbox.checkout_base}/code/{code}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;Water&lt;/script&gt;" in page.text and "<script>" not in page.text
    assert "2.50 USD" in page.text
    assert '<select name="assetId">' in page.text and "0.00004167" in page.text   # BTC
    assert f'action="/mixpay/code/{code}/pay"' in page.text
    assert ">Pay</button>" in page.text and ">Pay part</button>" in page.text
    assert "http://" not in page.text and "https://" not in page.text   # self-contained


def test_pay_from_the_form_then_the_page_shows_the_result(api: httpx.Client, sandbox: Sandbox,
                                                          clock: FakeTime) -> None:
    code = create(api)
    paid = api.post(f"{sandbox.checkout_base}/code/{code}/pay",
                      data={"assetId": USDT_TRC20, "part": "half"})
    assert paid.status_code == 200
    assert "Sent 1.25000000 USDT." in paid.text and "confirming" in paid.text
    clock.now += 2
    page = api.get(f"{sandbox.checkout_base}/code/{code}").text
    assert "Part paid" in page and "1.25000000 USDT" in page and ">Pay</button>" in page
    snapshot = sandbox.payment(code)
    assert (snapshot.status, snapshot.paid_amount, snapshot.payment_asset_id) == (
        "paid_less", Decimal("1.25"), USDT_TRC20)


def test_pay_after_the_deadline_is_refused(api: httpx.Client, sandbox: Sandbox,
                                           clock: FakeTime) -> None:
    code = create(api, expiredTimestamp=NOW + 60)
    clock.now += 60
    page = api.post(f"{sandbox.checkout_base}/code/{code}/pay", data={})
    assert page.status_code == 410 and "expired" in page.text
    assert ">Pay</button>" not in page.text
    control = pay_json(api, sandbox, code)
    assert control.status_code == 410 and control.json()["status"] == "failed"
    snapshot = sandbox.payment(code)
    assert (snapshot.status, snapshot.failure_code, snapshot.transfers) == ("failed", "40000", ())


@pytest.mark.parametrize(("first", "second", "status", "words"), [
    ({}, {}, 409, "Paid in full"),
    ({"assetId": BTC}, {"assetId": USDT_TRC20}, 409, "in BTC"),
    ({"amount": "0.00001"}, {"amount": "-1"}, 400, "greater than 0"),
    ({"amount": "0.00001"}, {"amount": "lots"}, 400, "numeric"),
])
def test_the_control_endpoint_refuses_bad_payments(api: httpx.Client, sandbox: Sandbox,
                                                   first: dict[str, str], second: dict[str, str],
                                                   status: int, words: str) -> None:
    code = create(api)
    assert pay_json(api, sandbox, code, **first).status_code == 200
    refused = pay_json(api, sandbox, code, **second)
    assert refused.status_code == status and words in refused.json()["message"]
    assert len(sandbox.payment(code).transfers) == 1


def test_a_completed_payment_cannot_be_paid_again(api: httpx.Client, sandbox: Sandbox,
                                                  clock: FakeTime) -> None:
    code = create(api)
    pay_json(api, sandbox, code)
    clock.now += 2
    again = pay_json(api, sandbox, code)
    assert again.status_code == 409 and again.json()["status"] == "success"


def test_unknown_codes_and_paths_are_404(api: httpx.Client, sandbox: Sandbox) -> None:
    assert api.get(f"{sandbox.checkout_base}/code/nope").status_code == 404
    assert pay_json(api, sandbox, "nope").status_code == 404
    assert api.get("/no_such_call").json()["code"] == 404
    assert api.get(f"{sandbox.url}/wctpay/v1/x").status_code == 404
    with pytest.raises(KeyError):
        sandbox.payment("nope")


def test_public_base_changes_only_the_checkout_links(clock: FakeTime) -> None:
    with Sandbox(clock=clock, public_base="http://192.168.1.20:8099/") as lan:
        assert lan.checkout_base == "http://192.168.1.20:8099/mixpay"
        assert lan.mixpay_api_base.startswith("http://127.0.0.1:")
        assert lan.mixpay_api_base.endswith("/mixpay/v1")


def test_the_sandbox_logs_each_request_and_stops_cleanly(clock: FakeTime) -> None:
    sandbox = Sandbox(clock=clock).start()
    with loopback_client(sandbox.url) as client:
        client.get("/mixpay/v1/setting/payment_assets?quoteAssetId=usd&quoteAmount=1")
        assert sandbox.request_log == ("GET /mixpay/v1/setting/payment_assets",)
        sandbox.stop()
        with pytest.raises(httpx.ConnectError):
            client.get("/mixpay/v1/setting/payment_assets")
    with pytest.raises(RuntimeError):
        _ = sandbox.url


def test_serve_forever_cli_prints_a_config_serves_and_stops_on_ctrl_c() -> None:
    script = ("from kiosk.sim import serve_forever_cli; "
              "serve_forever_cli('127.0.0.1', 0)")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        printed = ""
        while "checkout_base =" not in printed and proc.poll() is None:
            printed += proc.stdout.readline()
        api_base = re.search(r'api_base = "(http://127\.0\.0\.1:\d+/mixpay/v1)"', printed)
        assert api_base and "[payment.mixpay]" in printed
        with loopback_client(api_base[1]) as client:
            assert client.get("/setting/payment_assets").json()["success"] is True
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_scripted_faults_hit_the_next_matching_requests_then_stop() -> None:
    with Sandbox() as sandbox:
        sandbox.inject("mixpay", Fault("http_503", path="/payments_result"), count=2)
        sandbox.inject("mixpay", Fault("malformed_json", path="/payments_result"))
        url = f"{sandbox.mixpay_api_base}/payments_result?traceId=x"
        assets = f"{sandbox.mixpay_api_base}/setting/payment_assets"
        assert httpx.get(assets).status_code == 200          # another path: untouched
        assert [httpx.get(url).status_code for _ in range(2)] == [503, 503]
        broken = httpx.get(url)
        assert broken.status_code == 200
        with pytest.raises(ValueError):
            broken.json()
        assert httpx.get(url).status_code == 404              # back to the simulator
        sandbox.inject("mixpay", Fault("rate_limit", retry_after_s=7))
        limited = httpx.get(assets)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "7"


def test_a_timeout_fault_outlasts_the_client() -> None:
    with Sandbox() as sandbox:
        sandbox.inject("mixpay", Fault("timeout", hang_s=1.0))
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{sandbox.mixpay_api_base}/setting/payment_assets", timeout=0.2)


def test_unknown_faults_and_mounts_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("explode")
    with Sandbox() as sandbox, pytest.raises(KeyError):
        sandbox.inject("nowhere", Fault("http_500"))


# -- what arrived, spoofed successes and outages, for every simulator -----------------------------

def order_for(currency: str = "USD") -> Order:
    return Order(tx_id=str(uuid.uuid4()), slot_id="A1", item_name="Sparkling water",
                 amount=Decimal("2.50"), currency=currency, asset=None, expires_at=NOW + 120)


def mixpay_client(sandbox: Sandbox, clock: FakeTime) -> MixPayGateway:
    return MixPayGateway(payee_id=PAYEE, settlement_asset_id=USDT_ERC20,
                         api_base=sandbox.mixpay_api_base, checkout_base=sandbox.checkout_base,
                         clock=clock)


def test_mixpay_reports_each_payment_money_arrived_for_by_trace_or_order_id(
        api: httpx.Client, sandbox: Sandbox) -> None:
    unpaid, part, whole = (str(uuid.uuid4()) for _ in range(3))
    for trace_id in (unpaid, part, whole):
        create(api, traceId=trace_id)
    by_order = create(api, traceId=None, orderId="order-0042")
    pay_json(api, sandbox, part, assetId=USDT_TRC20, part="half")
    pay_json(api, sandbox, whole, assetId=USDT_TRC20)
    pay_json(api, sandbox, by_order, assetId=USDT_TRC20, amount="3")
    assert sandbox.received("mixpay") == [
        ReceivedPayment(part, Decimal("1.25"), "USDT"),
        ReceivedPayment(whole, Decimal("2.5"), "USDT"),
        ReceivedPayment("order-0042", Decimal(3), "USDT")]


def test_a_spoofed_mixpay_success_names_another_payee_and_is_never_paid(
        api: httpx.Client, sandbox: Sandbox, clock: FakeTime) -> None:
    gateway = mixpay_client(sandbox, clock)
    order = order_for()
    request = gateway.create(order)
    api.post(f"{request.link}/pay", data={"spoof": "1"}).raise_for_status()
    assert result(api, order.tx_id)["payeeId"] == PAYEE         # still confirming
    clock.now += 2
    data = result(api, order.tx_id)
    assert (data["status"], data["payeeId"]) == ("success", SPOOF_PAYEE_ID)
    status = gateway.status(order, request)
    assert status.state is PaymentState.UNVERIFIED and "payeeId" in status.reason
    assert [p.tx_id for p in sandbox.received("mixpay")] == [order.tx_id]


def test_centrapay_reports_paid_requests_by_external_ref_and_spoofs_another_config(
        api: httpx.Client, sandbox: Sandbox, clock: FakeTime) -> None:
    gateway = CentrapayGateway(api_base=sandbox.base("centrapay"), config_id="sandbox-config",
                               api_key="sandbox-key", machine_id="kiosk-1", clock=clock)
    paid, spoofed, unpaid = order_for("NZD"), order_for("NZD"), order_for("NZD")
    requests = {order.tx_id: gateway.create(order) for order in (paid, spoofed, unpaid)}
    api.post(f"{requests[paid.tx_id].link}/pay", data={}).raise_for_status()
    api.post(f"{requests[spoofed.tx_id].link}/pay", data={"spoof": "1"}).raise_for_status()
    clock.now += 2
    assert gateway.status(paid, requests[paid.tx_id]).state is PaymentState.PAID
    status = gateway.status(spoofed, requests[spoofed.tx_id])
    assert status.state is PaymentState.UNVERIFIED and "configId" in status.reason
    assert sandbox.received("centrapay") == [
        ReceivedPayment(paid.tx_id, Decimal("2.50"), "NZD"),
        ReceivedPayment(spoofed.tx_id, Decimal("2.50"), "NZD")]


def test_a_spoofed_wctpay_success_is_completed_for_half_the_price_and_never_paid(
        api: httpx.Client, sandbox: Sandbox, clock: FakeTime) -> None:
    gateway = WctPayGateway(api_base=sandbox.base("wctpay"), key="sandbox-key",
                            api_secret="sandbox-secret", assets=["USDT-TRC20"], clock=clock)
    spoofed, part, unpaid = order_for(), order_for(), order_for()
    requests = {order.tx_id: gateway.create(order) for order in (spoofed, part, unpaid)}
    wallet = f"{sandbox.base('wctpay')}/wallet/pay"
    api.post(wallet, data={"reference": spoofed.tx_id, "part": "half", "spoof": "1"})
    api.post(wallet, data={"reference": part.tx_id, "part": "half"})
    clock.now += 2
    status = gateway.status(spoofed, requests[spoofed.tx_id])
    assert status.state is PaymentState.UNVERIFIED
    assert status.raw_status == "3" and "payment_missing_amount" in status.reason
    assert gateway.status(part, requests[part.tx_id]).state is PaymentState.UNDERPAID
    assert sandbox.received("wctpay") == [ReceivedPayment(spoofed.tx_id, Decimal("1.25"), "USDT"),
                                          ReceivedPayment(part.tx_id, Decimal("1.25"), "USDT")]


def test_a_fault_window_fails_every_matching_request_until_it_is_over(
        api: httpx.Client, sandbox: Sandbox, clock: FakeTime) -> None:
    sandbox.inject_for("mixpay", Fault("http_503", path="/payments_result"), seconds=10)
    assert [api.get("/payments_result", params={"traceId": "x"}).status_code
            for _ in range(3)] == [503, 503, 503]
    assert api.get("/setting/payment_assets").status_code == 200   # another path: untouched
    clock.now += 10
    assert api.get("/payments_result", params={"traceId": "x"}).status_code == 404


def test_a_gateway_that_answers_nothing_is_unavailable_until_the_outage_ends(
        api: httpx.Client, sandbox: Sandbox, clock: FakeTime) -> None:
    sandbox.inject_for("mixpay", Fault("no_answer"), seconds=5)
    gateway = mixpay_client(sandbox, clock)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/setting/payment_assets")
    with pytest.raises(GatewayUnavailable):
        gateway.create(order_for())
    clock.now += 5
    assert gateway.create(order_for()).link.startswith(sandbox.checkout_base)


def test_received_and_outages_need_a_mounted_simulator(sandbox: Sandbox) -> None:
    with pytest.raises(KeyError):
        sandbox.received("nowhere")
    with pytest.raises(KeyError):
        sandbox.inject_for("nowhere", Fault("no_answer"), seconds=1)


def test_a_client_that_hangs_up_before_its_reply_leaves_no_traceback(
        sandbox: Sandbox, capfd: pytest.CaptureFixture[str]) -> None:
    """A kiosk that timed out (or was killed) mid-request: the sandbox answers into a reset
    connection, which is normal for it, and says nothing on stderr."""
    sandbox.inject("mixpay", Fault("timeout", hang_s=0.3))
    address = urlsplit(sandbox.mixpay_api_base)
    with socket.create_connection((address.hostname, address.port), timeout=5) as peer:
        peer.sendall(f"GET {address.path}/payments_result?traceId=x HTTP/1.1\r\n"
                     f"Host: {address.netloc}\r\n\r\n".encode())
        # Close with a reset (linger 0), as a process killed mid-request does.
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.6)                                  # the reply is written, and fails
    assert "Traceback" not in capfd.readouterr().err
    with loopback_client(sandbox.mixpay_api_base) as api:      # and it still serves
        assert create(api)
