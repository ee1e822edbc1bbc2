"""WctPayGateway against the WCT Pay simulator over loopback HTTP; the wire via MockTransport."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import START, FakeTime, status_refused
from kiosk.errors import (
    GatewayError,
    GatewayProtocolError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
    OperationNotSupported,
)
from kiosk.payments.base import Asset, Order, PaymentRequest, PaymentState, PaymentStatus
from kiosk.payments.payment_uri import coin_of, plain_decimal
from kiosk.payments.ratelimit import RateLimiter
from kiosk.sim import Fault, Sandbox
from kiosk.sim.server import SandboxServer
from kiosk.sim.wctpay import WctPaySimulator
from kiosk.payments.wctpay import WctPayGateway

KEY, SECRET = "K3y-7f1c9a2d", "S3cr3t-e0b4d2aa"
COINS = ["BTC", "LTC", "USDT-TRC20", "ETH", "XRP", "USDT-ERC20", "BTC-LN"]
BTC_ADDRESS = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"
ETH_ADDRESS = "0x62ba1ef84aac42c6b34d8c03b83f5951ccce29b9"
XRP_ADDRESS = "rEb8TK3gBgk5auZkwc6sHnwrGVJH8DuaLh"
INVOICE = "lnbc393040n1ps670qqpp5fxsgm7qy0cvpxqk6az3tnv9h0rn3xp9y8cuzqqyqs5yqjykp4y3qdq"
CODE = "1cJauhjK3n"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def asset(entry: str) -> Asset:
    """The coin as the kiosk passes it back: only ``asset_id`` matters to the client."""
    return Asset(coin_of(entry), entry, "", entry)


def make_order(clock: FakeTime, *, coin: str | None = None, amount: str = "2.50",
               currency: str = "USD", lead_s: int = 180) -> Order:
    return Order(tx_id=str(uuid.uuid4()), slot_id="A1", item_name="Sparkling water",
                 amount=Decimal(amount), currency=currency,
                 asset=asset(coin) if coin else None, expires_at=int(clock()) + lead_s)


def assert_secret_free(*texts: str) -> None:
    for text in texts:
        assert KEY.casefold() not in text.casefold() and SECRET.casefold() not in text.casefold()


# == against the simulator, over real loopback HTTP ================================================

SHAPES = {"flat-number": {"nested": False, "numeric_status": True},
          "nested-string": {"nested": True, "numeric_status": False}}


@pytest.fixture(params=list(SHAPES))
def sim(request: pytest.FixtureRequest, clock: FakeTime) -> WctPaySimulator:
    return WctPaySimulator(clock=clock, key=KEY, api_secret=SECRET, **SHAPES[request.param])


@pytest.fixture
def base(sim: WctPaySimulator) -> Iterator[str]:
    server = SandboxServer("127.0.0.1", 0, {"wctpay": sim})
    server.start()
    yield f"{server.url}/wctpay"
    server.stop()


def loopback_gateway(api_base: str, clock: FakeTime, **options: Any) -> WctPayGateway:
    options = {"key": KEY, "api_secret": SECRET, "assets": COINS, **options}
    # A generous client budget: these tests are about behaviour, not the local limiter.
    options.setdefault("limiter", RateLimiter(6000, clock=clock, sleep=clock.sleep))
    return WctPayGateway(api_base=api_base, clock=clock, **options)


@pytest.fixture
def gateway(base: str, clock: FakeTime) -> Iterator[WctPayGateway]:
    client = loopback_gateway(base, clock)
    yield client
    client.close()


def wallet(web: httpx.Client, base: str, action: str = "pay", **fields: str) -> httpx.Response:
    """The sandbox wallet pays (or cancels), as a script does: JSON in, JSON out."""
    return web.post(f"{base}/wallet/{action}", json=fields, headers={"Accept": "application/json"})


def test_pay_in_full_with_a_bip21_qr(gateway: WctPayGateway, sim: WctPaySimulator, base: str,
                                     web: httpx.Client, clock: FakeTime) -> None:
    order = make_order(clock, coin="LTC")
    request = gateway.create(order)
    snap = sim.snapshot(order.tx_id)
    assert request == PaymentRequest(
        payment_id=order.tx_id, link=f"litecoin:{snap.address}?amount=0.03125",
        expires_at=order.expires_at, crypto_amount=Decimal("0.03125"), crypto_symbol="LTC",
        reference=snap.payment_code, memo=None)
    assert gateway.status(order, request).state is PaymentState.AWAITING

    paid = wallet(web, base, qr=request.link)          # the phone scans the QR
    assert paid.status_code == 200 and paid.json()["paid"] == "0.03125000"
    assert gateway.status(order, request).state is PaymentState.CONFIRMING
    clock.now += 2
    seen = gateway.status(order, request)
    assert (seen.state, seen.paid_amount, seen.paid_symbol) == (
        PaymentState.PAID, Decimal("0.03125"), "LTC")
    assert seen.request is None and "3" in seen.raw_status


def test_bitcoin_by_lightning_is_paid_through_its_invoice(gateway: WctPayGateway,
                                                          sim: WctPaySimulator, base: str,
                                                          web: httpx.Client,
                                                          clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC-LN")
    request = gateway.create(order)
    payreq = sim.snapshot(order.tx_id).payreq
    assert payreq and payreq.startswith("lnbc41670n1p")
    assert request.link == f"lightning:{payreq.upper()}"
    assert wallet(web, base, qr=request.link).status_code == 200
    clock.now += 2
    assert gateway.status(order, request).state is PaymentState.PAID


def test_bitcoin_on_chain_is_paid_at_its_address_though_wct_offers_an_invoice(
        gateway: WctPayGateway, sim: WctPaySimulator, base: str, web: httpx.Client,
        clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    request = gateway.create(order)
    snap = sim.snapshot(order.tx_id)
    assert snap.payreq                                   # WCT answered with an invoice too
    assert request.link == f"bitcoin:{snap.address}?amount={plain_decimal(snap.payment_amount)}"
    assert wallet(web, base, qr=request.link).status_code == 200
    clock.now += 2
    assert gateway.status(order, request).state is PaymentState.PAID


def test_underpaid_then_topped_up_with_the_same_qr(gateway: WctPayGateway, base: str,
                                                   web: httpx.Client, clock: FakeTime) -> None:
    order = make_order(clock, coin="USDT-TRC20")
    request = gateway.create(order)
    wallet(web, base, qr=request.link, amount="1")
    clock.now += 2
    underpaid = gateway.status(order, request)
    assert (underpaid.state, underpaid.remaining, underpaid.paid_amount) == (
        PaymentState.UNDERPAID, Decimal("1.5"), Decimal("1"))
    assert underpaid.request is None                    # same QR: nothing to redraw

    assert wallet(web, base, qr=request.link).json()["paid"] == "2.500000"
    assert gateway.status(order, request).state is PaymentState.CONFIRMING
    clock.now += 2
    assert gateway.status(order, request).state is PaymentState.PAID


def test_an_overpayment_is_paid(gateway: WctPayGateway, sim: WctPaySimulator, base: str,
                                web: httpx.Client, clock: FakeTime) -> None:
    order = make_order(clock, coin="ETH")
    request = gateway.create(order)
    wallet(web, base, reference=order.tx_id, part="more")
    clock.now += 2
    seen = gateway.status(order, request)
    paid = sim.snapshot(order.tx_id).paid
    assert request.crypto_amount is not None and paid > request.crypto_amount
    assert (seen.state, seen.paid_amount) == (PaymentState.PAID, paid)


@pytest.mark.parametrize("coin", ["BTC-LN", "ETH"])
def test_an_expired_quote_brings_a_new_qr_for_the_same_order(coin: str, gateway: WctPayGateway,
                                                             sim: WctPaySimulator, base: str,
                                                             web: httpx.Client,
                                                             clock: FakeTime) -> None:
    order = make_order(clock, coin=coin)
    first = gateway.create(order)
    clock.now += 900                                     # the sandbox's quote_ttl_s
    seen = gateway.status(order, first)
    snap = sim.snapshot(order.tx_id)
    assert seen.state is PaymentState.AWAITING and seen.request is not None
    fresh = seen.request
    assert snap.quote == 1 and fresh.crypto_amount == snap.payment_amount
    assert fresh.crypto_amount != first.crypto_amount
    assert (fresh.payment_id, fresh.expires_at, fresh.reference, fresh.crypto_symbol) == (
        order.tx_id, order.expires_at, first.reference, first.crypto_symbol)
    if coin == "BTC-LN":                                 # a new invoice for the new amount
        assert fresh.link == f"lightning:{(snap.payreq or '').upper()}" != first.link
        assert wallet(web, base, qr=first.link).status_code == 410
    else:                                                # the same address, a new amount
        assert fresh.link == first.link == snap.address
    assert gateway.status(order, fresh).request is None  # redrawn once, not on every poll

    assert wallet(web, base, qr=fresh.link).status_code == 200
    clock.now += 2
    assert gateway.status(order, fresh).state is PaymentState.PAID


def test_a_payment_cancelled_by_the_payer_is_cancelled(gateway: WctPayGateway, base: str,
                                                       web: httpx.Client,
                                                       clock: FakeTime) -> None:
    order = make_order(clock, coin="ETH")
    request = gateway.create(order)
    assert wallet(web, base, "cancel", reference=order.tx_id).json()["status"] == "cancelled"
    seen = gateway.status(order, request)
    assert seen.state is PaymentState.CANCELLED and "4" in seen.raw_status
    assert wallet(web, base, qr=request.link).status_code == 410       # nothing more is taken


def test_an_unpaid_payment_is_cancelled_after_the_order_ttl(gateway: WctPayGateway,
                                                            clock: FakeTime) -> None:
    order = make_order(clock, coin="LTC")
    request = gateway.create(order)
    clock.now += 1799
    assert gateway.status(order, request).state is PaymentState.AWAITING
    clock.now += 1
    assert gateway.status(order, request).state is PaymentState.CANCELLED


def test_a_payment_after_the_kiosk_gave_up_is_still_reported_paid(
        gateway: WctPayGateway, base: str, web: httpx.Client, clock: FakeTime) -> None:
    order = make_order(clock, coin="USDT-ERC20", lead_s=60)
    request = gateway.create(order)
    with pytest.raises(OperationNotSupported):          # WCT has no cancel: nothing to send
        gateway.cancel(order, request)
    clock.now += 120                                     # the kiosk's window has closed
    wallet(web, base, qr=request.link)
    clock.now += 2
    assert gateway.status(order, request).state is PaymentState.PAID   # the runtime: paid_late


def test_xrp_shows_its_destination_tag(gateway: WctPayGateway, sim: WctPaySimulator, base: str,
                                       web: httpx.Client, clock: FakeTime) -> None:
    order = make_order(clock, coin="XRP")
    request = gateway.create(order)
    snap = sim.snapshot(order.tx_id)
    assert snap.memo and request.memo == snap.memo
    assert request.link == f"{snap.address}?dt={snap.memo}"
    assert wallet(web, base, qr=snap.address).status_code == 404   # no tag: not this payment
    wallet(web, base, qr=request.link)
    clock.now += 2
    assert gateway.status(order, request).state is PaymentState.PAID


def test_a_person_pays_part_then_more_with_the_wallet_page_buttons(
        gateway: WctPayGateway, sim: WctPaySimulator, base: str, web: httpx.Client,
        clock: FakeTime) -> None:
    order = make_order(clock, coin="LTC")
    request = gateway.create(order)
    page = web.get(f"{base}/wallet")
    assert f'name="reference" value="{order.tx_id}"' in page.text
    # The buttons post forms and get the page back, as a browser does.
    part = web.post(f"{base}/wallet/pay", data={"reference": order.tx_id, "amount": "",
                                                "part": "half"})
    assert part.status_code == 200 and "Sent 0.01562500 LTC." in part.text
    clock.now += 2
    assert gateway.status(order, request).state is PaymentState.UNDERPAID
    more = web.post(f"{base}/wallet/pay", data={"reference": order.tx_id, "part": "more"})
    assert more.status_code == 200 and "Sent " in more.text
    clock.now += 2
    assert gateway.status(order, request).state is PaymentState.PAID
    assert sim.snapshot(order.tx_id).paid > Decimal("0.03125")
    assert order.tx_id not in web.get(f"{base}/wallet").text     # no longer open
    again = web.post(f"{base}/wallet/pay", data={"reference": order.tx_id})
    assert again.status_code == 409 and "already complete" in again.text


def test_create_is_idempotent_for_a_reference(gateway: WctPayGateway, sim: WctPaySimulator,
                                              clock: FakeTime) -> None:
    order = make_order(clock, coin="ETH")
    assert gateway.create(order) == gateway.create(order)
    assert sim.codes() == (order.tx_id,)


def test_form_encoded_requests_work_end_to_end(base: str, web: httpx.Client,
                                               clock: FakeTime) -> None:
    client = loopback_gateway(base, clock, form_encoded=True)
    order = make_order(clock, coin="USDT-TRC20")
    request = client.create(order)
    wallet(web, base, qr=request.link)
    clock.now += 2
    assert client.status(order, request).state is PaymentState.PAID


@pytest.mark.parametrize(("credentials", "error"), [
    ({"api_secret": "not-the-secret"}, "Invalid hash"),
    ({"key": "not-the-key"}, "Invalid API key"),
])
def test_wrong_credentials_are_refused_without_echoing_them(credentials: dict[str, str],
                                                            error: str, base: str,
                                                            clock: FakeTime) -> None:
    client = loopback_gateway(base, clock, **credentials)
    with pytest.raises(GatewayRejected, match=error) as caught:
        client.create(make_order(clock, coin="BTC"))
    assert caught.value.code == "nok"
    assert_secret_free(str(caught.value), repr(caught.value))


def test_status_of_an_unknown_reference_is_refused(gateway: WctPayGateway,
                                                   clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    with pytest.raises(GatewayRejected, match="Payment not found"):
        gateway.status(order, gateway.request_for(order))


def test_secrets_never_reach_the_logs(gateway: WctPayGateway, base: str, web: httpx.Client,
                                      clock: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    order = make_order(clock, coin="BTC")
    request = gateway.create(order)
    wallet(web, base, qr=request.link)
    clock.now += 2
    assert gateway.status(order, request).state is PaymentState.PAID
    assert "payment-pos/getupdate" in caplog.text        # the logs were captured
    assert_secret_free(caplog.text, repr(gateway), repr(vars(gateway)))


# == through the Sandbox (registry and scripted faults) ============================================

# ``clock``, ``web`` (the payer's phone wallet) and ``sandbox`` (on the fake clock):
# tests/conftest.py
pytestmark = pytest.mark.sandbox(clock=True)


def sandbox_gateway(sandbox: Sandbox, clock: FakeTime, **options: Any) -> WctPayGateway:
    return loopback_gateway(sandbox.base("wctpay"), clock, key="sandbox-key",
                            api_secret="sandbox-secret", **options)


def started(sandbox: Sandbox, clock: FakeTime,
            **options: Any) -> tuple[WctPayGateway, Order, PaymentRequest]:
    client = sandbox_gateway(sandbox, clock, **options)
    order = make_order(clock, coin="ETH")
    return client, order, client.create(order)


def test_the_sandbox_mounts_the_simulator(sandbox: Sandbox, clock: FakeTime) -> None:
    assert isinstance(sandbox.simulators["wctpay"], WctPaySimulator)
    client, order, request = started(sandbox, clock)
    assert client.status(order, request).state is PaymentState.AWAITING
    assert sandbox.request_log == ("POST /wctpay/payment-pos/post",
                                   "POST /wctpay/payment-pos/getupdate")
    page = httpx.get(f"{sandbox.base('wctpay')}/wallet")
    assert page.status_code == 200 and order.tx_id in page.text
    assert all(f">{label}</button>" in page.text for label in ("Pay", "Pay part", "Pay more"))


def test_a_5xx_burst_is_unavailable_then_recovers(sandbox: Sandbox, clock: FakeTime) -> None:
    client, order, request = started(sandbox, clock)
    sandbox.inject("wctpay", Fault("http_503", path="getupdate"), count=3)
    for _ in range(3):
        with pytest.raises(GatewayUnavailable,
                           match="wctpay POST /payment-pos/getupdate: HTTP 503"):
            client.status(order, request)
    assert client.status(order, request).state is PaymentState.AWAITING


def test_a_hung_gateway_is_a_timeout(sandbox: Sandbox, clock: FakeTime) -> None:
    client, order, request = started(sandbox, clock, timeout=httpx.Timeout(0.2))
    sandbox.inject("wctpay", Fault("timeout", hang_s=1.0))
    with pytest.raises(GatewayTimeout, match="wctpay POST /payment-pos/getupdate: read timeout"):
        client.status(order, request)
    assert client.status(order, request).state is PaymentState.AWAITING


def test_malformed_json_is_a_protocol_error(sandbox: Sandbox, clock: FakeTime) -> None:
    client, order, request = started(sandbox, clock)
    sandbox.inject("wctpay", Fault("malformed_json"))
    with pytest.raises(GatewayProtocolError, match="not JSON"):
        client.status(order, request)


def test_http_429_honours_retry_after(sandbox: Sandbox, clock: FakeTime) -> None:
    client, order, request = started(sandbox, clock)
    sandbox.inject("wctpay", Fault("rate_limit", retry_after_s=7))
    with pytest.raises(GatewayRateLimited) as caught:
        client.status(order, request)
    assert caught.value.retry_after_s == 7
    assert client.status(order, request).state is PaymentState.AWAITING
    assert clock.sleeps == [7]                          # the limiter held the next call


@pytest.mark.sandbox(clock=True, requests_per_minute=2)
def test_the_simulated_rate_limit_pauses_the_client(sandbox: Sandbox, clock: FakeTime) -> None:
    assert status_refused(*started(sandbox, clock)).retry_after_s == 60


# == against httpx.MockTransport ===================================================================

Handler = Callable[[httpx.Request], httpx.Response]


def mock_gateway(handler: Handler, clock: FakeTime, **options: Any) -> WctPayGateway:
    options.setdefault("limiter", RateLimiter(6000, clock=clock, sleep=clock.sleep))
    options.setdefault("assets", COINS)
    return WctPayGateway(api_base="https://wct.test/api", key=KEY, api_secret=SECRET,
                         transport=httpx.MockTransport(handler), clock=clock, **options)


def reply_with(payload: Any, status: int = 200) -> Handler:
    return lambda request: httpx.Response(status, json=payload)


def created(**fields: Any) -> dict[str, Any]:
    """WCT's documented create reply (a BTC payment), overridable per field; None drops one."""
    body = {"status": "ok", "message": "Create POS Payment Successfully",
            "paymentId": "61af3e476cb0b9603d21f3e6", "payment_code": CODE,
            "payment_address": BTC_ADDRESS, "payment_amount": "0.00039304",
            "payment_amount_asset": "BTC", "exchange_rate": "50885.41", **fields}
    return {k: v for k, v in body.items() if v is not None}


