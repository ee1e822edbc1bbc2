"""The operator's web console (vending_fleet.web) over a real SQLite store, a real hub and the
real command sender (publishing into a list): accounts and sessions, CSRF, roles, the command
forms and their checks, CSV downloads, freshness colours, the pick list and the live stream."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from console_app import (PASSWORD, START, Console, console_fixture, csrf_in, login_token,
                         make_console, open_events, session_csrf)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kiosk.fleet.signing import verify
from vending_fleet.model import Slot
from vending_fleet.web import passwords
from vending_fleet.web.freshness import freshness
from vending_fleet.web.picklist import capacities, pick_list

__all__ = ["console_fixture"]   # found by pytest


# -- accounts and sessions ------------------------------------------------------------------

def test_pages_need_a_login(console: Console) -> None:
    client = console.client()
    assert client.get("/").headers["location"] == "/login"
    assert client.get("/stock?low=3").headers["location"] == "/login?next=%2Fstock%3Flow%3D3"
    assert client.get("/api/machines").status_code == 401
    assert client.get("/events").status_code == 401


def test_login_sets_a_strict_http_only_cookie_and_logout_ends_the_session(
        console: Console) -> None:
    client = console.client()
    response = client.post("/login", data={"name": "vera", "password": PASSWORD,
                                           "csrf": login_token(client), "next": "/stock"})
    assert response.status_code == 303 and response.headers["location"] == "/stock"
    cookie = next(v for k, v in response.headers.multi_items()
                  if k == "set-cookie" and v.startswith("vf_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert "m-001" in client.get("/").text
    assert client.post("/logout", data={"csrf": session_csrf(client)}).status_code == 303
    assert client.get("/").status_code == 303
    assert [e.action for e in console.store.audit_log()][:2] == ["logout", "login"]


def test_the_cookie_is_secure_when_configured(tmp_path: Path) -> None:
    console = make_console(tmp_path, secure_cookies=True)
    client = console.client(base_url="https://testserver")
    response = client.post("/login", data={"name": "vera", "password": PASSWORD,
                                           "csrf": login_token(client)})
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert any(c.startswith("vf_session=") and "Secure" in c for c in cookies)


@pytest.mark.parametrize("name", ["vera", "nobody"])
def test_a_wrong_password_or_unknown_name_is_refused_alike(console: Console,
                                                           name: str) -> None:
    client = console.client()
    response = client.post("/login", data={"name": name, "password": "not it",
                                           "csrf": login_token(client)})
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text
    assert "vf_session" not in response.headers.get("set-cookie", "")
    assert client.get("/").status_code == 303
    assert console.store.audit_log()[0].action == "login_failed"


def test_login_without_its_form_token_is_refused(console: Console) -> None:
    client = console.client()
    login_token(client)
    response = client.post("/login", data={"name": "vera", "password": PASSWORD,
                                           "csrf": "forged"})
    assert response.status_code == 403 and "csrf" in response.text


def test_login_never_redirects_off_the_console(console: Console) -> None:
    client = console.client()
    response = client.post("/login", data={"name": "vera", "password": PASSWORD,
                                           "csrf": login_token(client),
                                           "next": "//evil.example/"})
    assert response.headers["location"] == "/"


def test_a_session_expires_on_the_injected_clock(console: Console) -> None:
    client = console.login("vera")
    console.clock.advance(timedelta(hours=11, minutes=59))
    assert client.get("/").status_code == 200
    console.clock.advance(timedelta(minutes=2))
    assert client.get("/").headers["location"] == "/login"
    assert client.get("/api/machines").status_code == 401


def test_passwords_are_salted_scrypt_and_checked() -> None:
    first, second = passwords.hash_password("s3cret!"), passwords.hash_password("s3cret!")
    assert first != second
    scheme, n, r, p, salt, digest = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert passwords.verify_password("s3cret!", first)
    assert not passwords.verify_password("s3cret?", first)
    assert not passwords.verify_password("s3cret!", "scrypt$x$8$1$AA==$AA==")
    assert not passwords.verify_password("s3cret!", "plain")


# -- CSRF and roles ---------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_form_without_the_sessions_token_is_refused(console: Console,
                                                      token: str | None) -> None:
    client = console.login("olivia")
    data = {"slot": "A1", "price": "3.10"} | ({"csrf": token} if token else {})
    response = client.post("/machines/m-001/commands/set_price", data=data)
    assert response.status_code == 403
    assert "security token (csrf)" in response.text
    assert console.published == []
    refused = console.store.audit_log()[0]
    assert (refused.user, refused.action, dict(refused.detail)) == (
        "olivia", "refused", {"path": "/machines/m-001/commands/set_price",
                              "why": "no valid security token (csrf)"})


def test_a_viewer_reads_everything_but_sends_nothing(console: Console) -> None:
    client = console.login("vera")
    for path in ("/", "/machines/m-001", "/income", "/stock", "/claims", "/alerts", "/audit",
                 "/api/machines", "/api/sales", "/api/stock", "/api/claims", "/api/alerts"):
        assert client.get(path).status_code == 200, path
    assert 'action="/machines/m-001/commands/set_price"' not in client.get(
        "/machines/m-001").text
    token = session_csrf(client)
    refused = client.post("/machines/m-001/commands/set_price",
                          data={"slot": "A1", "price": "3.10", "csrf": token})
    assert refused.status_code == 403 and "needs the operator role" in refused.text
    assert client.post("/claims/settle", data={"machine": "m-001", "claim": "X",
                                               "how": "item_given", "csrf": token}
                       ).status_code == 403
    assert client.get("/users").status_code == 403
    assert console.published == [] and console.sender.calls == []
    refusals = [(e.user, e.detail["path"], e.detail["why"]) for e in console.store.audit_log()
                if e.action == "refused"]
    assert refusals == [("vera", "/claims/settle", "needs the operator role"),
                        ("vera", "/machines/m-001/commands/set_price",
                         "needs the operator role")]


# -- commands ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("command", "form", "args"), [
    ("set_price", {"slot": "A1", "price": "3.1"}, {"slot": "A1", "price": "3.10"}),
    ("set_stock", {"slot": "A2", "stock": "12"}, {"slot": "A2", "stock": 12}),
    ("set_slot_enabled", {"slot": "A3", "enabled": "false"}, {"slot": "A3", "enabled": False}),
    ("set_service", {"in_service": "false", "reason": "restocking"},
     {"in_service": False, "reason": "restocking"}),
    ("set_service", {"in_service": "true"}, {"in_service": True}),
    ("selftest", {}, {}),
    ("send_audit", {"reset": "true"}, {"reset": True}),
])
def test_an_operator_sends_a_signed_command_and_it_is_audited(
        console: Console, command: str, form: dict[str, str], args: dict[str, Any]) -> None:
    client = console.login("olivia")
    response = client.post(f"/machines/m-001/commands/{command}",
                           data=form | {"csrf": session_csrf(client)})
    assert response.status_code == 303, response.text
    assert console.sender.calls == [("m-001", command, args, "olivia")]
    [doc] = console.sent()
    assert (doc["machine"], doc["command"], doc["args"]) == ("m-001", command, args)
    public = console.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    verify(doc, public)                                    # as the machine checks it
    assert console.published[0][0] == "vk/v1/m-001/cmd"
    assert response.headers["location"] == f"/machines/m-001?sent={doc['id']}"
    [entry] = [e for e in console.store.audit_log() if e.action == "command"]
    assert (entry.user, entry.detail["id"], entry.detail["command"]) == (
        "olivia", doc["id"], command)
    page = client.get(response.headers["location"]).text
    assert f"Command {doc['id']} sent" in page and "no reply yet" in page


@pytest.mark.parametrize(("command", "form", "message"), [
    ("set_price", {"slot": "A1", "price": "abc"},
     "<strong>price</strong>: &#39;abc&#39; is not a decimal amount like 2.50"),
    ("set_price", {"slot": "A1"}, "<strong>price</strong>: is required"),
    ("set_price", {"slot": "A1", "price": "-1"},
     "<strong>price</strong>: must be greater than zero, found -1"),
    ("set_price", {"slot": "A1", "price": "1.005"},
     "<strong>price</strong>: 1.005 has 3 decimals but USD prices take at most 2 decimals"),
    ("set_price", {"slot": "Z9", "price": "1"}, "<strong>slot</strong>: must be one of A1"),
    ("set_stock", {"slot": "A1", "stock": "-3"},
     "<strong>stock</strong>: must not be negative, found -3"),
    ("set_stock", {"slot": "A1", "stock": "five"},
     "<strong>stock</strong>: &#39;five&#39; is not a whole number"),
    ("set_slot_enabled", {"slot": "A1", "enabled": "maybe"}, "<strong>enabled</strong>: must"),
    ("set_service", {"in_service": "false", "reason": "x" * 81},
     "<strong>reason</strong>: is too long"),
])
def test_bad_form_input_is_answered_naming_the_field(
        console: Console, command: str, form: dict[str, str], message: str) -> None:
    client = console.login("olivia")
    response = client.post(f"/machines/m-001/commands/{command}",
                           data=form | {"csrf": session_csrf(client)})
    assert response.status_code == 400
    assert message in response.text
    assert "Traceback" not in response.text
    assert console.published == []


def test_the_typed_value_is_kept_in_the_refused_form(console: Console) -> None:
    client = console.login("olivia")
    response = client.post("/machines/m-001/commands/set_price",
                           data={"slot": "A2", "price": "2,50", "csrf": session_csrf(client)})
    assert 'name="price" inputmode="decimal" required value="2,50"' in response.text
    assert '<option value="A2" selected>' in response.text


def test_an_unknown_machine_or_command_is_a_plain_404(console: Console) -> None:
    client = console.login("olivia")
    token = session_csrf(client)
    assert client.post("/machines/m-999/commands/selftest",
                       data={"csrf": token}).status_code == 404
    assert client.post("/machines/m-001/commands/reboot",
                       data={"csrf": token}).status_code == 404
    assert client.get("/machines/m-999").status_code == 404


# -- claims -----------------------------------------------------------------------------------

@pytest.fixture
def claim(console: Console) -> str:
    console.event("m-001", 10, START - timedelta(hours=1), group="sale", kind="paid_late",
                  tx="tx-late-1", status="paid_late", slot="A1", item="Water", amount="2.50",
                  currency="USD", gateway="mixpay", asset="USDT",
                  detail={"refund_due": True, "claim_code": "0HFF-B56R"})
    return "0HFF-B56R"


def test_a_claim_is_found_by_the_code_as_the_customer_types_it(console: Console,
                                                               claim: str) -> None:
    client = console.login("vera")
    page = client.get("/claims?code=ohff b56r").text       # lower case, O for 0, a space
    assert "Claim 0HFF-B56R" in page and "tx-late-1" in page
    assert "Settle this claim" not in page                 # a viewer
    assert client.get("/api/claims?code=0hffb56r").json()["tx"] == "tx-late-1"
    assert [c["code"] for c in client.get("/api/claims").json()] == [claim]


def test_an_operator_settles_a_claim_with_a_command_and_an_audit_entry(
        console: Console, claim: str) -> None:
    client = console.login("olivia")
    assert "Settle this claim" in client.get("/claims?code=0HFF-B56R").text
    response = client.post("/claims/settle", data={
        "machine": "m-001", "claim": "0hff-b56r", "how": "refund_sent",
        "reference": "0xabc123", "csrf": session_csrf(client)})
    assert response.status_code == 303, response.text
    assert console.sender.calls == [("m-001", "settle_claim",
                                     {"claim": claim, "how": "refund_sent",
                                      "reference": "0xabc123"}, "olivia")]
    settle = next(e for e in console.store.audit_log() if e.action == "settle")
    assert settle.user == "olivia"
    assert settle.detail["tx"] == "tx-late-1" and settle.detail["amount"] == "2.50"


@pytest.mark.parametrize(("form", "message"), [
    ({"how": "refund_sent"}, "<strong>reference</strong>: is required"),
    ({"how": "lost"}, "<strong>how</strong>: must be one of refund_sent, item_given"),
    ({"how": "item_given", "claim": "ZZZZ-ZZZZ"}, "<strong>claim</strong>: no open claim"),
])
def test_a_bad_settlement_names_the_field(console: Console, claim: str,
                                          form: dict[str, str], message: str) -> None:
    client = console.login("olivia")
    response = client.post("/claims/settle", data={"machine": "m-001", "claim": claim} | form
                           | {"csrf": session_csrf(client)})
    assert response.status_code == 400 and message in response.text
    assert console.published == []


# -- income -----------------------------------------------------------------------------------

@pytest.fixture
def sales(console: Console) -> None:
    console.sale("m-001", 20, START - timedelta(days=1, hours=2), tx="t1", slot="A1",
                 item="Water", amount="2.50")
    console.sale("m-001", 21, START - timedelta(hours=1), tx="t2", slot="A2",
                 item='Cola, "zero"', amount="2.00", gateway="wctpay", asset=None)
    console.sale("m-001", 22, START - timedelta(minutes=30), tx="t3", slot="A1",
                 item="Water", amount="2.50")


def test_the_sales_csv_is_exact_and_quoted(console: Console, sales: None) -> None:
    client = console.login("vera")
    response = client.get("/income/sales.csv?from=2031-03-13&to=2031-03-14")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="sales-2031-03-13-to-2031-03-14.csv"' in \
        response.headers["content-disposition"]
    assert response.text == (
        "at,machine,tx,slot,item,amount,currency,gateway,asset,event_id\r\n"
        "2031-03-14T11:30:00+00:00,m-001,t3,A1,Water,2.50,USD,mixpay,USDT,6d2d30303100-22\r\n"
        '2031-03-14T11:00:00+00:00,m-001,t2,A2,"Cola, ""zero""",2.00,USD,wctpay,,'
        "6d2d30303100-21\r\n"
        "2031-03-13T10:00:00+00:00,m-001,t1,A1,Water,2.50,USD,mixpay,USDT,6d2d30303100-20\r\n")


