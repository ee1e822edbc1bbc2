"""The console against hostile input and misuse: formulas in the machines' text, password
guessing, a stream outliving its session, secrets in logs and pages, and query values that
once made a 500."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from console_app import (PASSWORD, START, Console, console_fixture, login_token, make_console,
                         open_events, session_csrf)
from brokers import free_ports

from kiosk.errors import ConfigError
from vending_fleet.config import load_console_config
from vending_fleet.model import Sale
from vending_fleet.web import auth, users
from vending_fleet.web.csvfiles import sales_rows
from vending_fleet.web.live import STORE_CHECK
from vending_fleet.web.throttle import LoginThrottle
from vending_fleet.webhook import Webhook, check_url

__all__ = ["console_fixture"]   # found by pytest


# -- CSV downloads ----------------------------------------------------------------------------

def test_machine_text_in_a_csv_cannot_start_a_formula(console: Console) -> None:
    console.sale("m-001", 20, START - timedelta(hours=1), tx="@t1", slot="+A1",
                 item='=HYPERLINK("https://evil.example","x")', amount="2.50",
                 gateway="-gw", asset="\tUSDT")
    client = console.login("vera")
    sales = client.get("/income/sales.csv?from=2031-03-14&to=2031-03-14").text
    assert sales.splitlines()[1] == (
        "2031-03-14T11:00:00+00:00,m-001,'@t1,'+A1,\"'=HYPERLINK(\"\"https://evil.example\"\","
        "\"\"x\"\")\",2.50,USD,'-gw,'\tUSDT,6d2d30303100-20")
    totals = client.get("/income/totals.csv?from=2031-03-14&to=2031-03-14&by=gateway").text
    assert totals.splitlines()[1] == "gateway,'-gw,USD,1,2.50"


def test_a_negative_amount_in_a_csv_stays_a_number() -> None:
    sale = Sale("e-1", "m-001", "t1", START, "A1", "-Water", Decimal("-2.50"), "USD",
                "mixpay", "USDT")
    assert sales_rows([sale])[0][4:6] == ["'-Water", "-2.50"]


# -- logins -----------------------------------------------------------------------------------

def _try(console: Console, name: str, password: str, client_ip: str = "testclient") -> int:
    client = console.client(client=(client_ip, 50000))
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf": login_token(client)}).status_code


def test_after_five_failures_a_name_is_refused_like_a_wrong_password(console: Console) -> None:
    assert [_try(console, "vera", "guess", f"10.0.0.{i}") for i in range(5)] == [401] * 5
    client = console.client(client=("10.0.0.9", 50000))
    refused = client.post("/login", data={"name": "vera", "password": PASSWORD,
                                          "csrf": login_token(client)})
    assert refused.status_code == 401 and "Wrong user name or password." in refused.text
    assert "vf_session" not in refused.headers.get("set-cookie", "")
    latest = console.store.audit_log()[0]
    assert (latest.action, latest.user, latest.detail) == (
        "login_failed", "vera", {"ip": "10.0.0.9", "throttled": True})
    assert _try(console, "olivia", PASSWORD, "10.0.0.9") == 303    # others log in meanwhile
    console.clock.advance(timedelta(seconds=61))
    assert _try(console, "vera", PASSWORD, "10.0.0.9") == 303


def test_after_five_failures_a_client_is_refused_whichever_name(console: Console) -> None:
    assert [_try(console, f"nobody{i}", "guess") for i in range(5)] == [401] * 5
    assert _try(console, "ada", PASSWORD) == 401
    assert _try(console, "ada", PASSWORD, "10.0.0.2") == 303


def test_guesses_in_flight_count_before_their_answers() -> None:
    throttle = LoginThrottle(lambda: 0.0, limit=2)
    assert throttle.admit("vera", "a") and throttle.admit("vera", "b")
    assert not throttle.admit("vera", "c")
    throttle.succeeded("vera", "b")
    assert throttle.admit("vera", "c")


def _on_the_loop(calls: list[bool], real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, noting for each call whether it ran on the event loop's thread."""
    def spy(*args: Any) -> Any:
        try:
            asyncio.get_running_loop()
            calls.append(True)
        except RuntimeError:
            calls.append(False)
        return real(*args)
    return spy