def updated(order: Order, *, nested: bool = False, **fields: Any) -> dict[str, Any]:
    """A getupdate reply for a completed BTC payment of ``order``, flat or nested (Cliq)."""
    payment = {"paymentId": "61af3e476cb0b9603d21f3e6", "payment_code": CODE,
               "payment_address": BTC_ADDRESS, "payment_amount": "0.00039304",
               "payment_missing_amount": "0", "payment_amount_asset": "BTC",
               "expires_at": int(START) + 900, "exchange_rate": "50885.41",
               "payment_status": 3, "reference": order.tx_id, **fields}
    payment = {k: v for k, v in payment.items() if v is not None}
    if nested:
        return {"status": "ok", "message": "Get pos payment update successfully",
                "payment": payment}
    return {"status": "ok", "message": "Get pos payment update successfully", **payment}


def btc_request(order: Order) -> PaymentRequest:
    """What ``create`` made of ``created()`` for ``order``."""
    return PaymentRequest(order.tx_id, f"bitcoin:{BTC_ADDRESS}?amount=0.00039304",
                          order.expires_at, Decimal("0.00039304"), "BTC", CODE)


def status_of(body: dict[str, Any], clock: FakeTime, order: Order | None = None,
              request: PaymentRequest | None = None) -> PaymentStatus:
    order = order or make_order(clock, coin="BTC")
    client = mock_gateway(reply_with(body), clock)
    return client.status(order, request or btc_request(order))