def test_the_totals_csv_is_exact(console: Console, sales: None) -> None:
    client = console.login("vera")
    assert client.get("/income/totals.csv?from=2031-03-13&to=2031-03-14").text == (
        "by,key,currency,count,amount\r\n"
        "day,2031-03-13,USD,1,2.50\r\n"
        "day,2031-03-14,USD,2,4.50\r\n"
        "machine,m-001,USD,3,7.00\r\n"
        'item,"Cola, ""zero""",USD,1,2.00\r\n'
        "item,Water,USD,2,5.00\r\n"
        "asset,,USD,1,2.00\r\n"
        "asset,USDT,USD,2,5.00\r\n"
        "gateway,mixpay,USD,2,5.00\r\n"
        "gateway,wctpay,USD,1,2.00\r\n")
    assert client.get("/income/totals.csv?from=2031-03-14&to=2031-03-14&by=item").text == (
        "by,key,currency,count,amount\r\n"
        'item,"Cola, ""zero""",USD,1,2.00\r\n'
        "item,Water,USD,1,2.50\r\n")


def test_the_income_page_charts_each_day_and_lists_the_latest_sales(console: Console,
                                                                    sales: None) -> None:
    client = console.login("vera")
    page = client.get("/income?from=2031-03-08&to=2031-03-14").text
    assert page.count('class="bar"') == 7                 # every day of the period, 0 or not
    assert "<title>2031-03-14: 4.50</title>" in page
    assert "Cola, &#34;zero&#34;" in page and 'id="sales-feed"' in page
    assert [t["amount"] for t in client.get(
        "/api/totals?by=day&from=2031-03-13&to=2031-03-14").json()] == ["2.50", "4.50"]
    since = client.get("/api/sales?since=2031-03-14T00:00:00Z").json()
    assert [s["tx"] for s in since] == ["t3", "t2"]
    assert since[0]["amount"] == "2.50"


