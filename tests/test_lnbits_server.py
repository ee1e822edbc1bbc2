"""The real-LNbits fixture (tests/lnbits_server.py) works, and LNbits 1.6.2 answers as its
docstring records: invoices, internal payments, the status endpoint's shapes (pending, paid,
expired, another wallet's invoice, an unknown hash), expiry, and a restart that keeps the data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from lnbits_server import (  # noqa: F401  (fixtures)
    LnbitsError,
    LnbitsServer,
    Wallet,
    lnbits_fixture,
    module_lnbits_fixture,
)

HEX64 = 64
NOT_FOUND = {"detail": "Payment does not exist."}


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _processes_in(directory: Path) -> list[int]:
    """Pids of the processes whose working directory is ``directory``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if Path(os.readlink(proc / "cwd")) == directory:
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def _status(server: LnbitsServer, key: str | Wallet | None, payment_hash: str
            ) -> tuple[int, dict]:
    reply = server.api("GET", f"/api/v1/payments/{payment_hash}", key)
    return reply.status_code, reply.json()


def _wait_past(expiry_s: float, created: float) -> None:
    time.sleep(max(0.0, created + expiry_s + 1.2 - time.monotonic()))


@pytest.fixture(scope="module")
def shop_and_payer(module_lnbits: LnbitsServer) -> tuple[Wallet, Wallet]:
    shop = module_lnbits.create_wallet("shop")
    payer = module_lnbits.create_wallet("payer")
    module_lnbits.fund(payer, 100_000)
    return shop, payer


def test_health_wallets_and_funding(module_lnbits: LnbitsServer) -> None:
    health = httpx.get(f"{module_lnbits.base_url}/api/v1/health", timeout=5)
    assert health.status_code == 200, health.text
    wallet = module_lnbits.create_wallet("fresh")
    assert len(wallet.id) == 32 and len(wallet.adminkey) == 32 and len(wallet.inkey) == 32
    assert wallet.name == "fresh" and wallet.user
    assert module_lnbits.balance_msat(wallet) == 0
    module_lnbits.fund(wallet, 1234)
    assert module_lnbits.balance_msat(wallet) == 1_234_000
    # the wallet endpoint with the invoice key: id, name, balance (msat)
    info = module_lnbits.api("GET", "/api/v1/wallet", wallet.inkey).json()
    assert info["name"] == "fresh" and info["balance"] == 1_234_000