def test_list_assets_are_the_configured_coins_with_no_network_call(clock: FakeTime) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("list_assets must not call WCT")

    client = mock_gateway(handler, clock,
                          assets=["btc", "btc-ln", "USDT-TRC20", "XRP", "BTC", "PEPE"])
    assert client.list_assets(Decimal("2.50"), "USD") == [
        Asset("BTC", "Bitcoin", "Bitcoin (on-chain)", "BTC"),
        Asset("BTC", "Bitcoin", "Lightning", "BTC-LN"),
        Asset("USDT", "Tether USD", "Tron", "USDT-TRC20"),
        Asset("XRP", "XRP", "XRP Ledger", "XRP"), Asset("PEPE", "PEPE", "PEPE", "PEPE")]
    # Every WCT payment names its coin: the kiosk offers no "any coin, pick in the wallet".
    assert client.wallet_picks_coin is False and client.offers_asset_choice is True
    with pytest.raises(GatewayRejected) as caught:
        client.list_assets(Decimal("2.50"), "EUR")
    assert caught.value.code == "local"


@pytest.mark.parametrize("assets", [[], ["USDT TRC20"], ["BTC/LN"], [""], ["LTC-LN"]])
def test_the_coin_allow_list_must_be_usable(assets: list[str], clock: FakeTime) -> None:
    with pytest.raises(ValueError, match="wctpay"):
        mock_gateway(reply_with({}), clock, assets=assets)