def test_a_bad_period_is_answered_naming_the_field(console: Console) -> None:
    client = console.login("vera")
    response = client.get("/income?from=25.11.2026")
    assert response.status_code == 400
    assert "from: &#39;25.11.2026&#39; is not a date like 2026-11-25" in response.text
    assert client.get("/income?from=2031-03-14&to=2031-03-01").status_code == 400
    assert client.get("/api/totals?by=colour").json()["field"] == "by"


# -- machines ---------------------------------------------------------------------------------

def test_freshness_colours_at_2_5_and_9_hours(console: Console) -> None:
    for machine, hours in (("m-002", 2), ("m-005", 5), ("m-009", 9)):
        console.status(machine, START - timedelta(hours=hours))
    client = console.login("vera")
    rows = {m["id"]: m for m in client.get("/api/machines").json()}
    assert [rows[m]["freshness"] for m in ("m-002", "m-005", "m-009")] == [
        "fresh-green", "fresh-yellow", "fresh-red"]
    page = client.get("/").text
    assert '<td class="fresh-yellow" title="2031-03-14 07:00:00 UTC">5 h 0 min ago</td>' in page
    console.clock.advance(timedelta(hours=4))               # m-002 now 6 h old
    assert client.get("/api/machines").json()[1]["freshness"] == "fresh-yellow"


