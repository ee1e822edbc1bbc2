"""`kiosk demo --headless --gateway G --customers 10` as a subprocess, for each gateway: the whole
product, checked from outside, down to the demo's own money check (every payment the sandbox
received vended, refunded or an open claim) and the journal of each staged scenario."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import KIOSK

from kiosk.demo import WHOLE_PAYMENTS_ONLY, _money_check
from kiosk.journal import Journal
from kiosk.sim import Sandbox
from vending_fleet.store import open_store

FIELDS = {"tx", "slot", "gateway", "asset", "amount", "currency", "payment_link", "outcome"}
CUSTOMER_LINE = re.compile(r"kiosk demo: customer (\d+) \((\w+), slot \w+\): .*\[(\w+)\]$",
                           re.MULTILINE)
MONEY_CHECK = re.compile(r"^kiosk demo: money check: (\d+) payments received, all vended, "
                         r"refunded or claimed$", re.MULTILINE)
# Scenarios in which the phone sends money (at Centrapay a cancel voids the request first).
PAYING = {"pay", "underpay_then_top_up", "part_paid_then_cancel", "pay_while_status_fails",
          "spoofed_success", "cancel_then_pay"}


@dataclass(frozen=True)
class Demo:
    gateway: str
    driver: str
    result: subprocess.CompletedProcess[str]
    data_dir: Path

    @property
    def refunds_by_api(self) -> bool:
        return self.gateway == "centrapay"

    @property
    def scenarios(self) -> list[str]:
        """What each customer played, in order, from the demo's own report."""
        found = CUSTOMER_LINE.findall(self.result.stderr)
        assert [int(number) for number, _, _ in found] == list(range(1, len(found) + 1))
        return [scenario for _, scenario, _ in found]

    def sale_of(self, scenario: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The customer line and the journalled transaction of the one who played it."""
        [index] = [i for i, played in enumerate(self.scenarios) if played == scenario]
        line = json.loads(self.result.stdout.splitlines()[index])
        [tx] = [tx for tx in journal(self.data_dir) if tx["id"] == line["tx"]]
        return line, tx


# Every gateway on the simulated machine, and the real GPIO and MDB drivers on their simulations.
RUNS = [("mixpay", "simulated"), ("wctpay", "simulated"), ("centrapay", "simulated"),
        ("lnbits", "simulated"), ("mixpay", "gpio-mock"), ("mixpay", "mdb-sim")]
RUN_TIMEOUT_S = 600
# The run that also starts the fleet console beside the kiosk, as the interactive demo does
# (its embedded broker, the console, the kiosk's fleet link); the others leave it out, so six
# kiosks at once do not also run six consoles on two cores.
WITH_CONSOLE = ("mixpay", "simulated")


@dataclass(frozen=True)
class Started:
    """A demo running in the background, its output going to files in its data directory."""

    process: subprocess.Popen[str]
    data_dir: Path

    def finish(self) -> subprocess.CompletedProcess[str]:
        self.process.wait(timeout=RUN_TIMEOUT_S)
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode,
            (self.data_dir / "stdout").read_text(), (self.data_dir / "stderr").read_text())


def selected_runs(request: pytest.FixtureRequest) -> set[tuple[str, str]]:
    """The runs this module's selected tests use (all of them, unless ``-k`` picked some)."""
    wanted: set[tuple[str, str]] = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if isinstance(item, pytest.Function) and item.module is request.module \
                and callspec is not None and "demo" in callspec.params:
            wanted.add(callspec.params["demo"])
    return wanted


@pytest.fixture(scope="module")
def started(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], Started]]:
    """Every run the selected tests need, started at once: a run spends nearly all of its two
    minutes waiting on payment windows and gateway faults (a few CPU seconds), so five of them
    overlap on two cores and the module takes about as long as its slowest run."""
    wanted = selected_runs(request)
    runs: dict[tuple[str, str], Started] = {}
    try:
        for gateway, driver in (run for run in RUNS if run in wanted):
            data_dir = tmp_path_factory.mktemp(f"demo-{gateway}-{driver}")
            with open(data_dir / "stdout", "w") as out, open(data_dir / "stderr", "w") as err:
                console = [] if (gateway, driver) == WITH_CONSOLE else ["--no-console"]
                process = subprocess.Popen(
                    [*KIOSK, "demo", "--headless", "--gateway", gateway, "--driver", driver,
                     "--customers", "10", "--data-dir", str(data_dir), "--screenshots",
                     str(data_dir / "shots"), *console], stdout=out, stderr=err, text=True)
            runs[(gateway, driver)] = Started(process, data_dir)
        yield runs
    finally:
        for run in runs.values():
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()


