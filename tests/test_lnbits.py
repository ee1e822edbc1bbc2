"""LnbitsGateway against the LNbits simulator over loopback HTTP (invoice, pay, verify, expiry),
and via MockTransport every reply that must not read as paid: wrong wallet, amount, hash,
invoice, unsettled, malformed; 5xx, timeouts and refusals mapped at the one boundary."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes import FakeTime, write_kiosk_toml
from kiosk.assembly import build_gateway
from kiosk.config import load_config
from kiosk.errors import (
    ConfigError,
    GatewayError,
    GatewayProtocolError,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
)
from kiosk.payments.base import Order, PaymentRequest, PaymentState
from kiosk.payments.lnbits import LnbitsGateway
from kiosk.payments.lnbits_rate import FixedRate, Rate, sats_for
from kiosk.payments.lnbits_replies import SETTLE_GRACE_S, bolt11_of
from kiosk.payments.ratelimit import RateLimiter
from kiosk.sim import Fault, Sandbox
from kiosk.sim.lnbits import KIOSK_ADMINKEY, KIOSK_INKEY, KIOSK_WALLET, PAYER_ADMINKEY, \
    LnbitsSimulator

RATE = Decimal("1000")          # sats per USD: 2.50 USD = 2500 sats
SECRET = "lnbits-SECRET-invoice-key-0123456789"
HASH = "ab" * 32
BOLT11 = "lnbc25u1p" + "q" * 100


def make_order(clock: FakeTime, *, amount: str = "2.50", lead_s: int = 120) -> Order:
    return Order(tx_id=str(uuid.uuid4()), slot_id="A1", item_name="Sparkling water",
                 amount=Decimal(amount), currency="USD", asset=None,
                 expires_at=int(clock()) + lead_s)


def fake_limiter(clock: FakeTime) -> RateLimiter:
    return RateLimiter(60_000, clock=clock, sleep=clock.sleep)


# == the rate ======================================================================================

@pytest.mark.parametrize(("amount", "rate", "sats"), [
    ("2.50", "1000", 2500), ("2.50", "1", 3), ("0.01", "0.5", 1), ("1", "1234.0001", 1235),
    ("3", "333.333333333333333333333", 1000), ("1000000", "2560.12", 2560120000),
])
def test_sats_are_rounded_up_to_a_whole_sat(amount: str, rate: str, sats: int) -> None:
    assert sats_for(Decimal(amount), Rate(Decimal(rate), "USD", "fixed")) == sats


@pytest.mark.parametrize("rate", ["0", "-1", "NaN", "Infinity", "1" * 30])
def test_an_unusable_rate_is_refused_locally(rate: str) -> None:
    with pytest.raises(GatewayRejected) as caught:
        sats_for(Decimal("2.50"), Rate(Decimal(rate), "USD", "fixed"))
    assert caught.value.code == "local"


# == against the simulator, over real loopback HTTP ================================================

pytestmark = pytest.mark.sandbox(clock=True, requests_per_minute=6000)


def simulator(sandbox: Sandbox) -> LnbitsSimulator:
    sim = sandbox.simulators["lnbits"]
    assert isinstance(sim, LnbitsSimulator)
    return sim


def sandbox_gateway(sandbox: Sandbox, clock: FakeTime, **options: Any) -> LnbitsGateway:
    options.setdefault("limiter", fake_limiter(clock))
    options.setdefault("invoice_key", KIOSK_INKEY)
    options.setdefault("wallet_id", KIOSK_WALLET)
    return LnbitsGateway(api_base=sandbox.base("lnbits"), rates=FixedRate(RATE), clock=clock,
                         **options)


@pytest.fixture
def gateway(sandbox: Sandbox, clock: FakeTime) -> Iterator[LnbitsGateway]:
    client = sandbox_gateway(sandbox, clock)
    yield client
    client.close()


def pay(web: httpx.Client, sandbox: Sandbox, request: PaymentRequest) -> httpx.Response:
    """A second wallet of the same LNbits pays the invoice the QR shows."""
    return web.post(f"{sandbox.base('lnbits')}/api/v1/payments",
                    json={"out": True, "bolt11": request.link.removeprefix("LIGHTNING:")},
                    headers={"X-Api-Key": PAYER_ADMINKEY})


def test_an_invoice_for_the_price_in_sats_paid_by_another_wallet_is_paid(
        web: httpx.Client, gateway: LnbitsGateway, sandbox: Sandbox, clock: FakeTime) -> None:
    order = make_order(clock)
    request = gateway.create(order)
    assert request.link.startswith("LIGHTNING:LNBCRT25000N1P") and request.link.isupper()
    assert (request.crypto_amount, request.crypto_symbol, request.rate) == (
        Decimal(2500), "sats", RATE)
    assert request.expires_at == order.expires_at
    assert gateway.status(order, request).state is PaymentState.AWAITING
    assert pay(web, sandbox, request).status_code == 201
    paid = gateway.status(order, request)
    assert (paid.state, paid.paid_amount, paid.paid_symbol) == (
        PaymentState.PAID, Decimal(2500), "sats")
    assert simulator(sandbox).balance_sats() == 2500
    [received] = sandbox.received("lnbits")
    assert (received.tx_id, received.amount, received.asset) == (order.tx_id, 2500, "sats")


def test_the_invoice_expires_with_the_payment_window(
        web: httpx.Client, gateway: LnbitsGateway, sandbox: Sandbox, clock: FakeTime) -> None:
    order = make_order(clock, lead_s=60)
    request = gateway.create(order)
    clock.now += 59
    assert gateway.status(order, request).state is PaymentState.AWAITING
    clock.now += 1                          # the window closed: Lightning cannot pay it now
    refused = pay(web, sandbox, request)   # LNbits answers with the invoice, "failed"
    assert refused.json()["status"] == "failed" and simulator(sandbox).balance_sats() == 0
    seen = gateway.status(order, request)
    # "failed" from LNbits' first read after the expiry is not final yet: a last-second HTLC
    # could still settle; once the settle grace is over it is.
    assert (seen.state, seen.raw_status) == (PaymentState.AWAITING, "failed")
    clock.now += SETTLE_GRACE_S
    seen = gateway.status(order, request)
    assert (seen.state, seen.raw_status) == (PaymentState.EXPIRED, "failed")
    assert sandbox.received("lnbits") == []


def test_paid_in_the_last_second_is_still_paid_after_the_window(
        web: httpx.Client, gateway: LnbitsGateway, sandbox: Sandbox, clock: FakeTime) -> None:
    order = make_order(clock, lead_s=60)
    request = gateway.create(order)
    clock.now += 59
    assert pay(web, sandbox, request).status_code == 201
    clock.now += 30                         # seen late (the watcher's late watch): still PAID
    assert gateway.status(order, request).state is PaymentState.PAID


def test_another_invoice_of_the_same_wallet_paid_is_not_this_sale(
        web: httpx.Client, gateway: LnbitsGateway, sandbox: Sandbox, clock: FakeTime) -> None:
    mine, other = make_order(clock), make_order(clock)
    request = gateway.create(mine)
    other_request = gateway.create(other)
    assert other_request.payment_id != request.payment_id
    pay(web, sandbox, other_request)
    assert gateway.status(mine, request).state is PaymentState.AWAITING
    assert gateway.status(other, other_request).state is PaymentState.PAID
    # Even handed the other sale's hash, the invoice and amount are checked against ours.
    swapped = PaymentRequest(other_request.payment_id, request.link, request.expires_at,
                             crypto_amount=request.crypto_amount, crypto_symbol="sats")
    assert gateway.status(mine, swapped).state is PaymentState.UNVERIFIED


def test_a_repeated_create_returns_the_same_invoice(gateway: LnbitsGateway, sandbox: Sandbox,
                                                   clock: FakeTime) -> None:
    order = make_order(clock)
    first = gateway.create(order)
    assert gateway.create(order) == first == gateway.request_for(order)
    assert len(simulator(sandbox).invoices()) == 1


def test_the_invoice_asks_lnbits_for_sats_with_the_windows_expiry(
        gateway: LnbitsGateway, sandbox: Sandbox, clock: FakeTime) -> None:
    order = make_order(clock, lead_s=90)
    request = gateway.create(order)
    sent = simulator(sandbox)._invoices[request.payment_id]   # the simulator's record
    assert (sent.amount_msat, sent.expiry_s, sent.extra["tx_id"]) == (2_500_000, 90, order.tx_id)
    assert sent.extra["rate"] == "1000" and sent.bolt11 == bolt11_of(request)


def test_a_window_too_short_to_pay_is_refused_locally(gateway: LnbitsGateway,
                                                      sandbox: Sandbox, clock: FakeTime) -> None:
    with pytest.raises(GatewayRejected, match="expire in 9 s") as caught:
        gateway.create(make_order(clock, lead_s=9))
    assert caught.value.code == "local" and sandbox.request_log == ()


def test_selftest_reads_the_wallet_with_the_invoice_key(gateway: LnbitsGateway,
                                                        sandbox: Sandbox) -> None:
    said = gateway.check_reachable(Decimal("2.50"), "USD")
    assert "invoice key accepted" in said and "2500 sats at 1000 sats/USD (fixed)" in said
    assert sandbox.request_log == ("GET /lnbits/api/v1/wallet",)


def test_selftest_refuses_an_admin_key(sandbox: Sandbox, clock: FakeTime) -> None:
    client = sandbox_gateway(sandbox, clock, invoice_key=KIOSK_ADMINKEY)
    with pytest.raises(GatewayRejected, match="admin key"):
        client.check_reachable(Decimal("2.50"), "USD")
    client.close()


def test_a_wrong_key_is_refused_in_lnbits_words_without_the_key(sandbox: Sandbox,
                                                                clock: FakeTime) -> None:
    client = sandbox_gateway(sandbox, clock, invoice_key=SECRET)
    with pytest.raises(GatewayRejected) as caught:
        client.create(make_order(clock))
    assert caught.value.code == "401" and "Invalid key" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(client)
    client.close()


def test_an_invoice_of_another_wallet_is_not_found(web: httpx.Client, sandbox: Sandbox,
                                                  gateway: LnbitsGateway,
                                                  clock: FakeTime) -> None:
    order = make_order(clock)
    request = gateway.create(order)
    stranger = sandbox_gateway(sandbox, clock, invoice_key="sandbox-payer-invoice-key")
    with pytest.raises(GatewayRejected, match="404"):
        stranger.status(order, request)
    stranger.close()


@pytest.mark.parametrize(("kind", "error"), [
    ("http_500", GatewayUnavailable), ("http_503", GatewayUnavailable),
    ("malformed_json", GatewayProtocolError), ("no_answer", GatewayUnavailable),
])
def test_faults_are_the_kiosks_errors(kind: str, error: type[GatewayError], sandbox: Sandbox,
                                      gateway: LnbitsGateway, clock: FakeTime) -> None:
    order = make_order(clock)
    request = gateway.create(order)
    sandbox.inject("lnbits", Fault(kind, path="/api/v1/payments/"))
    with pytest.raises(error):
        gateway.status(order, request)
    assert gateway.status(order, request).state is PaymentState.AWAITING


# == every reply, via MockTransport ================================================================

ORDER = Order("tx-1", "A1", "Water", Decimal("2.50"), "USD", None, 2_000_000_000)
REQUEST = PaymentRequest(HASH, "LIGHTNING:" + BOLT11.upper(), ORDER.expires_at,
                         crypto_amount=Decimal(2500), crypto_symbol="sats", rate=RATE)
NOW = ORDER.expires_at - 60


def settled(**changes: Any) -> dict[str, Any]:
    details = {"payment_hash": HASH, "wallet_id": KIOSK_WALLET, "amount": 2_500_000,
               "bolt11": BOLT11, "status": "success", "checking_id": HASH}
    details.update(changes.pop("details", {}))
    return {"paid": True, "status": "success", "preimage": "00" * 32, "details": details,
            **changes}


def replying(handler: Callable[[httpx.Request], httpx.Response],
             now: float = NOW) -> LnbitsGateway:
    return LnbitsGateway(api_base="https://lnbits.test", wallet_id=KIOSK_WALLET,
                         invoice_key=SECRET, rates=FixedRate(RATE), clock=lambda: now,
                         limiter=RateLimiter(10_000, sleep=lambda s: None),
                         transport=httpx.MockTransport(handler))


def body_reply(body: Any, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda r: httpx.Response(status, content=json.dumps(body).encode())


def test_a_settled_payment_of_this_invoice_into_this_wallet_is_paid() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return body_reply(settled())(request)

    assert replying(handler).status(ORDER, REQUEST).state is PaymentState.PAID
    assert seen[0].url.path == f"/api/v1/payments/{HASH}"
    assert seen[0].headers["x-api-key"] == SECRET


@pytest.mark.parametrize(("body", "problem"), [
    (settled(details={"wallet_id": "someone-elses-wallet"}), "wallet"),
    (settled(details={"amount": 2_499_000}), "amount"),
    (settled(details={"amount": 25_000_000}), "amount"),
    (settled(details={"amount": "2500000"}), "amount"),
    (settled(details={"amount": -2_500_000}), "amount"),
    (settled(details={"payment_hash": "cd" * 32}), "payment hash"),
    (settled(details={"bolt11": "lnbc1u1p" + "q" * 100}), "invoice"),
    (settled(details={"status": "pending"}), "not settled"),
    (settled(status="pending"), "not settled"),
    (settled(paid=False), "not settled"),
    ({"paid": True, "status": "success"}, "no details"),
])
def test_settled_but_not_as_ordered_is_unverified(body: dict[str, Any], problem: str) -> None:
    status = replying(body_reply(body)).status(ORDER, REQUEST)
    assert status.state is PaymentState.UNVERIFIED and problem in status.reason


@pytest.mark.parametrize(("body", "now", "state"), [
    ({"paid": False, "status": "pending"}, NOW, PaymentState.AWAITING),
    ({"paid": False, "status": "pending"}, ORDER.expires_at + 1, PaymentState.AWAITING),
    ({"paid": False, "status": "pending"}, ORDER.expires_at + SETTLE_GRACE_S,
     PaymentState.EXPIRED),
    # LNbits says "failed" at its first read after the expiry, "success" if a last-second
    # HTLC settles after that: only the settle grace makes it final.
    ({"paid": False, "status": "failed"}, ORDER.expires_at, PaymentState.AWAITING),
    ({"paid": False, "status": "failed"}, ORDER.expires_at - 30, PaymentState.AWAITING),
    ({"paid": False, "status": "failed"}, ORDER.expires_at + SETTLE_GRACE_S - 1,
     PaymentState.AWAITING),
    ({"paid": False, "status": "failed"}, ORDER.expires_at + SETTLE_GRACE_S,
     PaymentState.EXPIRED),
    ({"paid": False, "status": "failed"}, ORDER.expires_at - 31, PaymentState.FAILED),
    ({"paid": False, "status": "in_flight"}, NOW, PaymentState.CONFIRMING),
])
def test_unpaid_statuses(body: dict[str, Any], now: float, state: PaymentState) -> None:
    assert replying(body_reply(body), now).status(ORDER, REQUEST).state is state


@pytest.mark.parametrize("body", [{}, {"paid": "true", "status": "success"},
                                  {"paid": True}, {"status": "success"}, {"paid": None}])
def test_a_status_without_paid_and_status_is_a_protocol_error(body: dict[str, Any]) -> None:
    with pytest.raises(GatewayProtocolError):
        replying(body_reply(body)).status(ORDER, REQUEST)


def test_timeouts_and_5xx_are_unavailable() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(GatewayTimeout, match="lnbits GET"):
        replying(hang).status(ORDER, REQUEST)
    with pytest.raises(GatewayUnavailable, match="HTTP 502"):
        replying(body_reply({"detail": "bad gateway"}, 502)).status(ORDER, REQUEST)


def test_a_refusal_echoing_the_key_is_scrubbed() -> None:
    with pytest.raises(GatewayRejected) as caught:
        replying(body_reply({"detail": f"bad key {SECRET}"}, 401)).status(ORDER, REQUEST)
    assert SECRET not in str(caught.value) and "<redacted>" in str(caught.value)


CREATED = {"payment_hash": HASH, "checking_id": HASH, "bolt11": BOLT11, "amount": 2_500_000,
           "wallet_id": KIOSK_WALLET, "status": "pending"}


@pytest.mark.parametrize("body", [
    {**CREATED, "amount": 2_400_000},
    {**CREATED, "payment_hash": "xyz"}, {**CREATED, "bolt11": "not an invoice"},
    {k: v for k, v in CREATED.items() if k != "bolt11"}, {"detail": "ok"},
])
def test_a_create_reply_not_for_this_invoice_is_a_protocol_error(body: dict[str, Any]) -> None:
    with pytest.raises(GatewayProtocolError):
        replying(body_reply(body, 201)).create(ORDER)


def test_a_create_reply_for_another_wallet_is_a_refusal_that_stays() -> None:
    gateway = replying(body_reply({**CREATED, "wallet_id": "another"}, 201))
    with pytest.raises(GatewayRejected, match="another wallet"):
        gateway.create(ORDER)


def test_an_older_lnbits_create_reply_with_payment_request_works() -> None:
    body = {"payment_hash": HASH, "payment_request": BOLT11, "checking_id": HASH}
    request = replying(body_reply(body, 201)).create(ORDER)
    assert request.link == "LIGHTNING:" + BOLT11.upper()


def test_the_create_call_asks_for_sats_never_fiat() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return body_reply(CREATED, 201)(request)

    replying(handler).create(ORDER)
    assert {k: sent[0][k] for k in ("out", "amount", "unit", "expiry")} == {
        "out": False, "amount": 2500, "unit": "sat", "expiry": 60}


def phone_pays(web: httpx.Client, sandbox: Sandbox, request: PaymentRequest,
               **form: str) -> httpx.Response:
    """The demo's phone: the sandbox's payer wallet pays the scanned QR."""
    return web.post(f"{sandbox.base('lnbits')}/wallet/pay", data={"qr": request.link, **form})


def test_the_demo_phone_pays_the_scanned_qr(web: httpx.Client, gateway: LnbitsGateway,
                                            sandbox: Sandbox, clock: FakeTime) -> None:
    order = make_order(clock)
    request = gateway.create(order)
    refused = phone_pays(web, sandbox, request, part="half")
    assert refused.status_code == 400 and "in full" in refused.json()["detail"]
    assert phone_pays(web, sandbox, request).status_code == 201
    assert gateway.status(order, request).state is PaymentState.PAID


def test_a_spoofed_success_naming_another_wallet_is_unverified(
        web: httpx.Client, gateway: LnbitsGateway, sandbox: Sandbox, clock: FakeTime) -> None:
    order = make_order(clock)
    request = gateway.create(order)
    phone_pays(web, sandbox, request, spoof="1").raise_for_status()
    seen = gateway.status(order, request)
    assert seen.state is PaymentState.UNVERIFIED and "wallet" in seen.reason
    assert [p.tx_id for p in sandbox.received("lnbits")] == [order.tx_id]   # money did arrive


# == the [payment.lnbits] table ====================================================================

def lnbits_issues(tmp_path: Path, secrets: str = "", **table: object) -> list[str]:
    """The problems ``kiosk check-config`` reports for an LNbits kiosk with ``table``."""
    payment = {"gateway": "lnbits", "lnbits": {k: v for k, v in table.items() if v is not None}}
    path = write_kiosk_toml(tmp_path, machine={"currency": "USD"}, payment=payment)
    secrets_path = tmp_path / "secrets.toml"
    secrets_path.write_text(secrets)
    secrets_path.chmod(0o600)
    try:
        load_config(path, secrets_path)
    except ConfigError as exc:
        return [f"{i.table}.{i.key}: {i.message}" for i in exc.issues]
    return []


GOOD = {"api_base": "https://lnbits.vending-operator.test", "wallet_id": "a1b2c3d4e5f6a7b8",
        "fixed_rate": "1000"}
KEY = f'[payment.lnbits]\ninvoice_key = "{SECRET}"\n'


def test_a_complete_table_reads_and_never_shows_the_key(tmp_path: Path) -> None:
    assert lnbits_issues(tmp_path, KEY, **GOOD) == []
    config = load_config(tmp_path / "kiosk.toml", tmp_path / "secrets.toml")
    lnbits = config.payment.lnbits
    assert lnbits is not None and lnbits.fixed_rate == Decimal("1000")
    assert lnbits.invoice_key == SECRET and SECRET not in repr(config)
    gateway = build_gateway(config)
    assert isinstance(gateway, LnbitsGateway) and SECRET not in repr(gateway)
    gateway.close()


@pytest.mark.parametrize(("changes", "where", "words"), [
    ({"fixed_rate": None}, "fixed_rate", "sats per unit"),
    ({"fixed_rate": 1000.5}, "fixed_rate", "a number as text"),
    ({"fixed_rate": "0"}, "fixed_rate", "greater than 0"),
    ({"fixed_rate": "lots"}, "fixed_rate", "a number as text"),
    ({"wallet_id": None}, "wallet_id", "needs it"),
    ({"wallet_id": "your-lnbits-wallet-id"}, "wallet_id", "placeholder"),
    ({"api_base": "http://lnbits.vending-operator.test"}, "api_base", "plain http"),
    ({"api_base": "https://lnbits.example.com"}, "api_base", "example address"),
])
def test_a_table_that_cannot_sell_is_refused_by_key(tmp_path: Path, changes: dict[str, object],
                                                    where: str, words: str) -> None:
    found = lnbits_issues(tmp_path, KEY, **{**GOOD, **changes})
    assert any(i.startswith(f"payment.lnbits.{where}:") and words in i for i in found), found
    assert not any(SECRET in i for i in found)


def test_the_invoice_key_is_required_in_the_secrets_file(tmp_path: Path) -> None:
    [issue] = lnbits_issues(tmp_path, "", **GOOD)
    assert issue.startswith("payment.lnbits.invoice_key:") and "secrets.toml" in issue


def test_a_key_of_another_wallet_than_wallet_id_takes_the_kiosk_out_of_service(
        sandbox: Sandbox, clock: FakeTime) -> None:
    """An invoice key cannot read its wallet's id: the first invoice shows the mismatch, the
    sale fails at once, and every check after it says what to fix (no sale could pass)."""
    client = sandbox_gateway(sandbox, clock, wallet_id="the-wallet-of-another-shop")
    try:
        assert "reachable" in client.check_reachable(Decimal("2.50"), "USD")
        with pytest.raises(GatewayRejected, match="another wallet than"):
            client.create(make_order(clock))
        with pytest.raises(GatewayRejected, match=r"\[payment.lnbits\] wallet_id") as caught:
            client.check_reachable(Decimal("2.50"), "USD")
        assert caught.value.code == "local" and KIOSK_INKEY not in str(caught.value)
    finally:
        client.close()