def test_freshness_boundaries() -> None:
    seen = START
    assert freshness(seen, seen + timedelta(hours=3) - timedelta(seconds=1)) == "fresh-green"
    assert freshness(seen, seen + timedelta(hours=3)) == "fresh-yellow"
    assert freshness(seen, seen + timedelta(hours=8)) == "fresh-yellow"
    assert freshness(seen, seen + timedelta(hours=8, seconds=1)) == "fresh-red"
    assert freshness(None, seen) == "fresh-red"


def test_the_machine_page_shows_slots_events_alerts_and_commands(console: Console) -> None:
    console.status("m-001", START, in_service=False, reason="out of service: restocking")
    console.event("m-001", 30, START, group="operator", kind="stock_set",
                  detail={"slot": "A1", "stock": 7, "was": 12, "source": "fleet",
                          "command": "c-1"})
    client = console.login("vera")
    page = client.get("/machines/m-001").text
    assert "out of service: restocking" in page
    assert "2.50 USD" in page and "no (jam)" in page
    assert "stock_set" in page
    detail = client.get("/api/machines/m-001").json()
    assert [s["slot"] for s in detail["slots"]] == ["A1", "A2", "A3"]
    assert client.get("/fragments/machines/m-001").status_code == 200


# -- stock ------------------------------------------------------------------------------------

