"""The kiosk's production LNbits client and runtime against a REAL LNbits 1.6.2 server
(tests/lnbits_server.py: FakeWallet, no node): a real invoice paid by a second wallet is verified
and vended; an unpaid invoice expires and nothing is vended; another invoice of the same wallet
paid is never this sale; LNbits stopped mid-sale and restarted: the sale resumes or ends with a
claim, nothing lost."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any


from fakes import simulated_machine, write_kiosk_toml
from harness import Harness, simulated_driver
from kiosk.config import Config, load_config
from kiosk.flow import CancelPressed, CoinChosen, ItemChosen, Screen, StartTapped
from kiosk.journal import Journal
from kiosk.payments.base import PaymentState
from kiosk.payments.lnbits import LnbitsGateway
from kiosk.payments.lnbits_rate import FixedRate
from lnbits_server import LnbitsError, LnbitsServer, Wallet, lnbits_fixture  # noqa: F401

RATE = "1000"                      # sats per USD: A1 at 2.50 USD is 2500 sats


def kiosk_config(tmp_path: Path, lnbits: LnbitsServer, wallet: Wallet,
                 timeout_s: int = 60) -> Config:
    payment = {"gateway": "lnbits", "timeout_s": timeout_s, "poll_interval_s": 0.2,
               "lnbits": {"api_base": lnbits.base_url, "wallet_id": wallet.id,
                          "fixed_rate": RATE, "invoice_key": wallet.inkey}}
    return load_config(write_kiosk_toml(tmp_path, machine={"id": "real-01", "currency": "USD"},
                                        payment=payment, **simulated_machine("no_drop")))


def wallets(lnbits: LnbitsServer) -> tuple[Wallet, Wallet]:
    """The kiosk's wallet (empty) and a customer's, funded."""
    kiosk, customer = lnbits.create_wallet("kiosk"), lnbits.create_wallet("customer")
    lnbits.fund(customer, 1_000_000)
    return kiosk, customer


def scanned(link: str) -> str:
    """What a wallet reads from the QR: the invoice after the scheme (bech32 is one case)."""
    assert link.startswith("LIGHTNING:LNBC") and link == link.upper()
    return link.removeprefix("LIGHTNING:").lower()


def journalled(config: Config, tx_id: str) -> dict[str, Any]:
    with Journal.open_in(config.machine.data_dir) as journal:
        return journal.transaction(tx_id)


def test_a_real_invoice_paid_by_another_wallet_is_verified_and_vended(
        tmp_path: Path, lnbits: LnbitsServer) -> None:
    kiosk, customer = wallets(lnbits)
    config = kiosk_config(tmp_path, lnbits, kiosk)
    harness = Harness(config, simulated_driver(config))
    try:
        order, request = harness.buy("A1")
        assert (request.crypto_amount, request.rate) == (Decimal(2500), Decimal(RATE))
        details = lnbits.payment(kiosk, request.payment_id).json()["details"]
        assert (details["amount"], details["wallet_id"]) == (2_500_000, kiosk.id)
        lnbits.pay(customer, scanned(request.link))
        harness.wait_screen(Screen.THANK_YOU)
        assert harness.driver is not None and harness.driver.vended == ["A1"]
    finally:
        harness.close()
    assert journalled(config, order.tx_id)["status"] == "vended"
    assert lnbits.balance_msat(kiosk) == 2_500_000


def test_the_selftest_call_accepts_the_invoice_key_and_refuses_the_admin_key(
        lnbits: LnbitsServer) -> None:
    kiosk = lnbits.create_wallet("kiosk")
    for key, works in ((kiosk.inkey, True), (kiosk.adminkey, False)):
        gateway = LnbitsGateway(api_base=lnbits.base_url, wallet_id=kiosk.id, invoice_key=key,
                                rates=FixedRate(Decimal(RATE)))
        try:
            said = gateway.check_reachable(Decimal("2.50"), "USD")
            assert works and "2500 sats" in said
        except Exception as exc:  # noqa: BLE001  (the admin key: refused, never used)
            assert not works and "admin key" in str(exc)
        finally:
            gateway.close()


def test_an_unpaid_invoice_expires_and_nothing_is_vended(tmp_path: Path,
                                                         lnbits: LnbitsServer) -> None:
    kiosk, customer = wallets(lnbits)
    config = kiosk_config(tmp_path, lnbits, kiosk, timeout_s=15)
    harness = Harness(config, simulated_driver(config))
    try:
        order, request = harness.buy("A1")
        harness.wait_screen(Screen.EXPIRED, timeout_s=25)
        # Too late: LNbits moves nothing for an expired invoice (Lightning refuses it too).
        attempt = lnbits.pay(customer, scanned(request.link))
        assert attempt["status"] == "failed"
        harness.runtime.settle(5, watches=True)
    finally:
        harness.close()
    assert harness.driver is not None and harness.driver.vended == []
    assert lnbits.balance_msat(kiosk) == 0
    assert journalled(config, order.tx_id)["status"] == "expired"
    assert lnbits.payment(kiosk, request.payment_id).json()["status"] == "failed"


def test_another_invoice_of_the_same_wallet_paid_is_never_this_sale(
        tmp_path: Path, lnbits: LnbitsServer) -> None:
    kiosk, customer = wallets(lnbits)
    config = kiosk_config(tmp_path, lnbits, kiosk)
    harness = Harness(config, simulated_driver(config))
    try:
        order, request = harness.buy("A1")
        # The same wallet, the same amount, the same memo: only the payment hash differs.
        other = lnbits.invoice(kiosk, 2500, order.item_name, expiry=300)
        lnbits.pay(customer, other["bolt11"])
        time.sleep(1.0)                         # five polls of this sale's invoice
        harness.runtime.pump()
        assert harness.runtime.state.screen is Screen.AWAITING_PAYMENT
        gateway = LnbitsGateway(api_base=lnbits.base_url, wallet_id=kiosk.id,
                                invoice_key=kiosk.inkey, rates=FixedRate(Decimal(RATE)))
        assert gateway.status(order, request).state is PaymentState.AWAITING
        gateway.close()
        harness.runtime.post(CancelPressed())
        harness.wait_screen(Screen.CANCELLED)
    finally:
        harness.close()
    assert harness.driver is not None and harness.driver.vended == []
    assert journalled(config, order.tx_id)["status"] == "cancelled"


def settled_or_claimed(config: Config, tx_id: str) -> bool:
    return journalled(config, tx_id)["status"] in ("vended", "paid_late", "refund_due")


def assert_vended_or_claimed(config: Config, harness: Harness, tx_id: str) -> None:
    """Either the sale resumed and vended, or it ended and the money is an open claim."""
    tx = journalled(config, tx_id)
    vended = harness.driver is not None and harness.driver.vended == ["A1"]
    assert (tx["status"] == "vended" and vended) or (
        not vended and tx["status"] in ("paid_late", "refund_due") and tx["claim_code"]), tx


def test_paid_then_lnbits_stopped_and_restarted_the_sale_resumes_or_is_claimed(
        tmp_path: Path, lnbits: LnbitsServer) -> None:
    kiosk, customer = wallets(lnbits)
    config = kiosk_config(tmp_path, lnbits, kiosk, timeout_s=90)
    harness = Harness(config, simulated_driver(config))
    try:
        order, request = harness.buy("A1")
        lnbits.pay(customer, scanned(request.link))
        lnbits.kill()                           # a crash right after the payment settled
        time.sleep(2.0)
        harness.runtime.pump()
        lnbits.start()                          # same port, same data: the payment survives
        harness.wait_for(lambda: settled_or_claimed(config, order.tx_id), 30)
        harness.runtime.settle(5, watches=True)
    finally:
        harness.close()
    assert lnbits.balance_msat(kiosk) == 2_500_000
    assert_vended_or_claimed(config, harness, order.tx_id)


def test_lnbits_stopped_before_the_payment_loses_nothing(tmp_path: Path,
                                                        lnbits: LnbitsServer) -> None:
    kiosk, customer = wallets(lnbits)
    config = kiosk_config(tmp_path, lnbits, kiosk, timeout_s=90)
    harness = Harness(config, simulated_driver(config))
    try:
        order, request = harness.buy("A1")
        lnbits.stop()                           # the server goes away mid-sale
        time.sleep(2.0)
        harness.runtime.pump()
        lnbits.start()
        # FakeWallet forgets its open invoices on a restart and LNbits then fails them: the
        # customer's wallet is refused (a node that kept the invoice would take it).
        try:
            lnbits.pay(customer, scanned(request.link))
        except LnbitsError:
            paid = False
        else:
            paid = lnbits.balance_msat(kiosk) == 2_500_000
        if paid:
            harness.wait_for(lambda: settled_or_claimed(config, order.tx_id), 30)
        else:
            harness.wait_for(lambda: journalled(config, order.tx_id)["status"]
                             in ("payment_failed", "expired"), 30)
        harness.runtime.settle(5, watches=True)
    finally:
        harness.close()
    if paid:
        assert_vended_or_claimed(config, harness, order.tx_id)
    else:
        assert harness.driver is not None and harness.driver.vended == []
        assert lnbits.balance_msat(kiosk) == 0


def test_lnbits_unreachable_is_out_of_service_until_it_answers(tmp_path: Path,
                                                               lnbits: LnbitsServer) -> None:
    kiosk, _ = wallets(lnbits)
    config = kiosk_config(tmp_path, lnbits, kiosk)
    harness = Harness(config, simulated_driver(config))
    try:
        harness.wait_screen(Screen.ATTRACT)
        lnbits.stop()
        # The next customer is the first to notice: the invoice cannot be made, no QR shows.
        harness.runtime.post(StartTapped())
        harness.runtime.post(ItemChosen("A1"))
        harness.wait_screen(Screen.CHOOSE_COIN)  # the detail step (no coin list on Lightning)
        harness.runtime.post(CoinChosen(None))
        harness.wait_screen(Screen.OUT_OF_SERVICE, timeout_s=20)
        assert harness.runtime.state.hardware_fault.startswith("payments unavailable: lnbits")
        lnbits.start()
        harness.wait_screen(Screen.ATTRACT, timeout_s=60)   # re-probed with back-off
    finally:
        harness.close()
    assert harness.driver is not None and harness.driver.vended == []