def test_create_sends_exactly_the_documented_fields_signed(clock: FakeTime) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        coin = json.loads(request.content)["requested_asset"]
        address = BTC_ADDRESS if coin == "BTC" else "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"
        return httpx.Response(200, json=created(payment_amount_asset=coin, payment_amount="2.5",
                                                payment_address=address))

    client = mock_gateway(handler, clock)
    tether = make_order(clock, coin="USDT-TRC20")
    client.create(tether)
    client.create(make_order(clock, amount="2.5"))          # no coin chosen: the first one

    assert (sent[0].method, str(sent[0].url)) == ("POST", "https://wct.test/api/payment-pos/post")
    assert sent[0].headers["content-type"] == "application/json"
    assert json.loads(sent[0].content) == {
        "asset": "USD", "requested_asset": "USDT", "requested_asset_network": "TRC20",
        "amount": "2.50", "description": "Sparkling water", "reference": tether.tx_id,
        "cart_items": [{"item_name": "Sparkling water", "item_desc": "Sparkling water",
                        "item_quantity": 1, "unit_price": "2.50"}],
        "key": KEY, "hash": md5(f"{KEY}USD2.50{SECRET}")}
    plain = json.loads(sent[1].content)
    assert (plain["requested_asset"], plain["amount"]) == ("BTC", "2.5")
    assert "requested_asset_network" not in plain
    assert plain["hash"] == md5(f"{KEY}USD2.5{SECRET}")   # the same amount string as sent


def test_lightning_asks_wct_for_plain_bitcoin(clock: FakeTime) -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=created(payment_payreq=INVOICE))

    request = mock_gateway(handler, clock).create(make_order(clock, coin="BTC-LN"))
    assert sent[0]["requested_asset"] == "BTC" and "requested_asset_network" not in sent[0]
    assert request.link == f"lightning:{INVOICE.upper()}"