def test_the_pick_list_fills_each_slot_to_the_most_ever_seen(console: Console) -> None:
    # m-001: A1 had 12 before a restock to 7 (capacity 12: bring 5); A2 holds 0 and was
    # restocked to 10 once (bring 10); A3 (disabled by a jam, not by the operator) 2 of 4.
    console.event("m-001", 30, START - timedelta(days=2), group="operator", kind="stock_set",
                  detail={"slot": "A1", "stock": 7, "was": 12})
    console.event("m-001", 31, START - timedelta(days=1), group="operator", kind="restock",
                  detail={"slot": "A2", "stock": 10, "was": 1})
    console.event("m-001", 32, START - timedelta(days=1), group="operator", kind="set_full",
                  detail={"slot": "A3", "stock": 4, "was": 0})
    console.state("m-002", [
        {"slot": "B1", "name": "Water", "price": "2.50", "stock": 1, "enabled": True,
         "disabled_reason": ""},
        {"slot": "B2", "name": "Gum", "price": "1.00", "stock": 0, "enabled": False,
         "disabled_reason": "operator"}])
    console.event("m-002", 5, START - timedelta(days=3), group="operator", kind="restock",
                  detail={"slot": "B1", "stock": 8, "was": 0})
    client = console.login("vera")
    stock = client.get("/api/stock").json()
    assert stock["pick_list"]["totals"] == [{"item": "Chips", "units": 2},
                                            {"item": "Cola", "units": 10},
                                            {"item": "Water", "units": 12}]
    assert [(line["slot"], line["capacity"], line["bring"])
            for line in stock["pick_list"]["per_machine"]["m-001"]] == [
        ("A1", 12, 5), ("A2", 10, 10), ("A3", 4, 2)]
    assert [(line["slot"], line["bring"])
            for line in stock["pick_list"]["per_machine"]["m-002"]] == [("B1", 7)]
    marks = {(r["slot"]["machine"], r["slot"]["slot"]): r["mark"] for r in stock["slots"]}
    assert marks == {("m-001", "A1"): "", ("m-001", "A2"): "sold-out",
                     ("m-001", "A3"): "low", ("m-002", "B1"): "low",
                     ("m-002", "B2"): "sold-out"}
    assert client.get("/api/stock?low=7").json()["slots"][0]["mark"] == "low"
    page = client.get("/stock").text
    assert "sold out" in page and "Pick list" in page
    assert client.get("/stock?low=-1").status_code == 400


