"""Alert rules (vending_fleet.alerts) on the real SQLite store fed with the fleet protocol's
payloads on a clock the test moves, and their delivery to a real loopback webhook."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from console_parts import RecordingHub, sqlite_store_fixture
from brokers import free_ports

from vending_fleet.alerts import AlertChange, Alerter, AlertRules
from vending_fleet.model import Store
from vending_fleet.webhook import Webhook, check_url

__all__ = ["sqlite_store_fixture"]   # found by pytest

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
M = "m-001"
JOURNAL = "6094013b7fc6"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **span: float) -> datetime:
        self.now += timedelta(**span)
        return self.now


class Machine:
    """One kiosk's messages, shaped as docs/fleet-protocol.md shows them, into the store."""

    def __init__(self, store: Store, clock: Clock, machine: str = M) -> None:
        self.store, self.clock, self.id, self.seq = store, clock, machine, 0

    def _next(self) -> dict[str, Any]:
        self.seq += 1
        return {"id": f"{JOURNAL}-{self.seq}", "machine": self.id,
                "at": self.clock.now.isoformat()}

    def status(self, online: bool = True, in_service: bool = True, reason: str = "") -> None:
        self.store.record_status(self.id, {"online": online, "machine": self.id,
                                           "version": "0.1.0", "in_service": in_service,
                                           "reason": reason}, self.clock.now)

    def state(self, *slots: tuple[str, int, bool, str]) -> None:
        """``slots``: (slot, stock, enabled, disabled_reason)."""
        self.store.record_state(self.id, {
            **self._next(), "kind": "state", "currency": "USD",
            "slots": [{"slot": slot, "name": f"Item {slot}", "price": "2.50", "stock": stock,
                       "enabled": enabled, "disabled_reason": why}
                      for slot, stock, enabled, why in slots],
            "config_version": "3b1f0c9d2e7a", "open_claims": 0,
            "sales_today": {"count": 0, "amount": "0.00"},
            "health": {"in_service": True, "reason": ""}}, self.clock.now)

    def sale_step(self, tx: str, kind: str, status: str, slot: str = "A1",
                  detail: Mapping[str, Any] | None = None) -> None:
        assert self.store.record_event(self.id, {
            **self._next(), "group": "sale", "kind": kind, "tx": tx, "status": status,
            "slot": slot, "item": f"Item {slot}", "amount": "2.50", "currency": "USD",
            "gateway": "mixpay", "asset": "USDT", "detail": dict(detail or {})}, self.clock.now)

    def vend(self, tx: str, outcome: str = "vended", slot: str = "A1") -> None:
        status = {"vended": "vended", "unknown": "vend_unknown"}.get(outcome, "vend_failed")
        self.sale_step(tx, "vend_result", status, slot, {"outcome": outcome})

    def operator(self, kind: str, **detail: Any) -> None:
        assert self.store.record_event(self.id, {**self._next(), "group": "operator",
                                                 "kind": kind, "detail": detail},
                                       self.clock.now)




@pytest.fixture
def clock() -> Clock:      # overrides conftest's: this one moves datetimes
    return Clock()


@pytest.fixture
def hub() -> RecordingHub:
    return RecordingHub()


@pytest.fixture
def alerter(store: Store, hub: RecordingHub, clock: Clock) -> Alerter:
    return Alerter(store, hub, AlertRules(), clock=clock)


@pytest.fixture
def machine(store: Store, clock: Clock) -> Machine:
    kiosk = Machine(store, clock)
    kiosk.status()
    kiosk.state(("A1", 40, True, ""), ("A2", 40, True, ""))
    return kiosk


def changed(changes: list[AlertChange]) -> set[tuple[str, str]]:
    return {(change.state, change.alert.key) for change in changes}


def open_keys(store: Store) -> set[str]:
    return {alert.key for alert in store.alerts()}


def test_a_healthy_machine_raises_nothing(alerter: Alerter, machine: Machine) -> None:
    assert alerter.evaluate() == []


def test_offline_is_raised_once_while_it_holds_and_cleared_when_heard_again(
        alerter: Alerter, machine: Machine, clock: Clock, store: Store,
        hub: RecordingHub) -> None:
    clock.advance(minutes=14)
    assert alerter.evaluate() == []
    clock.advance(minutes=2)                              # silent for 16 minutes
    assert changed(alerter.evaluate()) == {("raised", f"offline:{M}")}
    clock.advance(minutes=5)
    assert alerter.evaluate() == []                       # holds: not raised again
    [alert] = store.alerts()
    assert alert.rule == "offline" and "silent since" in alert.message
    machine.status()                                      # heard from again
    assert changed(alerter.evaluate()) == {("cleared", f"offline:{M}")}
    assert open_keys(store) == set()
    states = [data["state"] for kind, data in hub.updates if kind == "alert"]
    assert states == ["raised", "cleared"]
    machine.status(online=False, in_service=False, reason="connection lost")   # the will
    [change] = alerter.evaluate()
    assert change.alert.key == f"offline:{M}" and "connection lost" in change.alert.message


