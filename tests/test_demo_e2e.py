"""`kiosk demo --headless --customers 10` as a subprocess: the whole product, checked from outside."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

KIOSK = [sys.executable, "-m", "kiosk"]
FIELDS = {"tx", "slot", "gateway", "asset", "amount", "currency", "payment_link", "outcome"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    data_dir = tmp_path_factory.mktemp("demo")
    shots = data_dir / "shots"
    result = subprocess.run(
        [*KIOSK, "demo", "--headless", "--customers", "10", "--data-dir", str(data_dir),
         "--screenshots", str(shots)],
        capture_output=True, text=True, timeout=600)
    return result, data_dir


def journal(data_dir: Path) -> list[dict[str, Any]]:
    out = subprocess.run([*KIOSK, "journal", "--data-dir", str(data_dir), "--json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def test_every_staged_customer_gets_the_expected_outcome(demo: Any) -> None:
    result, _ = demo
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 10
    assert all(set(line) == FIELDS for line in lines)
    outcomes = Counter(line["outcome"] for line in lines)
    assert outcomes["vended"] >= 5
    assert outcomes["cancelled"] >= 1 and outcomes["expired"] >= 1
    assert outcomes["vend_failed"] >= 1
    assert all(line["gateway"] == "mixpay" and line["currency"] == "USD" for line in lines)
    assert all("/code/" + line["tx"] in line["payment_link"] for line in lines)


def test_the_journal_agrees_with_what_customers_saw(demo: Any) -> None:
    result, data_dir = demo
    lines = {json.loads(line)["tx"]: json.loads(line) for line in result.stdout.splitlines()}
    transactions = {tx["id"]: tx for tx in journal(data_dir)}
    assert set(transactions) == set(lines)
    status_for = {"vended": {"vended"}, "vend_failed": {"refund_due"},
                  "cancelled": {"cancelled", "paid_late"}, "expired": {"expired"}}
    for tx_id, line in lines.items():
        tx = transactions[tx_id]
        kinds = [event["kind"] for event in tx["events"]]
        assert tx["status"] in status_for[line["outcome"]], (line, tx["status"])
        assert kinds.count("vend_started") <= 1
        assert tx["amount"] == line["amount"] and tx["slot"] == line["slot"]
        if "vend_started" in kinds:
            assert kinds.index("paid_verified") < kinds.index("vend_started") \
                < kinds.index("vend_result")


def test_money_after_a_cancel_is_flagged_for_refund(demo: Any) -> None:
    _, data_dir = demo
    late = [tx for tx in journal(data_dir) if tx["status"] == "paid_late"]
    assert len(late) == 1
    assert late[0]["claim_code"] and "vend_started" not in {e["kind"] for e in late[0]["events"]}


def test_a_failed_vend_leaves_a_claim_code(demo: Any) -> None:
    _, data_dir = demo
    failed = [tx for tx in journal(data_dir) if tx["status"] == "refund_due"]
    assert failed and all(tx["claim_code"] for tx in failed)


def test_screenshots_name_each_screen(demo: Any) -> None:
    _, data_dir = demo
    names = sorted(p.name for p in (data_dir / "shots").glob("*.png"))
    screens = {name.split("-", 1)[1].removesuffix(".png") for name in names}
    assert {"attract", "choose_item", "choose_coin", "awaiting_payment", "vending",
            "thank_you", "cancelled", "expired", "vend_failed", "underpaid"} <= screens