def test_capacity_and_pick_list_arithmetic() -> None:
    def slot(name: str, stock: int, enabled: bool = True, why: str = "") -> Slot:
        return Slot("m", name, name.lower(), Decimal("1"), "USD", stock, enabled, why)

    slots = [slot("S1", 3), slot("S2", 9), slot("S3", 0, False, "operator")]
    events = [{"group": "operator", "kind": "restock", "detail": {"slot": "S1", "stock": 6,
                                                                  "was": 2}},
              {"group": "operator", "kind": "pin_ok", "detail": {"slot": "S2", "stock": 99}},
              {"group": "sale", "kind": "restock", "detail": {"slot": "S2", "stock": 99}},
              {"group": "operator", "kind": "stock_set", "detail": {"slot": "S3", "stock": 5,
                                                                    "was": True}}]
    full = capacities(slots, events)
    assert full == {"S1": 6, "S2": 9, "S3": 5}
    picks = pick_list(slots, {("m", k): v for k, v in full.items()})
    assert [(p.slot, p.bring) for p in picks.lines] == [("S1", 3)]
    assert picks.totals == [("s1", 3)]


# -- alerts, audit, users ---------------------------------------------------------------------

def test_alerts_active_and_recently_cleared(console: Console) -> None:
    from vending_fleet.model import Alert
    console.store.raise_alert(Alert("offline:m-001", "m-001", "offline", "m-001 is offline",
                                    START - timedelta(hours=2)))
    console.store.raise_alert(Alert("sold_out:m-001:A2", "m-001", "sold_out", "A2 sold out",
                                    START - timedelta(hours=3)))
    console.store.clear_alert("sold_out:m-001:A2", START - timedelta(hours=1))
    client = console.login("vera")
    alerts = client.get("/api/alerts").json()
    assert [a["key"] for a in alerts["active"]] == ["offline:m-001"]
    assert [a["key"] for a in alerts["cleared"]] == ["sold_out:m-001:A2"]
    assert client.get("/api/machines").json()[0]["active_alerts"] == 1


def test_an_admin_adds_a_user_and_others_cannot(console: Console) -> None:
    admin = console.login("ada")
    response = admin.post("/users", data={"name": "nina", "role": "operator",
                                          "password": "long enough pw",
                                          "password2": "long enough pw",
                                          "csrf": session_csrf(admin)})
    assert response.status_code == 303
    user = console.store.user("nina")
    assert user is not None and user.role.value == "operator"
    assert passwords.verify_password("long enough pw", user.password_hash)
    assert console.store.audit_log()[0].action == "user_added"
    console.login("nina", "long enough pw")
    short = admin.post("/users", data={"name": "omar", "role": "viewer", "password": "short",
                                       "password2": "short", "csrf": session_csrf(admin)})
    assert short.status_code == 400
    assert "<strong>password</strong>: must have at least 10 characters" in short.text
    again = admin.post("/users", data={"name": "nina", "role": "viewer",
                                       "password": "long enough pw",
                                       "password2": "long enough pw",
                                       "csrf": session_csrf(admin)})
    assert "<strong>name</strong>: a user &#39;nina&#39; exists already" in again.text
    operator = console.login("olivia")
    assert operator.post("/users", data={"name": "x", "role": "admin", "password": "p" * 12,
                                         "password2": "p" * 12,
                                         "csrf": session_csrf(operator)}).status_code == 403
    assert "password_hash" not in admin.get("/api/users").text