def test_invoice_paid_by_another_wallet(module_lnbits: LnbitsServer,
                                        shop_and_payer: tuple[Wallet, Wallet]) -> None:
    server = module_lnbits
    shop, payer = shop_and_payer
    shop_before, payer_before = server.balance_msat(shop), server.balance_msat(payer)

    invoice = server.invoice(shop, 2500, "vend A2", expiry=300)
    payment_hash = invoice["payment_hash"]
    assert len(payment_hash) == HEX64 and invoice["checking_id"] == payment_hash
    assert invoice["amount"] == 2_500_000 and invoice["fee"] == 0  # msat
    assert invoice["bolt11"].startswith("lnbc25u1") and invoice["payment_request"] == \
        invoice["bolt11"]
    assert invoice["status"] == "pending" and "paid" not in invoice
    assert invoice["memo"] == "vend A2" and invoice["wallet_id"] == shop.id
    assert invoice["expiry"] and invoice["extra"] == {} and invoice["webhook"] is None

    # pending, read with the shop's invoice key
    code, pending = _status(server, shop, payment_hash)
    assert code == 200
    assert set(pending) == {"paid", "status", "preimage", "details"}
    assert pending["paid"] is False and pending["status"] == "pending"
    assert pending["preimage"] is None  # hidden until paid
    details = pending["details"]
    assert details["payment_hash"] == payment_hash and details["wallet_id"] == shop.id
    assert details["amount"] == 2_500_000 and details["status"] == "pending"
    assert details["memo"] == "vend A2" and details["bolt11"] == invoice["bolt11"]
    assert details["expiry"].endswith("+00:00") and details["labels"] == []
    # ... with the admin key alike
    assert _status(server, shop.adminkey, payment_hash)[1]["status"] == "pending"

    # another wallet's key: as if there were no such payment; an unknown hash likewise
    assert _status(server, payer, payment_hash) == (404, NOT_FOUND)
    assert _status(server, shop, "00" * 32) == (404, NOT_FOUND)
    assert _status(server, shop, "not-a-hash") == (404, NOT_FOUND)
    # no key, or a key of no wallet: the public shape, {paid, preimage} only (no 401!)
    assert _status(server, None, payment_hash) == (200, {"paid": False, "preimage": None})
    assert _status(server, "0" * 32, payment_hash) == (200, {"paid": False, "preimage": None})

    # the payer pays with its admin key; an invoice key may not
    refused = server.api("POST", "/api/v1/payments", payer.inkey,
                         json={"out": True, "bolt11": invoice["bolt11"]})
    assert refused.status_code == 403, refused.text
    assert refused.json() == {"detail": "Invoice (or Admin) key required."}
    paid_out = server.pay(payer, invoice["bolt11"])
    assert paid_out["status"] == "success" and paid_out["wallet_id"] == payer.id
    assert paid_out["amount"] == -2_500_000 and paid_out["fee"] == 0
    assert paid_out["checking_id"] == f"internal_{payment_hash}"
    assert paid_out["payment_hash"] == payment_hash and len(paid_out["preimage"]) == HEX64

    # paid: no "status" key at the top any more (only in details)
    code, paid = _status(server, shop, payment_hash)
    assert code == 200
    assert set(paid) == {"paid", "preimage", "details"}
    assert paid["paid"] is True and paid["preimage"] == paid_out["preimage"]
    assert paid["details"]["status"] == "success" and paid["details"]["amount"] == 2_500_000
    assert _status(server, None, payment_hash) == (
        200, {"paid": True, "preimage": paid_out["preimage"]})
    # the payer's key now finds the payer's own (outgoing) payment of that hash
    code, outgoing = _status(server, payer, payment_hash)
    assert code == 200 and outgoing["paid"] is True
    assert outgoing["details"]["wallet_id"] == payer.id
    assert outgoing["details"]["amount"] == -2_500_000

    # paying it again is refused
    again = server.api("POST", "/api/v1/payments", payer.adminkey,
                       json={"out": True, "bolt11": invoice["bolt11"]})
    assert again.status_code == 520
    assert again.json() == {"detail": "Internal invoice already paid.", "status": "failed"}
    with pytest.raises(LnbitsError) as refused_error:
        server.pay(payer, invoice["bolt11"])
    assert refused_error.value.status == 520 and str(server.log) in str(refused_error.value)

    assert server.balance_msat(shop) == shop_before + 2_500_000
    assert server.balance_msat(payer) == payer_before - 2_500_000


def test_payment_errors(module_lnbits: LnbitsServer,
                        shop_and_payer: tuple[Wallet, Wallet]) -> None:
    server = module_lnbits
    shop, payer = shop_and_payer
    big = server.invoice(shop, 10_000_000, "too much")
    short = server.api("POST", "/api/v1/payments", payer.adminkey,
                       json={"out": True, "bolt11": big["bolt11"]})
    assert (short.status_code, short.json()) == (
        520, {"detail": "Insufficient balance.", "status": "failed"})
    garbage = server.api("POST", "/api/v1/payments", payer.adminkey,
                         json={"out": True, "bolt11": "lnbc1garbage"})
    assert (garbage.status_code, garbage.json()) == (
        520, {"detail": "Bolt11 decoding failed.", "status": "failed"})
    no_wallet = server.api("POST", "/api/v1/payments", "0" * 32,
                           json={"out": False, "amount": 5})
    assert (no_wallet.status_code, no_wallet.json()) == (404, {"detail": "Wallet not found."})