def test_out_of_service_and_a_failing_gateway(alerter: Alerter, machine: Machine,
                                              store: Store) -> None:
    machine.status(in_service=False, reason="out of service: restocking")
    [change] = alerter.evaluate()
    assert change.alert.key == f"out_of_service:{M}" and "restocking" in change.alert.message
    # kiosk.gateway_health: "payments unavailable: <the gateway's failure>"
    machine.status(in_service=False, reason="payments unavailable: mixpay: timed out")
    assert changed(alerter.evaluate()) == {("raised", f"gateway:{M}"),
                                           ("cleared", f"out_of_service:{M}")}
    machine.status(in_service=False,
                   reason="payment status unavailable: mixpay answered HTTP 502")
    assert alerter.evaluate() == []                       # the gateway still fails
    machine.status()
    assert changed(alerter.evaluate()) == {("cleared", f"gateway:{M}")}


def test_sold_out_low_stock_and_a_slot_disabled_by_a_fault(alerter: Alerter, machine: Machine,
                                                           store: Store) -> None:
    machine.state(("A1", 0, True, ""), ("A2", 2, True, ""), ("B1", 0, False, "operator"),
                  ("B2", 9, False, "3 failed vends in a row"), ("B3", 3, True, ""))
    assert changed(alerter.evaluate()) == {("raised", f"sold_out:{M}:A1"),
                                           ("raised", f"low_stock:{M}:A2"),
                                           ("raised", f"slot_disabled:{M}:B2")}
    alerts = {alert.key: alert for alert in store.alerts()}
    assert alerts[f"low_stock:{M}:A2"].message == "slot A2 (Item A2): 2 left"
    assert "3 failed vends in a row" in alerts[f"slot_disabled:{M}:B2"].message
    machine.state(("A1", 1, True, ""), ("A2", 2, True, ""), ("B1", 0, False, "operator"),
                  ("B2", 9, True, ""), ("B3", 3, True, ""))
    assert changed(alerter.evaluate()) == {("cleared", f"sold_out:{M}:A1"),
                                           ("raised", f"low_stock:{M}:A1"),
                                           ("cleared", f"slot_disabled:{M}:B2")}
    machine.state(("A1", 20, True, ""), ("A2", 20, True, ""))
    assert changed(alerter.evaluate()) == {("cleared", f"low_stock:{M}:A1"),
                                           ("cleared", f"low_stock:{M}:A2")}


def test_no_sales_only_for_a_machine_in_service_that_sold_before(
        alerter: Alerter, machine: Machine, clock: Clock) -> None:
    clock.advance(hours=7)
    machine.status()
    assert alerter.evaluate() == []                       # never sold: nothing to miss
    machine.vend("tx-1")
    clock.advance(hours=5, minutes=59)
    machine.status()
    assert alerter.evaluate() == []
    clock.advance(minutes=2)
    machine.status()
    [change] = alerter.evaluate()
    assert change.alert.key == f"no_sales:{M}" and "no sale for 6 h" in change.alert.message
    machine.status(in_service=False, reason="out of service: restocking")
    assert changed(alerter.evaluate()) == {("cleared", f"no_sales:{M}"),
                                           ("raised", f"out_of_service:{M}")}
    machine.status()
    assert changed(alerter.evaluate()) == {("raised", f"no_sales:{M}"),
                                           ("cleared", f"out_of_service:{M}")}
    machine.vend("tx-2")
    assert changed(alerter.evaluate()) == {("cleared", f"no_sales:{M}")}


def test_vend_failures_in_a_row_or_within_an_hour(alerter: Alerter, machine: Machine,
                                                  clock: Clock) -> None:
    key = f"vend_failures:{M}"
    machine.vend("tx-1", "no_drop")
    machine.vend("tx-2", "unknown", slot="A2")
    assert alerter.evaluate() == []
    machine.vend("tx-3", "jam")
    [change] = alerter.evaluate()
    assert change.alert.key == key and "3 failed vends in a row" in change.alert.message
    machine.vend("tx-4")                                  # a success ends the row...
    assert alerter.evaluate() == []                       # ...but 3 failed within the hour
    clock.advance(minutes=61)
    machine.status()
    assert changed(alerter.evaluate()) == {("cleared", key)}
    # spread out but within an hour, with successes between them
    for n in range(3):
        machine.vend(f"tx-f{n}", "motor_fault", slot="A2")
        machine.vend(f"tx-s{n}")
        clock.advance(minutes=10)
    machine.status()
    [change] = alerter.evaluate()
    assert "3 failed vends within 1 h" in change.alert.message
    machine.operator("slot_enabled", slot="A2", source="fleet", command="c-1")  # fixed
    assert changed(alerter.evaluate()) == {("cleared", key)}