def test_the_audit_page_lists_who_did_what(console: Console) -> None:
    client = console.login("olivia")
    client.post("/machines/m-001/commands/selftest", data={"csrf": session_csrf(client)})
    page = client.get("/audit").text
    assert "olivia" in page and "command" in page and "login" in page


# -- errors and headers -----------------------------------------------------------------------

def test_a_failure_inside_is_a_plain_500_page(console: Console,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    client = console.login("vera")

    def broken() -> list[Any]:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(console.store, "machines", broken)
    quiet = console.client(raise_server_exceptions=False)
    quiet.cookies = client.cookies
    response = quiet.get("/")
    assert response.status_code == 500
    assert "Something went wrong on the console" in response.text
    assert "Traceback" not in response.text and "on fire" not in response.text
    assert quiet.get("/api/machines").json()["error"].startswith("Something went wrong")


def test_pages_carry_security_headers(console: Console) -> None:
    response = console.client().get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert console.client().get("/static/console.css").status_code == 200
    assert console.client().get("/static/live.js").status_code == 200


# -- live updates -----------------------------------------------------------------------------

def test_the_event_stream_yields_a_published_update(console: Console) -> None:
    client = console.login("vera")
    session_id = client.cookies["vf_session"]

    async def read_stream() -> list[bytes]:
        events = await open_events(console, session_id)
        bodies = [await events.body()]                                    # ": connected"
        assert console.hub.listeners() == 1
        console.hub.publish("sale", {"machine": "m-001", "amount": "2.50", "item": "Water"})
        bodies.append(await events.body())
        await events.leave()
        await asyncio.sleep(0)
        assert console.hub.listeners() == 0
        return bodies

    connected, event = asyncio.run(read_stream())
    assert connected == b": connected\n\n"
    assert event == (b'event: sale\ndata: {"amount": "2.50", "item": "Water", '
                     b'"machine": "m-001"}\n\n')


def test_the_fragments_the_live_page_refetches(console: Console, sales: None) -> None:
    client = console.login("vera")
    assert "m-001" in client.get("/fragments/machines").text
    feed = client.get("/fragments/sales").text
    assert feed.count("<tr>") == 3 and feed.index("11:30") < feed.index("11:00")
    assert 'data-fragment="/fragments/sales"' in client.get("/income").text
    assert csrf_in(client.get("/").text)


def test_a_reply_shows_with_its_command_and_an_audit_file_downloads(console: Console) -> None:
    client = console.login("olivia")
    client.post("/machines/m-001/commands/send_audit", data={"csrf": session_csrf(client)})
    [doc] = console.sent()
    dex = "DXS*9252131001*VA*V1/1*1\r\nDXE*1*1\r\n"
    assert console.store.record_reply("m-001", {
        "id": "6d2d30303100-90", "machine": "m-001", "kind": "reply", "at": START.isoformat(),
        "command": doc["id"], "status": "applied", "ok": True,
        "result": {"format": "EVA-DTS 6.1", "reset": False, "file": dex}}, START)
    page = client.get("/machines/m-001").text
    assert ">applied</td>" in page and f"{len(dex)} characters" in page
    download = client.get(f"/machines/m-001/audit/{doc['id']}")
    assert download.status_code == 200 and download.text == dex
    assert "attachment" in download.headers["content-disposition"]
    assert client.get("/machines/m-001/audit/c-nothing").status_code == 404