def test_getupdate_sends_the_reference_signed(clock: FakeTime) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=updated(order, payment_status=0))

    order = make_order(clock, coin="BTC")
    mock_gateway(handler, clock).status(order, btc_request(order))
    assert str(sent[0].url) == "https://wct.test/api/payment-pos/getupdate"
    assert json.loads(sent[0].content) == {"reference": order.tx_id, "key": KEY,
                                           "hash": md5(f"{KEY}{order.tx_id}{SECRET}")}


def test_form_encoding_flattens_the_cart_and_signs_the_same(clock: FakeTime) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=created())

    order = make_order(clock, coin="BTC")
    mock_gateway(handler, clock, form_encoded=True).create(order)
    assert sent[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(sent[0].content.decode(), strict_parsing=True) == {
        "asset": ["USD"], "requested_asset": ["BTC"], "amount": ["2.50"],
        "description": ["Sparkling water"], "reference": [order.tx_id],
        "cart_items[0][item_name]": ["Sparkling water"],
        "cart_items[0][item_desc]": ["Sparkling water"], "cart_items[0][item_quantity]": ["1"],
        "cart_items[0][unit_price]": ["2.50"], "key": [KEY],
        "hash": [md5(f"{KEY}USD2.50{SECRET}")]}


def test_orders_not_in_the_settlement_asset_or_coin_are_refused_locally(clock: FakeTime) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("refused orders must not reach WCT")

    client = mock_gateway(handler, clock, settlement_asset="eur")
    for order in (make_order(clock, currency="USD"),
                  make_order(clock, currency="EUR", coin="DOGE")):
        with pytest.raises(GatewayRejected) as caught:
            client.create(order)
        assert caught.value.code == "local"


def test_create_builds_the_qr_and_keeps_the_memo(clock: FakeTime) -> None:
    order = make_order(clock, coin="XRP")
    reply = created(payment_address=XRP_ADDRESS, payment_amount_asset="XRP",
                    payment_amount="5.000000", payment_memo=100004)
    request = mock_gateway(reply_with(reply), clock).create(order)
    assert request == PaymentRequest(order.tx_id, f"{XRP_ADDRESS}?dt=100004", order.expires_at,
                                     Decimal("5"), "XRP", CODE, "100004")
    with_invoice = mock_gateway(reply_with(created(payment_payreq=INVOICE)), clock)
    lightning = with_invoice.create(make_order(clock, coin="BTC-LN"))
    assert lightning.link == f"lightning:{INVOICE.upper()}"
    on_chain = with_invoice.create(make_order(clock, coin="BTC"))
    assert on_chain.link == f"bitcoin:{BTC_ADDRESS}?amount=0.00039304"   # the invoice unused


@pytest.mark.parametrize(("reply", "words"), [
    (created(status="maybe"), 'status is neither "ok" nor "nok"'),
    (created(payment_address=None), "payment_address or payment_amount is missing"),
    (created(payment_amount=None), "payment_address or payment_amount is missing"),
    (created(payment_amount="lots"), "payment_amount is not a number"),
    (created(payment_amount=True), "payment_amount is not a number"),
    (created(payment_amount="0"), "payment_amount cannot go into a QR"),
    (created(payment_amount="-0.1"), "payment_amount cannot go into a QR"),
    (created(payment_amount="1E+30"), "payment_amount cannot go into a QR"),
    (created(payment_address=42), "payment_address is not a string"),
    (created(payment_address=f"{BTC_ADDRESS}?amount=0.00000001"),
     "payment_address cannot go into a QR"),
    (created(payment_amount_asset=None), "payment_amount_asset is missing or not the requested"),
    (created(payment_amount_asset="ETH"), "payment_amount_asset is missing or not the requested"),
    (created(payment_memo=["x"]), "payment_memo is not a string"),
    (created(payment="flat"), "payment is not an object"),
    ([created()], "not an object"),
])
def test_malformed_create_replies_are_protocol_errors(reply: Any, words: str,
                                                      clock: FakeTime) -> None:
    with pytest.raises(GatewayProtocolError, match=words):
        mock_gateway(reply_with(reply), clock).create(make_order(clock, coin="BTC"))


@pytest.mark.parametrize(("reply", "words"), [
    (created(), "payment_payreq is missing: BTC-LN pays by Lightning"),
    (created(payment_payreq="lnbc-nonsense"), "payment_payreq cannot go into a QR"),
    (created(payment_payreq=5), "payment_payreq is not a string"),
])
def test_a_lightning_payment_needs_a_usable_invoice(reply: Any, words: str,
                                                    clock: FakeTime) -> None:
    with pytest.raises(GatewayProtocolError, match=words):
        mock_gateway(reply_with(reply), clock).create(make_order(clock, coin="BTC-LN"))


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"status": "nok", "error": "The asset not allow for POS create payment"}, 400,
     "refused: The asset not allow for POS create payment"),
    ({"status": "nok", "message": "Could not get payment!"}, 200, "Could not get payment!"),
    ({"status": "nok"}, 401, "no reason given"),
])
def test_nok_is_a_rejection_with_wcts_words(body: dict[str, Any], status: int, words: str,
                                            clock: FakeTime) -> None:
    client = mock_gateway(reply_with(body, status), clock)
    order = make_order(clock, coin="BTC")
    for call in (lambda: client.create(order), lambda: client.status(order, btc_request(order))):
        with pytest.raises(GatewayRejected, match=words) as caught:
            call()
        assert caught.value.code == "nok"


def test_the_documented_getupdate_error_is_a_rejection(clock: FakeTime) -> None:
    body = {"status": "nok", "message": "Could not get payment!",
            "error": "Payment Reference or Payment Code is required", "validated": False}
    with pytest.raises(GatewayRejected, match="Payment Reference or Payment Code is required"):
        status_of(body, clock)


