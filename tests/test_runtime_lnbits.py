"""The runtime with LNbits (a Lightning invoice per sale, no refunds, no cancel) against its
simulator over loopback HTTP: a paid sale vends, a failed vend gives a claim code, an expired
invoice vends nothing, money after cancel is journalled late, the rate is journalled."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from fakes import simulated_machine, write_kiosk_toml
from harness import Harness, kinds
from kiosk.claims import claim_code
from kiosk.config import Config, load_config
from kiosk.flow import CancelPressed, Screen
from kiosk.journal import Journal
from kiosk.payments.base import PaymentRequest
from kiosk.sim import Sandbox
from kiosk.sim.lnbits import KIOSK_INKEY, KIOSK_WALLET, PAYER_ADMINKEY


def lnbits_table(base: str) -> dict[str, object]:
    """``[payment.lnbits]`` for the LNbits simulator served at ``base``."""
    return {"api_base": f"{base}/lnbits", "wallet_id": KIOSK_WALLET, "fixed_rate": "1000",
            "invoice_key": KIOSK_INKEY}


def lnbits_config(tmp_path: Path, sandbox: Sandbox, timeout_s: int = 60) -> Config:
    payment = {"gateway": "lnbits", "timeout_s": timeout_s, "poll_interval_s": 0.2,
               "lnbits": lnbits_table(sandbox.url)}
    return load_config(write_kiosk_toml(tmp_path, machine={"id": "test-03", "currency": "USD"},
                                        payment=payment, **simulated_machine("no_drop")))


@pytest.fixture
def config(tmp_path: Path, sandbox: Sandbox) -> Config:
    """An LNbits kiosk on the simulated machine, A2 failing without jamming; ``harness``
    (tests/conftest.py) checks the money after each test."""
    return lnbits_config(tmp_path, sandbox)


def pay(sandbox: Sandbox, request: PaymentRequest) -> None:
    """The customer's wallet (a second wallet of the same LNbits) pays the QR's invoice."""
    httpx.post(f"{sandbox.base('lnbits')}/api/v1/payments", timeout=5,
               json={"out": True, "bolt11": request.link.removeprefix("LIGHTNING:")},
               headers={"X-Api-Key": PAYER_ADMINKEY}).raise_for_status()


def test_a_paid_sale_vends_and_journals_the_rate(harness: Harness, sandbox: Sandbox,
                                                 config: Config) -> None:
    settings = harness.runtime.flow.settings
    assert not settings.auto_refund and not settings.choose_asset
    order, request = harness.buy("A1")
    sats = order.amount * 1000
    assert request.link == request.link.upper() and request.link.startswith("LIGHTNING:LN")
    assert (request.crypto_amount, request.crypto_symbol, request.rate) == (
        sats, "sats", Decimal(1000))
    pay(sandbox, request)
    harness.wait_screen(Screen.THANK_YOU)
    assert harness.driver is not None and harness.driver.vended == ["A1"]
    harness.close()
    with Journal.open_in(config.machine.data_dir) as journal:
        tx = journal.transaction(order.tx_id)
        _, journalled = journal.sale(order.tx_id)
    assert tx["status"] == "vended"
    created = next(e["detail"] for e in tx["events"] if e["kind"] == "payment_created")
    assert (Decimal(str(created["rate"])), Decimal(str(created["crypto_amount"])),
            created["crypto_symbol"]) == (Decimal(1000), sats, "sats")
    assert journalled is not None and journalled.rate == Decimal(1000)   # read back too
    events = kinds(tx)
    assert events.index("payment_created") < events.index("paid_verified") \
        < events.index("vend_started")


def test_a_failed_vend_gets_a_claim_code(harness: Harness, sandbox: Sandbox,
                                         config: Config) -> None:
    order, request = harness.buy("A2")
    pay(sandbox, request)
    harness.wait_screen(Screen.VEND_FAILED)
    sale = harness.runtime.state.sale
    assert sale is not None and sale.claim_code == claim_code(order.tx_id)
    harness.close()
    with Journal.open_in(config.machine.data_dir) as journal:
        tx = journal.transaction(order.tx_id)
        assert journal.pending_refunds() == []          # LNbits cannot pay an unknown payer
    assert tx["status"] == "refund_due" and tx["claim_code"] == sale.claim_code


def test_an_unpaid_invoice_expires_and_nothing_is_vended(tmp_path: Path,
                                                         sandbox: Sandbox) -> None:
    harness = Harness(lnbits_config(tmp_path, sandbox, timeout_s=15), None)
    try:
        order, request = harness.buy("A1")
        harness.wait_screen(Screen.EXPIRED, timeout_s=25)
        harness.wait_for(lambda: sandbox.simulators["lnbits"].status_of(  # type: ignore[attr-defined]
            request.payment_id) == "failed", 5)
        refused = httpx.post(f"{sandbox.base('lnbits')}/api/v1/payments", timeout=5,
                             json={"out": True, "bolt11": request.link[len("LIGHTNING:"):]},
                             headers={"X-Api-Key": PAYER_ADMINKEY})
        assert refused.json()["status"] == "failed"        # Lightning: expired is unpayable
        harness.runtime.settle(5, watches=True)
    finally:
        harness.close()
    assert harness.driver is None or harness.driver.vended == []
    assert sandbox.received("lnbits") == []
    with Journal.open_in(harness.config.machine.data_dir) as journal:
        assert journal.transaction(order.tx_id)["status"] == "expired"


def test_money_after_cancel_is_journalled_late_never_vended(harness: Harness, sandbox: Sandbox,
                                                            config: Config) -> None:
    order, request = harness.buy("A1")
    harness.runtime.post(CancelPressed())
    harness.wait_screen(Screen.CANCELLED)
    pay(sandbox, request)             # LNbits has no cancel: the invoice stays payable
    harness.wait_status(order.tx_id, "paid_late")
    assert harness.driver is not None and harness.driver.vended == []


def test_a_spoofed_success_is_never_vended_and_the_money_is_claimed(
        harness: Harness, sandbox: Sandbox, config: Config) -> None:
    order, request = harness.buy("A1")
    httpx.post(f"{sandbox.base('lnbits')}/wallet/pay", timeout=5,
               data={"qr": request.link, "spoof": "1"}).raise_for_status()
    harness.wait_for(lambda: harness.transaction(order.tx_id)["claim_code"] is not None)
    harness.runtime.settle(5, watches=True)
    assert harness.driver is not None and harness.driver.vended == []
    # the harness fixture then checks the money: the 2500 sats that arrived are an open claim