def test_expired_invoice_reads_failed_and_is_not_paid(
        module_lnbits: LnbitsServer, shop_and_payer: tuple[Wallet, Wallet]) -> None:
    server = module_lnbits
    shop, payer = shop_and_payer
    created = time.monotonic()
    invoice = server.invoice(shop, 700, "expires", expiry=2)
    payment_hash = invoice["payment_hash"]
    assert _status(server, shop, payment_hash)[1]["status"] == "pending"
    _wait_past(2, created)

    # the first read after the expiry marks it failed (label "expired") ...
    code, first = _status(server, shop, payment_hash)
    assert code == 200
    assert set(first) == {"paid", "status", "preimage", "details"}
    assert first["paid"] is False and first["status"] == "failed" and first["preimage"] is None
    assert first["details"]["status"] == "failed" and first["details"]["labels"] == ["expired"]
    # ... later reads take the "failed" branch: no "preimage" key at all
    code, later = _status(server, shop, payment_hash)
    assert code == 200 and set(later) == {"paid", "status", "details"}
    assert later["paid"] is False and later["status"] == "failed"
    assert _status(server, None, payment_hash) == (200, {"paid": False, "status": "failed"})

    # paying it now is not an error (201!) but moves nothing: the reply is the INVOICE's own
    # record (the shop's wallet, amount positive, status failed)
    payer_before = server.balance_msat(payer)
    shop_before = server.balance_msat(shop)
    attempt = server.api("POST", "/api/v1/payments", payer.adminkey,
                         json={"out": True, "bolt11": invoice["bolt11"]})
    assert attempt.status_code == 201, attempt.text
    body = attempt.json()
    assert body["status"] == "failed" and body["wallet_id"] == shop.id
    assert body["amount"] == 700_000 and body["payment_hash"] == payment_hash
    assert server.balance_msat(payer) == payer_before
    assert server.balance_msat(shop) == shop_before
    assert _status(server, shop, payment_hash)[1]["paid"] is False
    outgoing = server.api("GET", "/api/v1/payments", payer).json()
    assert all(p["payment_hash"] != payment_hash for p in outgoing)


def test_expired_invoice_nobody_polled_can_still_be_paid(
        module_lnbits: LnbitsServer, shop_and_payer: tuple[Wallet, Wallet]) -> None:
    """LNbits marks an incoming invoice expired only when its status is read (or at startup):
    until then an internal payment of it goes through, after its expiry."""
    server = module_lnbits
    shop, payer = shop_and_payer
    created = time.monotonic()
    invoice = server.invoice(shop, 800, "late payer", expiry=2)
    _wait_past(2, created)
    shop_before = server.balance_msat(shop)
    paid_out = server.pay(payer, invoice["bolt11"])
    assert paid_out["status"] == "success"
    code, status = _status(server, shop, invoice["payment_hash"])
    assert code == 200 and status["paid"] is True
    assert status["details"]["status"] == "success" and status["details"]["labels"] == []
    assert server.balance_msat(shop) == shop_before + 800_000


def test_stop_and_restart_keep_wallets_and_invoices(lnbits: LnbitsServer) -> None:
    server = lnbits
    shop, payer = server.create_wallet("shop"), server.create_wallet("payer")
    server.fund(payer, 10_000)
    paid = server.invoice(shop, 1000, "paid before")
    server.pay(payer, paid["bolt11"])
    open_invoice = server.invoice(shop, 1500, "open across the restart", expiry=600)
    port = server.port

    server.stop()
    assert not server.running and not _port_open(port)
    with pytest.raises(LnbitsError):
        server.create_wallet("while down")

    server.start()
    assert server.port == port and server.running
    assert server.balance_msat(shop) == 1_000_000
    assert server.balance_msat(payer) == 9_000_000
    assert _status(server, shop, paid["payment_hash"])[1]["paid"] is True
    # FakeWallet forgot the open invoice: LNbits' startup check marked it failed
    code, was_open = _status(server, shop, open_invoice["payment_hash"])
    assert code == 200 and set(was_open) == {"paid", "status", "details"}
    assert was_open["paid"] is False and was_open["status"] == "failed"
    assert was_open["details"]["status"] == "failed" and was_open["details"]["labels"] == []
    late = server.api("POST", "/api/v1/payments", payer.adminkey,
                      json={"out": True, "bolt11": open_invoice["bolt11"]})
    assert (late.status_code, late.json()) == (
        520, {"detail": "Payment is failed node, retrying is not possible.", "status": "failed"})
    assert server.balance_msat(payer) == 9_000_000
    # a new invoice after the restart is paid as usual
    fresh = server.invoice(shop, 1500, "after the restart")
    server.pay(payer, fresh["bolt11"])
    assert _status(server, shop, fresh["payment_hash"])[1]["paid"] is True
    server.fund(payer, 1)  # the super user is logged in again

    server.kill()  # a crash: the data is still there (SQLite)
    assert not _port_open(port)
    server.start()
    assert server.balance_msat(shop) == 2_500_000


