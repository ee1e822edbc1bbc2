"""The `kiosk` command as operators and technicians use it: real subprocesses."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from fakes import KIOSK, WATER, mixpay_table, write_kiosk_toml

from kiosk.sim import Sandbox

EXAMPLE = Path(__file__).resolve().parent.parent / "assets" / "kiosk.example.toml"


def kiosk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, *args], capture_output=True, text=True, timeout=timeout)


def test_check_config_refuses_the_unfilled_example_saying_what_to_fill_in(
        tmp_path: Path) -> None:
    result = kiosk("check-config", str(EXAMPLE))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{EXAMPLE}: [payment.mixpay] payee_id: not configured: still a placeholder" \
        in result.stdout
    assert "put your MixPay payee id here" in result.stdout
    assert f"{EXAMPLE}: [machine] support: not configured" in result.stdout
    filled = tmp_path / "kiosk.toml"
    filled.write_text(EXAMPLE.read_text()
                      .replace("00000000-0000-4000-8000-000000000000",
                               "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e")
                      .replace('"+1 555 0100 / help@example.com"', '"+1 202 555 0173"'))
    ok = kiosk("check-config", str(filled))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK (4 slots, gateway mixpay, driver simulated)" in ok.stdout


def test_run_with_an_unfilled_config_sells_nothing_and_says_why(tmp_path: Path) -> None:
    """A scripted run (``--autopilot``) exits 2 with every error, never a traceback; the
    service itself stays up out of service (tests/test_out_of_service.py)."""
    config = tmp_path / "kiosk.toml"
    config.write_text(EXAMPLE.read_text().replace('"/var/lib/vending-kiosk"',
                                                  f'"{tmp_path / "data"}"'))
    result = kiosk("run", "--config", str(config), "--headless", "--autopilot", "1")
    assert result.returncode == 2
    assert "[payment.mixpay] payee_id: not configured" in result.stdout
    assert "Traceback" not in result.stderr and result.stdout.count("\n") == 3
    assert not (tmp_path / "data").exists()               # no journal: nothing was sold


def test_check_config_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "kiosk.toml"
    bad.write_text('[machine]\ncurrency = "USD"\ncolour = "red"\n\n[payment]\ngateway = "mixpay"\n'
                   '\n[vend]\ndriver = "simulated"\n\n[[slot]]\nid = "A1"\nname = "Water"\n'
                   'price = 2.5\n')
    result = kiosk("check-config", str(bad))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert any(str(bad) in line and "[machine] colour" in line for line in lines)
    assert any("[slot[0]] price" in line and '"2.5"' in line for line in lines)
    assert any("[payment.mixpay]" in line and "payee_id" in line for line in lines)
    assert lines[-1].endswith("errors in the configuration")


def test_journal_of_an_empty_data_dir_says_so(tmp_path: Path) -> None:
    result = kiosk("journal", "--data-dir", str(tmp_path), "--json")
    assert result.returncode == 1 and "no journal" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sandbox_command_serves_the_mixpay_api() -> None:
    port = free_port()
    process = subprocess.Popen([*KIOSK, "sandbox", "--port", str(port)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        reply = httpx.get(f"http://127.0.0.1:{port}/mixpay/v1/setting/payment_assets", timeout=5)
        assert reply.status_code == 200 and reply.json()["success"] is True
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.sandbox(confirm_s=0.3)
def test_run_with_autopilot_sells_through_the_real_ui(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_kiosk_toml(
        tmp_path, machine={"wait_for_time_sync": False},
        display={"width": 800, "height": 480},
        payment={"timeout_s": 30, "poll_interval_s": 0.5, "mixpay": mixpay_table(sandbox.url)},
        vend={"driver": "simulated", "simulated": {"turn_time_s": 0}},
        slots=({**WATER, "stock": 2},))
    secrets = tmp_path / "secrets.toml"   # readable by everyone: it sells, with a warning
    secrets.write_text("")
    secrets.chmod(0o644)
    paid: list[str] = []
    threading.Thread(target=pay_first_payment, args=(sandbox, paid), daemon=True).start()
    result = kiosk("run", "--config", str(config), "--headless", "--autopilot", "1",
                   "--screenshots", str(tmp_path / "shots"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"WARNING kiosk: config: {secrets}" in result.stderr
    assert "readable by group or others" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 1 and lines[0]["outcome"] == "vended" and lines[0]["tx"] in paid[0]
    shots = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert shots[0].startswith("0001-") and any(n.endswith("-thank_you.png") for n in shots)


def pay_first_payment(sandbox: Sandbox, paid: list[str]) -> None:
    """The customer's phone: wait for the kiosk's payment to exist, then pay it."""
    deadline = time.monotonic() + 60
    while not sandbox.codes() and time.monotonic() < deadline:
        time.sleep(0.1)
    code = sandbox.codes()[0]
    link = f"{sandbox.checkout_base}/code/{code}"
    httpx.post(f"{link}/pay", timeout=5).raise_for_status()
    paid.append(link)


def test_journal_claims_lists_only_open_claims(tmp_path: Path) -> None:
    from decimal import Decimal

    from kiosk.claims import claim_code
    from kiosk.journal import Journal
    from kiosk.payments.base import Order, PaymentRequest

    with Journal.open_in(tmp_path) as journal:
        for tx_id, fails in (("tx-ok", False), ("tx-jam", True)):
            order = Order(tx_id, "A1", "Water", Decimal("2.50"), "USD", None, 2_000_000_000)
            journal.begin(order, "mixpay")
            journal.payment_created(tx_id, PaymentRequest(tx_id, f"https://x/{tx_id}",
                                                          2_000_000_000))
            journal.paid_verified(tx_id, {})
            journal.start_vend(tx_id)
            journal.vend_result(tx_id, "jam" if fails else "vended", {}, disable_slot=fails)
        journal.claim_issued("tx-jam", claim_code("tx-jam"), "vend jam")
    result = kiosk("journal", "--data-dir", str(tmp_path), "--claims", "--json")
    claims = json.loads(result.stdout)
    assert [(c["id"], c["claim_code"]) for c in claims] == [("tx-jam", claim_code("tx-jam"))]
    text = kiosk("journal", "--data-dir", str(tmp_path), "--claims").stdout
    assert claim_code("tx-jam") in text and "tx-ok" not in text