def test_secrets_echoed_by_the_server_are_scrubbed(clock: FakeTime) -> None:
    echo = {"status": "nok", "error": f"bad key {KEY} / secret {SECRET.upper()} hash=x"}
    client = mock_gateway(reply_with(echo, 403), clock)
    with pytest.raises(GatewayRejected) as caught:
        client.create(make_order(clock, coin="BTC"))
    assert "bad key *** / secret *** hash=x" in str(caught.value)
    assert_secret_free(str(caught.value), repr(caught.value))

    order = make_order(clock, coin="BTC")
    seen = status_of(updated(order, payment_status=f"{KEY}{SECRET}"), clock, order)
    assert seen.state is PaymentState.CONFIRMING
    assert_secret_free(repr(seen))
    client = mock_gateway(reply_with({"status": KEY, "payment_amount": SECRET}), clock)
    with pytest.raises(GatewayProtocolError) as protocol:
        client.status(order, btc_request(order))
    assert_secret_free(str(protocol.value), repr(protocol.value), repr(client))


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize(("fields", "state"), [
    ({"payment_status": 0, "payment_missing_amount": "0.00039304"}, PaymentState.AWAITING),
    ({"payment_status": "0", "payment_missing_amount": "0.00039304"}, PaymentState.AWAITING),
    ({"payment_status": "created"}, PaymentState.AWAITING),
    ({"payment_status": 2, "payment_missing_amount": "0.0002"}, PaymentState.UNDERPAID),
    ({"payment_status": " Partial ", "payment_missing_amount": "0.0002"},
     PaymentState.UNDERPAID),
    ({"payment_status": 2, "payment_missing_amount": "0"}, PaymentState.CONFIRMING),
    ({"payment_status": 3}, PaymentState.PAID),
    ({"payment_status": "3"}, PaymentState.PAID),
    ({"payment_status": "completed"}, PaymentState.PAID),
    ({"payment_status": 4}, PaymentState.CANCELLED),
    ({"payment_status": "4"}, PaymentState.CANCELLED),
    ({"payment_status": "canceled"}, PaymentState.CANCELLED),
    ({"payment_status": 1}, PaymentState.CONFIRMING),
    ({"payment_status": 5}, PaymentState.CONFIRMING),
    ({"payment_status": "refunded"}, PaymentState.CONFIRMING),
    ({"payment_status": True}, PaymentState.CONFIRMING),
    ({"payment_status": [3]}, PaymentState.CONFIRMING),
])
def test_each_status_maps_to_the_normalized_state(fields: dict[str, Any], state: PaymentState,
                                                  nested: bool, clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    seen = status_of(updated(order, nested=nested, **fields), clock, order)
    assert seen.state is state and seen.request is None
    assert seen.raw_status == str(fields["payment_status"])
    if state is PaymentState.UNDERPAID:
        assert seen.remaining == Decimal("0.0002") and seen.paid_amount == Decimal("0.00019304")


@pytest.mark.parametrize(("payment_status", "text", "state"), [
    (None, "completed", PaymentState.PAID),
    ("3", "completed", PaymentState.PAID),
    (3, "partial", PaymentState.CONFIRMING),            # conflicting: never paid
    (None, "cancelled", PaymentState.CANCELLED),
    (None, "mystery", PaymentState.CONFIRMING),
])
def test_the_nested_text_status_counts_too(payment_status: Any, text: str, state: PaymentState,
                                           clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    body = updated(order, nested=True, payment_status=payment_status)
    body["payment"]["status"] = text
    assert status_of(body, clock, order).state is state


def test_a_float_looking_status_is_not_a_status(clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    content = json.dumps(updated(order, payment_status="@")).replace('"@"', "3.0").encode()
    client = mock_gateway(lambda r: httpx.Response(200, content=content), clock)
    assert client.status(order, btc_request(order)).state is PaymentState.CONFIRMING


@pytest.mark.parametrize(("fields", "problem"), [
    ({"reference": "another-order"}, "reference mismatch"),
    ({"reference": 12}, "reference mismatch"),
    ({"payment_reference": "another-order"}, "payment_reference mismatch"),
    ({"payment_code": "otherCode1"}, "payment_code mismatch"),
    ({"payment_missing_amount": "0.00000001"}, "payment_missing_amount is not 0"),
    ({"payment_missing_amount": None}, "payment_missing_amount missing"),
    ({"payment_amount_asset": "ETH"}, "payment_amount_asset mismatch"),
    ({"payment_amount_asset": 7}, "payment_amount_asset mismatch"),
])
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_a_spoofed_completion_fails_verification_and_never_pays(
        fields: dict[str, Any], problem: str, nested: bool, clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    seen = status_of(updated(order, nested=nested, **fields), clock, order)
    assert seen.state is PaymentState.UNVERIFIED
    assert seen.reason == f"verification failed: {problem}"


@pytest.mark.parametrize(("fields", "paid"), [
    ({}, Decimal("0.00039304")),
    ({"reference": None}, Decimal("0.00039304")),        # null reads as absent
    ({"payment_missing_amount": "-0.0001"}, Decimal("0.00049304")),
    ({"payment_missing_amount": "0", "overpaid_amount": "0.00001"}, Decimal("0.00040304")),
    ({"payment_amount_asset": "btc", "confirmations": 0}, Decimal("0.00039304")),
])
def test_completed_with_nothing_missing_is_paid(fields: dict[str, Any], paid: Decimal,
                                                clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    seen = status_of(updated(order, **fields), clock, order)
    assert (seen.state, seen.paid_amount, seen.paid_symbol) == (PaymentState.PAID, paid, "BTC")


def test_the_documented_getupdate_without_a_status_is_judged_by_its_amounts(
        clock: FakeTime) -> None:
    """WCT's own example has no payment_status: never PAID, however it reads."""
    order = make_order(clock, coin="USDT-ERC20")
    request = PaymentRequest(order.tx_id, ETH_ADDRESS, order.expires_at, Decimal("1049.59"),
                             "USDT", "qBBiRwD4G9")
    documented = {"status": "ok", "paymentId": "67bfc5f2d389ed389e1806f9",
                  "payment_code": "qBBiRwD4G9", "payment_address": ETH_ADDRESS,
                  "payment_amount": "1049.59", "payment_missing_amount": "549.59",
                  "payment_amount_asset": "USDT", "expires_at": 1740707698,
                  "exchange_rate": "1.003", "message": "Get pos payment update successfully"}
    seen = status_of(documented, clock, order, request)
    assert (seen.state, seen.remaining, seen.paid_amount) == (
        PaymentState.UNDERPAID, Decimal("549.59"), Decimal("500.00"))
    for missing, state in (("1049.59", PaymentState.AWAITING), ("0", PaymentState.CONFIRMING)):
        body = {**documented, "payment_missing_amount": missing}
        assert status_of(body, clock, order, request).state is state


@pytest.mark.parametrize("fields", [
    {"payment_status": 0, "confirmations": 0},
    {"payment_status": 2, "payment_missing_amount": "0.0001", "block_confirmations": "0"},
    {"payment_status": 0, "unconfirmed_amount": "0.0002"},
])
def test_a_seen_but_unconfirmed_transaction_is_confirming(fields: dict[str, Any],
                                                          clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    assert status_of(updated(order, **fields), clock, order).state is PaymentState.CONFIRMING
    confirmed = {**fields, "confirmations": 1, "block_confirmations": 1, "unconfirmed_amount": "0"}
    assert status_of(updated(order, **confirmed), clock, order).state in (
        PaymentState.AWAITING, PaymentState.UNDERPAID)


@pytest.mark.parametrize(("fields", "words"), [
    ({"payment_status": 2, "payment_missing_amount": None}, "partial without payment_missing"),
    ({"payment_status": 0, "payment_missing_amount": "abc"}, "payment_missing_amount is not a"),
    ({"payment_status": 3, "payment_missing_amount": {"v": 0}}, "payment_missing_amount is not"),
    ({"payment_status": 0, "payment_amount_asset": "ETH"}, "payment_amount_asset is missing or"),
    ({"payment_status": 0, "payment_address": 7}, "payment_address is not a string"),
])
def test_malformed_getupdate_fields_are_protocol_errors(fields: dict[str, Any], words: str,
                                                        clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    with pytest.raises(GatewayProtocolError, match=words):
        status_of(updated(order, **fields), clock, order)


@pytest.mark.parametrize("number", ["0.30", "0.1", "2.675"])
def test_json_number_amounts_are_parsed_without_float(number: str, clock: FakeTime) -> None:
    # Through a float, 0.30 would print as 0.299999999999999988897769753748...
    order = make_order(clock, coin="ETH")
    body = json.dumps(created(payment_amount="@", payment_amount_asset="ETH",
                              payment_address=ETH_ADDRESS)).replace('"@"', number)
    client = mock_gateway(lambda r: httpx.Response(200, content=body.encode()), clock)
    request = client.create(order)
    assert isinstance(request.crypto_amount, Decimal) and str(request.crypto_amount) == number


# -- re-quotes ------------------------------------------------------------------------------------

def test_an_unchanged_quote_is_not_redrawn_even_without_the_invoice(clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC-LN")
    lightning = PaymentRequest(order.tx_id, f"lightning:{INVOICE.upper()}", order.expires_at,
                               Decimal("0.00039304"), "BTC", CODE)
    seen = status_of(updated(order, payment_status=0), clock, order, lightning)
    assert seen.state is PaymentState.AWAITING and seen.request is None


def test_a_new_amount_without_a_new_invoice_is_never_shown_as_an_address(
        clock: FakeTime) -> None:
    """A Lightning customer's wallet cannot pay a Bitcoin address: no silent switch to one."""
    order = make_order(clock, coin="BTC-LN")
    lightning = PaymentRequest(order.tx_id, f"lightning:{INVOICE.upper()}", order.expires_at,
                               Decimal("0.00039304"), "BTC", CODE)
    with pytest.raises(GatewayProtocolError, match="payment_payreq is missing"):
        status_of(updated(order, payment_status=0, payment_amount="0.0004"), clock, order,
                  lightning)


def test_a_new_address_is_a_new_qr(clock: FakeTime) -> None:
    order = make_order(clock, coin="ETH")
    old = PaymentRequest(order.tx_id, ETH_ADDRESS, order.expires_at, Decimal("0.001"), "ETH",
                         CODE)
    moved = "0x" + "1" * 40
    seen = status_of(updated(order, payment_status=2, payment_amount="0.001",
                             payment_missing_amount="0.0005", payment_amount_asset="ETH",
                             payment_address=moved), clock, order, old)
    assert seen.state is PaymentState.UNDERPAID and seen.request is not None
    assert (seen.request.link, seen.request.crypto_amount) == (moved, Decimal("0.001"))


def test_a_requote_keeps_the_xrp_tag_when_the_update_omits_it(clock: FakeTime) -> None:
    order = make_order(clock, coin="XRP")
    old = PaymentRequest(order.tx_id, f"{XRP_ADDRESS}?dt=7", order.expires_at, Decimal("5"),
                         "XRP", CODE, memo="7")
    seen = status_of(updated(order, payment_status=0, payment_amount="5.1",
                             payment_amount_asset="XRP", payment_address=XRP_ADDRESS),
                     clock, order, old)
    assert seen.request is not None
    assert (seen.request.link, seen.request.memo) == (f"{XRP_ADDRESS}?dt=7", "7")


def test_an_expired_quote_with_no_new_price_yet_keeps_polling(clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    fresh = status_of(updated(order, payment_status=0, expires_at=int(clock()) + 1), clock,
                      order)
    stale = status_of(updated(order, payment_status=0, expires_at=int(clock())), clock, order)
    assert (fresh.state, fresh.reason) == (PaymentState.AWAITING, "")
    assert (stale.state, stale.request) == (PaymentState.AWAITING, None)
    assert "quote expired" in stale.reason


def test_a_lost_create_reply_is_recovered_by_reference(clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    client = mock_gateway(reply_with(updated(order, payment_status=0)), clock)
    lost = client.request_for(order)
    assert (lost.payment_id, lost.link, lost.expires_at) == (order.tx_id, "", order.expires_at)
    seen = client.status(order, lost)
    assert seen.request == btc_request(order)            # the QR comes back with the first poll


def test_a_coin_dropped_from_the_config_is_still_judged_when_polled(clock: FakeTime) -> None:
    order = make_order(clock, coin="BTC")
    client = mock_gateway(reply_with(updated(order)), clock, assets=["ETH"])
    with pytest.raises(GatewayRejected, match="not an offered coin"):
        client.create(order)                             # never offered again ...
    assert client.status(order, btc_request(order)).state is PaymentState.PAID  # ... but paid


def test_wct_has_no_cancel_or_refund(clock: FakeTime) -> None:
    client = mock_gateway(reply_with({}), clock)
    order = make_order(clock, coin="BTC")
    assert (client.name, client.can_cancel, client.can_refund, client.offers_asset_choice,
            client.poll_interval_s) == ("wctpay", False, False, True, 2.0)
    with pytest.raises(OperationNotSupported):
        client.refund(order, btc_request(order), "claim-1")


# -- property tests: arbitrary replies ------------------------------------------------------------

TX = "8e69e534-d0c4-3e04-8b61-37a73cd9e7d7"
ORDER = Order(TX, "A1", "Water", Decimal("2.50"), "USD", asset("BTC"), 2_000_000_000)
REQUEST = PaymentRequest(TX, f"bitcoin:{BTC_ADDRESS}?amount=0.00039304", 2_000_000_000,
                         Decimal("0.00039304"), "BTC", CODE)

scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=12)
           | st.decimals(allow_nan=False, allow_infinity=False)
           | st.sampled_from([KEY, SECRET, f"x{SECRET.upper()}y"]))
any_json = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(st.text(max_size=8), children, max_size=4),
                        max_leaves=20)


def likely(*values: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(values) | any_json


FIELDS = {
    "payment_status": likely(0, 2, 3, 4, "0", "2", "3", "4", "completed", "partial", 1, "x"),
    "status": likely("completed", "partial", "created", "cancelled"),
    "payment_missing_amount": likely("0", 0, "-1", "0.0001", "549.59", ""),
    "payment_amount": likely("0.00039304", "1049.59", "0", "0.0004", ""),
    "payment_amount_asset": likely("BTC", "btc", "ETH"),
    "payment_address": likely(BTC_ADDRESS, f"{BTC_ADDRESS}?amount=1", ""),
    "payment_payreq": likely(INVOICE, "lnbc"),
    "payment_memo": likely("12", 12),
    "reference": likely(TX, "other"),
    "payment_reference": likely(TX, "other"),
    "payment_code": likely(CODE, "other"),
    "confirmations": likely(0, 1, "0"),
    "unconfirmed_amount": likely("0", "0.1"),
    "overpaid_amount": likely("0.1"),
    "expires_at": likely(0, 2_000_000_000),
    "error": likely("Invalid hash", KEY),
}
payment_like = st.fixed_dictionaries({}, optional=FIELDS)
bodies = (any_json | payment_like | payment_like.map(lambda p: {**p, "status": "ok"})
          | payment_like.map(lambda p: {"status": "ok", "payment": p})
          | payment_like.map(lambda p: {"status": "nok", **p}))


def to_json(value: Any) -> str:
    """JSON text in which a Decimal stays a JSON number, exactly as written."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(to_json, value)) + "]"
    return json.dumps(value)


class Replay:
    """A MockTransport handler answering every request with the current ``content``."""

    content = b"{}"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=self.content)


REPLAY = Replay()
PROPERTY_GATEWAY = WctPayGateway(api_base="https://wct.test/api", key=KEY, api_secret=SECRET,
                                 assets=COINS, transport=httpx.MockTransport(REPLAY),
                                 limiter=RateLimiter(10**6), clock=lambda: float(START))


def payment_of(body: Any) -> dict[str, Any] | None:
    """The fields a PAID verdict may rest on, or None if the envelope allows no verdict."""
    if not isinstance(body, dict) or body.get("status") != "ok":
        return None
    payment = {k: v for k, v in body.items() if k not in ("status", "payment")}
    nested = body.get("payment", {})
    return {**payment, **nested} if isinstance(nested, dict) else None


def may_pay(body: Any) -> bool:
    """Completed (3), nothing missing, and no field naming another order, code or coin."""
    payment = payment_of(body)
    if payment is None:
        return False
    statuses = [v for v in (payment.get("payment_status"), payment.get("status"))
                if v is not None]
    completed = bool(statuses) and all(
        not isinstance(v, bool) and str(v).strip().lower() in ("3", "completed")
        for v in statuses)
    missing = payment.get("payment_missing_amount")
    try:
        nothing_missing = (not isinstance(missing, bool) and missing is not None
                           and Decimal(str(missing).strip()) <= 0)
    except ArithmeticError:
        nothing_missing = False
    return (completed and nothing_missing
            and payment.get("reference") in (None, TX)
            and payment.get("payment_reference") in (None, TX)
            and payment.get("payment_code") in (None, CODE)
            and str(payment.get("payment_amount_asset", "btc")).casefold() == "btc")


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_any_getupdate_reply_is_a_status_or_a_gateway_error_and_pays_only_when_verified(
        body: Any) -> None:
    REPLAY.content = to_json(body).encode()
    try:
        seen = PROPERTY_GATEWAY.status(ORDER, REQUEST)
    except GatewayError as exc:
        assert_secret_free(str(exc), repr(exc))
        return
    assert isinstance(seen, PaymentStatus)
    assert_secret_free(repr(seen))
    if seen.state is PaymentState.PAID:
        assert may_pay(body), body
    if seen.request is not None:
        assert seen.request.payment_id == TX and seen.request.link


@settings(max_examples=400, deadline=None)
@given(bodies | st.binary(max_size=40))
def test_any_create_reply_is_a_usable_request_or_a_gateway_error(body: Any) -> None:
    REPLAY.content = body if isinstance(body, bytes) else to_json(body).encode()
    try:
        request = PROPERTY_GATEWAY.create(ORDER)
    except GatewayError as exc:
        assert_secret_free(str(exc), repr(exc))
        return
    assert request.payment_id == TX and request.link and request.expires_at == ORDER.expires_at
    assert request.crypto_amount is not None and request.crypto_amount > 0
    assert request.crypto_symbol == "BTC"