@pytest.fixture(scope="module", params=RUNS, ids=[f"{g}-{d}" for g, d in RUNS])
def demo(request: pytest.FixtureRequest, started: dict[tuple[str, str], Started]) -> Demo:
    gateway, driver = request.param
    run = started[(gateway, driver)]
    return Demo(gateway, driver, run.finish(), run.data_dir)


def journal(data_dir: Path, *options: str) -> list[dict[str, Any]]:
    out = subprocess.run([*KIOSK, "journal", "--data-dir", str(data_dir), "--json", *options],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    transactions: list[dict[str, Any]] = json.loads(out)
    return transactions


def open_claims(data_dir: Path) -> dict[str, dict[str, Any]]:
    """What ``kiosk journal --claims`` shows the operator, by transaction id."""
    return {tx["id"]: tx for tx in journal(data_dir, "--claims")}


def kinds(tx: dict[str, Any]) -> list[str]:
    return [event["kind"] for event in tx["events"]]


def test_every_staged_customer_gets_the_expected_outcome(demo: Demo) -> None:
    result = demo.result
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 10
    assert all(set(line) == FIELDS for line in lines)
    outcomes = Counter(line["outcome"] for line in lines)
    assert outcomes["vended"] >= 3 and outcomes["payment_failed"] >= 2
    assert outcomes["cancelled"] >= 1 and outcomes["expired"] >= 1
    assert outcomes["vend_failed"] >= 1
    assert all(line["gateway"] == demo.gateway for line in lines)
    # Every customer but the one the outage turned away was shown a payment of their own.
    links = [line["payment_link"] for line in lines if line["payment_link"]]
    assert len(links) == len(set(links)) == 9
    new = {"gateway_outage", "pay_while_status_fails", "spoofed_success"}
    if demo.gateway not in WHOLE_PAYMENTS_ONLY:   # Centrapay, Lightning: no part payment
        new.add("part_paid_then_cancel")
    assert new <= set(demo.scenarios)
    assert [mark for _, _, mark in CUSTOMER_LINE.findall(result.stderr)] == ["ok"] * 10


def test_the_demo_console_runs_beside_the_kiosk_and_hears_its_sales(demo: Demo) -> None:
    if (demo.gateway, demo.driver) != WITH_CONSOLE:
        assert "dashboard:" not in demo.result.stderr     # --no-console: none started
        return
    assert re.search(r"^dashboard: http://127\.0\.0\.1:\d+  login: demo / \S+$",
                     demo.result.stderr, re.MULTILINE), demo.result.stderr[-2000:]
    store = open_store(f"sqlite:///{demo.data_dir / 'console' / 'console.db'}")
    try:
        sold = store.sales(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(1))
    finally:
        store.close()
    vended = [json.loads(line) for line in demo.result.stdout.splitlines()
              if json.loads(line)["outcome"] == "vended"]
    assert sorted(sale.tx for sale in sold) == sorted(line["tx"] for line in vended)


def test_the_money_check_holds_the_journal_to_every_payment_received(demo: Demo) -> None:
    [received] = MONEY_CHECK.findall(demo.result.stderr)
    voided = {"cancel_then_pay"} if demo.gateway == "centrapay" else set()
    assert int(received) == sum(1 for s in demo.scenarios if s in PAYING - voided)


def test_the_journal_agrees_with_what_customers_saw(demo: Demo) -> None:
    lines = {json.loads(line)["tx"]: json.loads(line) for line in demo.result.stdout.splitlines()}
    transactions = {tx["id"]: tx for tx in journal(demo.data_dir)}
    assert set(transactions) == set(lines)
    status_for = {"vended": {"vended"}, "vend_failed": {"refund_due", "refunded"},
                  "cancelled": {"cancelled", "paid_late", "refund_due"},
                  "expired": {"expired", "paid_late"},
                  "payment_failed": {"payment_failed", "refund_due", "refunded"}}
    for tx_id, line in lines.items():
        tx = transactions[tx_id]
        events = kinds(tx)
        assert tx["status"] in status_for[line["outcome"]], (line, tx["status"])
        assert events.count("vend_started") <= 1
        assert tx["amount"] == line["amount"] and tx["slot"] == line["slot"]
        assert (tx["payment_link"] or "") == line["payment_link"]  # "": never created
        if line["outcome"] == "vend_failed":
            [result] = [e["detail"] for e in tx["events"] if e["kind"] == "vend_result"]
            expected_outcome = {"gpio-mock": "jam", "mdb-sim": "no_drop"}.get(demo.driver,
                                                                             "jam")
            assert result["outcome"] == expected_outcome, result
        if "vend_started" in events:
            assert events.index("paid_verified") < events.index("vend_started") \
                < events.index("vend_result")


def test_money_after_a_cancel_is_never_dropped(demo: Demo) -> None:
    line, tx = demo.sale_of("cancel_then_pay")
    assert line["outcome"] == "cancelled"
    if demo.gateway == "centrapay":
        assert tx["status"] == "cancelled"  # the cancel voided the request: nothing was paid
        return
    assert tx["status"] == "paid_late" and tx["id"] in open_claims(demo.data_dir)
    assert tx["claim_code"] and "vend_started" not in kinds(tx)


def test_a_part_paid_customer_who_cancels_has_an_open_claim(demo: Demo) -> None:
    if demo.gateway in WHOLE_PAYMENTS_ONLY:  # paid whole or not at all: that one just cancels
        line, tx = demo.sale_of("cancel")
        assert line["outcome"] == "cancelled" and tx["id"] not in open_claims(demo.data_dir)
        return
    line, tx = demo.sale_of("part_paid_then_cancel")
    assert line["outcome"] == "cancelled"
    assert tx["status"] == "refund_due" and tx["id"] in open_claims(demo.data_dir)
    states = [e["detail"].get("state") for e in tx["events"] if e["kind"] == "status_seen"]
    assert "underpaid" in states
    [claim] = [e["detail"] for e in tx["events"] if e["kind"] == "refund_requested"]
    assert claim["method"] == "claim" and claim["claim_code"] == tx["claim_code"]
    assert kinds(tx).index("cancelled") < kinds(tx).index("refund_requested")


def test_a_spoofed_success_is_never_vended_and_leaves_an_open_claim(demo: Demo) -> None:
    line, tx = demo.sale_of("spoofed_success")
    assert line["outcome"] == "payment_failed"
    assert tx["status"] == "refund_due" and tx["id"] in open_claims(demo.data_dir)
    [seen] = [e["detail"] for e in tx["events"] if e["detail"].get("state") == "unverified"]
    assert "verification failed" in seen["reason"]
    assert "paid_verified" not in kinds(tx) and "vend_started" not in kinds(tx)


def test_a_payment_made_while_status_checks_fail_is_found_afterwards(demo: Demo) -> None:
    line, tx = demo.sale_of("pay_while_status_fails")
    assert "vend_started" not in kinds(tx) and tx["claim_code"]
    if demo.refunds_by_api:  # voided after three unanswered polls, then found paid: refunded
        assert line["outcome"] == "payment_failed" and tx["status"] == "refunded"
        assert kinds(tx).index("paid_late") < kinds(tx).index("refund_done")
        return
    assert line["outcome"] == "expired"  # the window closed with the code on screen
    assert tx["status"] == "paid_late" and tx["id"] in open_claims(demo.data_dir)
    assert kinds(tx).index("expired") < kinds(tx).index("paid_late")


def test_an_outage_takes_the_kiosk_out_of_service_and_it_comes_back_by_itself(
        demo: Demo) -> None:
    line, tx = demo.sale_of("gateway_outage")
    assert line["outcome"] == "payment_failed" and line["payment_link"] == ""
    assert tx["status"] == "payment_failed" and tx["claim_code"] is None
    assert "payment_created" not in kinds(tx)  # nothing was asked of the customer
    assert re.search(r"\(gateway_outage, .*then out of service and back \[ok\]",
                     demo.result.stderr)
    # On screen: that customer's failure, out of service, attract, then the next customer's QR.
    index = demo.scenarios.index("gateway_outage")
    assert all(s == "pay" for s in demo.scenarios[:index])  # so the first failure is theirs
    screens = [p.name.split("-", 1)[1].removesuffix(".png")
               for p in sorted((demo.data_dir / "shots").glob("*.png"))]
    after = screens[screens.index("payment_failed"):]
    between = after[:after.index("awaiting_payment")]
    assert "attract" in between[between.index("out_of_service"):]
    served = json.loads(demo.result.stdout.splitlines()[index + 1])
    assert served["payment_link"] and served["outcome"] in ("vended", "vend_failed")


def test_a_failed_vend_is_refunded_or_leaves_a_claim_code(demo: Demo) -> None:
    failed = [tx for tx in journal(demo.data_dir)
              if "vend_result" in {e["kind"] for e in tx["events"]} and tx["status"] != "vended"]
    assert failed
    for tx in failed:
        kinds = [e["kind"] for e in tx["events"]]
        if demo.refunds_by_api:
            assert tx["status"] == "refunded" and "refund_done" in kinds
        else:
            assert tx["status"] == "refund_due" and tx["claim_code"]


def test_screenshots_name_each_screen(demo: Demo) -> None:
    names = sorted(p.name for p in (demo.data_dir / "shots").glob("*.png"))
    screens = {name.split("-", 1)[1].removesuffix(".png") for name in names}
    expected = {"attract", "choose_item", "awaiting_payment", "vending", "thank_you",
                "cancelled", "expired", "vend_failed", "payment_failed", "out_of_service"}
    if demo.gateway not in WHOLE_PAYMENTS_ONLY:   # a coin to pick, a part to pay
        expected |= {"choose_coin", "underpaid"}
    assert expected <= screens


def test_the_demo_money_check_fails_naming_each_unsettled_payment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Journal.open_in(tmp_path).close()  # a kiosk that never journalled the sale
    with Sandbox() as sandbox, httpx.Client() as phone:
        trace_id = str(uuid.uuid4())
        phone.post(f"{sandbox.mixpay_api_base}/one_time_payment", json={
            "payeeId": str(uuid.uuid4()), "quoteAmount": "2.50", "quoteAssetId": "usd",
            "settlementAssetId": "4d8c508b-91c5-375b-92b0-ee702ed2dac5", "traceId": trace_id,
            "expiredTimestamp": int(time.time()) + 60}).raise_for_status()
        phone.post(f"{sandbox.checkout_base}/code/{trace_id}/pay").raise_for_status()
        assert not _money_check(tmp_path, sandbox, "mixpay")
    assert capsys.readouterr().err.splitlines() == [
        "kiosk demo: money check: 1 problem(s) with the 1 payments received",
        (f"kiosk demo: money check: 0.00004167 BTC received for {trace_id}, a sale the journal "
         "does not know")]