def test_scrypt_runs_off_the_event_loop(console: Console,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    for module, name in ((auth, "verify_password"), (auth, "dummy_verify"),
                         (users, "hash_password")):
        monkeypatch.setattr(module, name, _on_the_loop(calls, getattr(module, name)))
    client = console.login("ada")
    assert _try(console, "nobody", "guess") == 401
    client.post("/users", data={"name": "nia", "role": "viewer", "password": "a long password",
                                "password2": "a long password", "csrf": session_csrf(client)})
    assert calls == [False, False, False]


# -- live updates -----------------------------------------------------------------------------

def test_the_event_stream_ends_at_logout(console: Console) -> None:
    session_id = console.login("vera").cookies["vf_session"]

    async def read() -> bytes:
        events = await open_events(console, session_id)
        assert await events.body() == b": connected\n\n"
        console.store.end_session(session_id)
        console.clock.advance(STORE_CHECK)             # the stream asks the store this often
        console.hub.publish("sale", {"machine": "m-001"})
        ended = await events.message()
        await asyncio.wait_for(events.task, 5)
        await asyncio.sleep(0)
        assert ended["more_body"] is False and console.hub.listeners() == 0
        return bytes(ended["body"])

    assert asyncio.run(read()) == b""


def test_the_event_stream_ends_when_the_session_expires(tmp_path: Path) -> None:
    console = make_console(tmp_path, sse_heartbeat_s=0.05)
    session_id = console.login("vera").cookies["vf_session"]

    async def read() -> list[bytes]:
        events = await open_events(console, session_id)
        bodies = [await events.body(), await events.body()]       # connected, a keep-alive
        console.clock.advance(timedelta(hours=13))
        bodies.append(await events.body())
        await asyncio.wait_for(events.task, 5)
        return bodies

    assert asyncio.run(read()) == [b": connected\n\n", b": keep-alive\n\n", b""]
    console.store.close()


# -- secrets kept out of logs and pages -------------------------------------------------------

def test_the_webhook_log_names_only_its_host(caplog: pytest.LogCaptureFixture) -> None:
    [port] = free_ports(1)                                # nothing listens there
    webhook = Webhook(f"https://bot:pw123@127.0.0.1:{port}/hooks/T0K3N", retries=0,
                      timeout_s=1)
    try:
        with caplog.at_level(logging.WARNING, logger="vending_fleet.webhook"):
            webhook.deliver({"alert": "offline:m-001"})
            assert webhook.flush(10)
    finally:
        webhook.close()
    assert f"alert webhook https://127.0.0.1:{port}: offline:m-001 not delivered" in caplog.text
    assert "T0K3N" not in caplog.text and "pw123" not in caplog.text
    with pytest.raises(ValueError) as refused:
        check_url("http://hooks.example.net/services/T0K3N")
    assert "http://hooks.example.net" in str(refused.value) and "T0K3N" not in str(refused.value)


def test_a_failed_send_shows_a_fixed_message_and_logs_the_error(
        console: Console, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_args: Any) -> Any:
        raise RuntimeError('connection to server at "db.internal" failed for user "fleet"')

    monkeypatch.setattr(console.sender, "send", broken)
    client = console.login("olivia")
    with caplog.at_level(logging.ERROR, logger="vending_fleet.web.command_forms"):
        response = client.post("/machines/m-001/commands/selftest",
                               data={"csrf": session_csrf(client)})
    assert response.status_code == 502
    assert "not sent: the console failed" in response.text
    assert "db.internal" not in response.text
    assert "db.internal" in caplog.text


def test_a_refused_database_url_is_shown_without_its_password(tmp_path: Path) -> None:
    config = tmp_path / "console.toml"
    config.write_text('[console]\ndatabase = "mysql://fleet:hunter2@db.example.net/fleet"\n'
                      '[broker]\nurl = "mqtt://127.0.0.1:1883"\n')
    with pytest.raises(ConfigError) as refused:
        load_console_config(config)
    assert "mysql://fleet:***@db.example.net/fleet" in str(refused.value)
    assert "hunter2" not in str(refused.value)


# -- query values -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/income", "/income/sales.csv", "/income/totals.csv",
                                  "/api/sales", "/api/totals?by=day"])
@pytest.mark.parametrize("to", ["9999-12-31", "0001-01-02"])
def test_a_date_at_the_calendars_end_is_a_400_naming_to(console: Console, path: str,
                                                         to: str) -> None:
    client = console.login("vera")
    response = client.get(f"{path}{'&' if '?' in path else '?'}to={to}")
    assert response.status_code == 400
    assert "to: must be a date from 0001-01-07 to 9999-12-30" in response.text


@pytest.mark.parametrize("query", ["since=0001-01-01T00:00:00%2B01:00",
                                   "until=9999-12-31T23:59:59-01:00"])
def test_a_time_past_the_calendars_end_is_a_400_naming_it(console: Console, query: str) -> None:
    response = console.login("vera").get(f"/api/sales?{query}")
    assert response.status_code == 400
    assert response.json()["field"] == query.split("=")[0]


@pytest.mark.parametrize("path", ["/stock?low=²", "/api/stock?low=²", "/api/sales?limit=²"])
def test_a_unicode_digit_is_a_400(console: Console, path: str) -> None:
    assert console.login("vera").get(path).status_code == 400


def test_the_edges_of_the_calendar_still_work(console: Console) -> None:
    client = console.login("vera")
    assert client.get("/income?from=9999-12-24&to=9999-12-30").status_code == 200
    assert client.get("/api/totals?by=day&to=0001-01-07").json() == []