def test_claims_open_longer_than_a_day(alerter: Alerter, machine: Machine, clock: Clock,
                                       store: Store) -> None:
    machine.sale_step("tx-9", "paid_late", "paid_late",
                      detail={"refund_due": True, "claim_code": "0HFF-B56R"})
    clock.advance(hours=23)
    machine.status()
    assert alerter.evaluate() == []
    clock.advance(hours=2)
    machine.status()
    [change] = alerter.evaluate()
    assert change.alert.key == f"claims_open:{M}" and "0HFF-B56R" in change.alert.message
    machine.sale_step("tx-9", "claim_settled", "refunded",
                      detail={"how": "refund_sent", "source": "fleet", "command": "c-2"})
    assert changed(alerter.evaluate()) == {("cleared", f"claims_open:{M}")}


def test_an_alert_of_another_origin_is_left_alone(alerter: Alerter, machine: Machine,
                                                  store: Store, clock: Clock) -> None:
    from vending_fleet.model import Alert

    assert store.raise_alert(Alert("manual:m-001", M, "manual", "look at it", T0))
    assert alerter.evaluate() == []
    assert open_keys(store) == {"manual:m-001"}


# -- the webhook -----------------------------------------------------------------------------

class Hook:
    """A loopback HTTP server recording each POST's JSON body; the first ``fail`` requests
    are answered 500."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                code = 500 if hook.attempts <= fail else 204
                if code == 204:
                    hook.bodies.append(json.loads(body))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def test_each_change_is_posted_to_the_webhook(store: Store, hub: RecordingHub, clock: Clock,
                                              machine: Machine, hook: Hook) -> None:
    webhook = Webhook(hook.url, backoff_s=0.01)
    try:
        alerter = Alerter(store, hub, AlertRules(), clock=clock, webhook=webhook)
        machine.status(in_service=False, reason="out of service: restocking")
        alerter.evaluate()
        machine.status()
        alerter.evaluate()
        assert webhook.flush(5)
    finally:
        webhook.close()
    key = f"out_of_service:{M}"
    assert hook.bodies == [
        {"alert": key, "machine": M, "rule": "out_of_service",
         "message": "out of service: restocking", "state": "raised",
         "at": T0.isoformat()},
        {"alert": key, "machine": M, "rule": "out_of_service",
         "message": "out of service: restocking", "state": "cleared",
         "at": T0.isoformat()}]
    assert [data for kind, data in hub.updates if kind == "alert"] == hook.bodies


def test_a_webhook_failing_twice_is_retried_until_it_takes_it(
        store: Store, hub: RecordingHub, clock: Clock, machine: Machine) -> None:
    server = Hook(fail=2)
    webhook = Webhook(server.url, retries=3, backoff_s=0.01)
    try:
        machine.status(online=False, in_service=False, reason="connection lost")
        Alerter(store, hub, AlertRules(), clock=clock, webhook=webhook).evaluate()
        assert webhook.flush(5)
    finally:
        webhook.close()
        server.close()
    assert server.attempts == 3
    assert [body["alert"] for body in server.bodies] == [f"offline:{M}"]


def test_a_webhook_that_is_down_is_logged_and_never_blocks_evaluate(
        store: Store, hub: RecordingHub, clock: Clock, machine: Machine,
        caplog: pytest.LogCaptureFixture) -> None:
    [port] = free_ports(1)                                # nothing listens there
    webhook = Webhook(f"http://127.0.0.1:{port}/alerts", retries=2, backoff_s=0.3,
                      timeout_s=1)
    alerter = Alerter(store, hub, AlertRules(), clock=clock, webhook=webhook)
    try:
        with caplog.at_level(logging.WARNING, logger="vending_fleet.webhook"):
            machine.status(online=False, in_service=False, reason="connection lost")
            started = time.monotonic()
            assert len(alerter.evaluate()) == 1
            machine.status()
            assert len(alerter.evaluate()) == 1
            assert time.monotonic() - started < 0.3      # the retries take longer than that
            assert webhook.flush(10)
    finally:
        webhook.close()
    assert caplog.text.count("given up") == 2
    assert "ConnectError" in caplog.text
    assert open_keys(store) == set()                      # raised and cleared all the same


def test_a_webhook_url_must_be_https_unless_on_this_machine() -> None:
    check_url("https://hooks.example.net/fleet")
    check_url("http://127.0.0.1:8080/x")
    check_url("http://localhost/x")
    with pytest.raises(ValueError, match="plain http://"):
        check_url("http://hooks.example.net/fleet")
    with pytest.raises(ValueError, match="not an http"):
        check_url("ftp://127.0.0.1/x")
    with pytest.raises(ValueError, match="plain http://"):
        Webhook("http://10.0.0.5/alerts")