def test_server_dies_with_its_test_process(tmp_path: Path) -> None:
    """A server whose pytest process is SIGKILLed goes too, uvicorn child and all."""
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); "
            "from lnbits_server import LnbitsServer; "
            "s = LnbitsServer(__import__('pathlib').Path(sys.argv[2])).start(); "
            "print(s.port, flush=True); time.sleep(600)")
    child = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent),
                              str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        assert _port_open(port)
        assert len(_processes_in(tmp_path / "run")) >= 2  # lnbits and its uvicorn child
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5)
        deadline = time.monotonic() + 10
        while (_port_open(port) or _processes_in(tmp_path / "run")) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _port_open(port), "LNbits outlived the process that started it"
        assert not _processes_in(tmp_path / "run")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)


def test_lnurl_withdraw_extension_offline(lnbits: LnbitsServer) -> None:
    """The LNURL-withdraw extension (lnbits/withdraw, not in the lnbits package) installed from
    a local zip: a refund voucher a customer's wallet redeems. Needs the zip:
    ``VK_LNBITS_WITHDRAW_ZIP`` (``git archive --format zip --prefix=withdraw-1.2.2/ v1.2.2`` in
    a clone of https://github.com/lnbits/withdraw)."""
    archive = os.environ.get("VK_LNBITS_WITHDRAW_ZIP")
    if not archive:
        pytest.skip("VK_LNBITS_WITHDRAW_ZIP unset (a zip of lnbits/withdraw v1.2.2)")
    server = lnbits
    server.install_extension(Path(archive), "withdraw", "1.2.2", min_lnbits_version="1.3.0")
    refunds = server.admin_wallet("refunds")  # the super user's: the extension is enabled there
    server.fund(refunds, 5000)
    created = server.api("POST", "/withdraw/api/v1/links", refunds.adminkey, json={
        "title": "refund", "min_withdrawable": 100, "max_withdrawable": 100, "uses": 1,
        "wait_time": 1, "is_unique": False})
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["lnurl"].startswith("LNURL1")
    offer = httpx.get(link["lnurl_url"], timeout=5).json()
    assert offer["tag"] == "withdrawRequest" and offer["maxWithdrawable"] == 100_000

    customer = server.create_wallet("customer")
    invoice = server.invoice(customer, 100, "refund")
    deadline = time.monotonic() + 10
    while True:  # the link opens wait_time after its creation ("Wait 2 seconds.")
        answer = httpx.get(offer["callback"], params={"k1": offer["k1"],
                                                      "pr": invoice["bolt11"]}, timeout=5).json()
        if answer.get("status") == "OK" or time.monotonic() > deadline:
            break
        assert answer["reason"].startswith("Wait"), answer
        time.sleep(0.5)
    assert answer == {"status": "OK"}
    deadline = time.monotonic() + 10
    while not _status(server, customer, invoice["payment_hash"])[1]["paid"]:
        assert time.monotonic() < deadline, "the voucher was not paid out"
        time.sleep(0.2)
    assert server.balance_msat(customer) == 100_000
    assert server.balance_msat(refunds) == 4_900_000
