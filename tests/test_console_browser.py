"""The operator's console in a real headless Chromium (Debian's, through Playwright: the
``browser`` fixtures), against the whole console as ``vending-fleet serve`` assembles it
(``ConsoleService``: store, one MQTT connection feeding the ingester, the command sender, the
web app on uvicorn) and a real kiosk with its fleet link, both on a real Mosquitto (TLS, the
fleet ACL: the console logs in as ``console``, the kiosk as ``m-001``).

First the fixture itself against a tiny loopback page; then the console: a sale made on the
kiosk shows up live on the income page (no reload), a price changed in the browser reaches the
kiosk and its next sale, a claim settled in the browser leaves the kiosk's ``kiosk journal
--claims``, a viewer cannot send a command, and a form without its CSRF token is refused.

And the reply to a command that arrives before the page the form led to has its event stream
open still shows (the page fetches its fragments when the stream opens).

Whenever the test waits on the browser, the kiosk is pumped meanwhile (``Harness.wait_for``):
its sale worker and UI work run only when pumped. ``chromium`` is each test's last argument, so
the browser closes first: no page holds ``/events`` open while the console stops (uvicorn
would wait out its graceful-shutdown timeout for it).
"""

from __future__ import annotations

import dataclasses
import http.server
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from brokers import CONSOLE, Collector, Mosquitto, console_collector, module_mosquitto_fixture
from cryptography.hazmat.primitives import serialization
from fleet_kiosk import FLEET_KEY, FleetKiosk, kiosk_on, payload

from kiosk.sim import Sandbox

if TYPE_CHECKING:
    from browser import Chromium
    from playwright.sync_api import Page

    from vending_fleet.model import Store
    from vending_fleet.service import ConsoleService

__all__ = ["module_mosquitto_fixture"]

# tests/browser.py as a plugin: its fixtures, and its report hook (evidence taken at failure).
pytest_plugins = ("browser",)

SMOKE_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>smoke</title></head>
<body>
<button id="go">Go</button> <output id="out">waiting</output>
<script>
  window.loadedAt = Date.now();
  document.getElementById("go").addEventListener("click", () => {
    const chrome = navigator.userAgent.includes("Chrome");
    document.getElementById("out").textContent = "clicked " + chrome;
    console.log("the button was clicked");
  });
</script>
</body></html>
"""


class _SmokeHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(SMOKE_PAGE)))
        self.end_headers()
        self.wfile.write(SMOKE_PAGE)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def smoke_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SmokeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_browser_fixture_clicks_a_button_and_reads_the_text_back(
        browser_page: Page, chromium: Chromium, smoke_url: str) -> None:
    browser_page.goto(smoke_url)
    assert browser_page.title() == "smoke"
    assert browser_page.locator("#out").text_content() == "waiting"
    browser_page.click("#go")
    browser_page.wait_for_function(
        "document.getElementById('out').textContent.startsWith('clicked')")
    assert browser_page.locator("#out").text_content() == "clicked true"
    log = chromium.log_of(browser_page)
    assert any("the button was clicked" in line for line in log.lines)
    assert log.errors == []
    # A second browser has its own profile: nothing shared with the first.
    other = chromium.new_context("other")
    assert other is not chromium.contexts["c1"]
    assert (chromium.directory / "chromium-profile-other").is_dir()


# -- the console and a kiosk on one broker ---------------------------------------------------

MACHINE = "m-001"
OPERATOR = ("olga", "olga-operator-pw")
VIEWER = ("victor", "victor-viewer-pw")
REPO = Path(__file__).resolve().parent.parent
# Set by the test after a page loaded: still there later means no navigation (no reload).
MARK = "window.__vkLoadMark"


@dataclasses.dataclass
class RunningConsole:
    service: ConsoleService
    store: Store

    @property
    def url(self) -> str:
        return self.service.url


def _console_config(directory: Path, broker: Mosquitto) -> Any:
    """The console's config file and secrets file as an operator writes them, loaded by the
    console's own reader; listening on a port the OS picks (port 0, set after loading: the
    file's ``listen`` takes 1 to 65535)."""
    from vending_fleet.config import load_console_config

    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "fleet-key.pem"
    key_file.write_bytes(FLEET_KEY.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    key_file.chmod(0o600)
    config_file = directory / "console.toml"
    config_file.write_text(
        "[console]\n"
        'listen = "127.0.0.1:8080"\n'
        f'database = "sqlite:///{directory / "console.db"}"\n'
        f'signing_key = "{key_file}"\n'
        "secure_cookies = false\n\n"
        "[broker]\n"
        f'url = "{broker.url}"\n'
        f'ca_file = "{broker.ca_file}"\n'
        # a fresh id per test: the broker keeps a console's session (clean_session false)
        f'client_id = "vf-browser-{uuid.uuid4().hex[:8]}"\n'
        "keepalive_s = 10\n")
    secrets = directory / "console-secrets.toml"
    secrets.write_text(f'[broker]\nusername = "{CONSOLE}"\n'
                       f'password = "{broker.credentials[CONSOLE]}"\n')
    secrets.chmod(0o600)
    config = load_console_config(config_file)
    return dataclasses.replace(config, port=0)


@pytest.fixture
def console(module_mosquitto: Mosquitto, tmp_path: Path) -> Iterator[RunningConsole]:
    """The whole console (``ConsoleService.start``) with an operator and a viewer account,
    connected to the broker as ``console``."""
    from vending_fleet.model import Role
    from vending_fleet.service import ConsoleService
    from vending_fleet.store import open_store
    from vending_fleet.web.passwords import hash_password

    config = _console_config(tmp_path / "console", module_mosquitto)
    store = open_store(config.database)
    store.add_user(OPERATOR[0], Role.OPERATOR, hash_password(OPERATOR[1]))
    store.add_user(VIEWER[0], Role.VIEWER, hash_password(VIEWER[1]))
    service = ConsoleService(config, store=store).start()
    try:
        link = getattr(service, "link", None)
        if link is not None:
            assert link.connected.wait(10), "the console did not connect to the broker"
        yield RunningConsole(service, store)
    finally:
        service.stop()
        store.close()


@pytest.fixture
def kiosk(module_mosquitto: Mosquitto, tmp_path: Path, sandbox: Sandbox,
          console: RunningConsole) -> Iterator[FleetKiosk]:
    """A kiosk (MixPay, USD; A1 water 2.50, A2 cola 2.00) with its fleet link on the broker,
    in service and known to the console (its status and state ingested)."""
    directory = tmp_path / "kiosk"
    directory.mkdir()
    running = kiosk_on(module_mosquitto, directory, sandbox, MACHINE)
    try:
        store = console.store

        def known() -> bool:
            machine = store.machine(MACHINE)
            return (machine is not None and machine.online and machine.in_service
                    and bool(store.slots(MACHINE)))

        running.harness.wait_for(known, 20)
        yield running
    finally:
        running.close()


@pytest.fixture
def watcher(module_mosquitto: Mosquitto) -> Iterator[Collector]:
    """The broker's ``observer``: every message on the kiosk's topics, ``cmd`` included."""
    collector = console_collector(module_mosquitto, f"vk/v1/{MACHINE}/#", user="observer")
    yield collector
    collector.close()


def log_in(page: Page, base: str, user: tuple[str, str], target: str = "/") -> None:
    """Through the login form, as a person would; ends on ``target``."""
    page.goto(f"{base}{target}")
    assert "/login" in page.url, page.url          # sent to the login page first
    page.fill("#name", user[0])
    page.fill("#password", user[1])
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert page.url == f"{base}{target}", page.url
    assert page.locator("form.logout").inner_text().startswith(user[0])


def mark_page(page: Page) -> str:
    """A value kept in the page's JavaScript globals: gone after any navigation or reload."""
    value = uuid.uuid4().hex
    page.evaluate(f"{MARK} = {value!r}")
    return value


def wait_live(page: Page) -> None:
    """Until the page's event stream is open (static/live.js says so in the footer). Locator
    waits only: the console's CSP (no 'unsafe-eval') refuses ``wait_for_function`` strings."""
    from playwright.sync_api import expect

    expect(page.locator("#live-status")).to_contain_text("Live updates on")


def wait_browser(kiosk: FleetKiosk, check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Pump the kiosk until ``check`` (usually a look at the page) holds."""
    kiosk.harness.wait_for(check, timeout_s)


def kiosk_journal_claims(kiosk: FleetKiosk) -> str:
    """``kiosk journal --claims --config <the kiosk's config>``, run as the operator would."""
    config_file = kiosk.config.machine.data_dir.parent / "kiosk.toml"
    assert config_file.is_file(), config_file
    done = subprocess.run([sys.executable, "-m", "kiosk", "journal", "--claims", "--config",
                           str(config_file)], cwd=REPO, capture_output=True, text=True,
                          timeout=30, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def form_csrf(page: Page) -> str:
    """The session's CSRF token, as every form of the page carries it (the logout form's)."""
    token = page.locator("form.logout input[name=csrf]").get_attribute("value")
    assert token
    return token


# -- the proof -------------------------------------------------------------------------------

def test_a_sale_on_the_kiosk_shows_up_live_on_the_dashboard_without_a_reload(
        console: RunningConsole, kiosk: FleetKiosk, chromium: Chromium) -> None:
    page = chromium.new_page()
    log_in(page, console.url, OPERATOR, "/income")
    feed = page.locator("#sales-feed")
    assert "No sales yet" in feed.inner_text()
    wait_live(page)
    mark = mark_page(page)
    navigations = _navigations(chromium, page)

    tx = kiosk.sell("A1")

    wait_browser(kiosk, lambda: "Water" in feed.inner_text())
    row = feed.locator("tr", has_text="Water")
    assert row.count() == 1
    text = row.inner_text()
    assert MACHINE in text and "A1" in text and "2.50 USD" in text and "mixpay" in text, text
    assert page.evaluate(MARK) == mark, "the page was reloaded"
    assert _navigations(chromium, page) == navigations, "the page navigated"
    sales = console.store.sales(_epoch(), _far())
    assert [sale.tx for sale in sales] == [tx]


def test_a_price_set_in_the_browser_reaches_the_kiosk_and_its_next_sale(
        console: RunningConsole, kiosk: FleetKiosk, watcher: Collector,
        chromium: Chromium) -> None:
    page = chromium.new_page()
    log_in(page, console.url, OPERATOR, f"/machines/{MACHINE}")
    live = page.locator("#machine-live")
    assert "2.50 USD" in _slot_row(live, "A1").inner_text()
    set_price(page, "A1", "3.10")
    runtime = kiosk.harness.runtime
    wait_browser(kiosk, lambda: runtime.state.product("A1").price == Decimal("3.10"))
    # the kiosk's retained state says so
    kiosk.wait_published(watcher, lambda m: m.topic.endswith("/state") and any(
        slot["slot"] == "A1" and slot["price"] == "3.10" for slot in payload(m)["slots"]))
    wait_live(page)
    mark = mark_page(page)

    tx = kiosk.sell("A1")                     # the next sale costs the new price

    assert kiosk.harness.transaction(tx)["amount"] == "3.10"
    # its events refresh the machine's page live: the sale, the new price, the reply
    wait_browser(kiosk, lambda: _fact(live, "Sales today") == "1")
    row = _slot_row(live, "A1").inner_text()
    assert "Water" in row and "3.10 USD" in row and "\t49\t" in row, row
    command_row = live.locator("tr", has_text="set_price")
    assert "applied" in command_row.inner_text() and OPERATOR[0] in command_row.inner_text()
    assert page.evaluate(MARK) == mark, "the page was reloaded"
    wait_browser(kiosk, lambda: any(sale.tx == tx and sale.amount == Decimal("3.10")
                                    for sale in console.store.sales(_epoch(), _far())))


def test_the_reply_to_a_command_shows_on_the_page_the_form_led_to(
        console: RunningConsole, kiosk: FleetKiosk, chromium: Chromium) -> None:
    """The operator sends a price and lands on the machine's page (command "sent"); the kiosk
    answers within milliseconds, before that page's event stream is connected. Held here (the
    /events request kept back until the reply is stored) so the race is lost every time."""
    page = chromium.new_page()
    log_in(page, console.url, OPERATOR, f"/machines/{MACHINE}")
    held: list[Any] = []
    page.route("**/events", lambda route: held.append(route))
    set_price(page, "A1", "2.90")
    live = page.locator("#machine-live")
    assert "no reply yet" in live.locator("tr", has_text="set_price").inner_text()
    for _ in range(100):                   # Playwright hands over routes while it is called
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never asked for /events"
    wait_browser(kiosk, lambda: any(c.status == "applied"
                                    for c in console.store.commands(MACHINE)))
    held[-1].continue_()
    page.unroute("**/events")
    wait_live(page)
    from playwright.sync_api import expect

    expect(live.locator("tr", has_text="set_price")).to_contain_text("applied", timeout=5_000)


def test_a_claim_settled_in_the_browser_leaves_the_kiosks_claims_list(
        console: RunningConsole, kiosk: FleetKiosk, chromium: Chromium) -> None:
    tx_id, code = kiosk.claim_paid_after_cancel()
    assert code and tx_id in kiosk_journal_claims(kiosk)
    wait_browser(kiosk, lambda: any(c.tx == tx_id for c in console.store.open_claims()))

    page = chromium.new_page()
    log_in(page, console.url, OPERATOR, "/claims")
    page.click(f"a[href='/claims?code={code}']")
    page.wait_for_url(re.compile(r"/claims\?code="))
    settle = page.locator("form[action='/claims/settle']")
    settle.locator("input[name=how][value=refund_sent]").check()
    settle.locator("input[name=reference]").fill("0xabc")
    with page.expect_navigation():
        settle.locator("button[type=submit]").click()
    assert "settled=" in page.url, page.url

    def closed() -> bool:
        return kiosk.harness.transaction(tx_id)["status"] == "refunded"

    wait_browser(kiosk, closed)
    assert tx_id not in kiosk_journal_claims(kiosk)
    wait_browser(kiosk, lambda: all(c.tx != tx_id for c in console.store.open_claims()))
    page.reload()
    assert "No open claims" in page.locator("main").inner_text()


def test_a_viewer_cannot_send_a_command(console: RunningConsole, kiosk: FleetKiosk,
                                        watcher: Collector, chromium: Chromium) -> None:
    page = chromium.new_page()
    log_in(page, console.url, VIEWER, f"/machines/{MACHINE}")
    assert "Water" in page.locator("#machine-live").inner_text()   # sees the machine
    assert page.locator("form[action*='/commands/']").count() == 0
    token = form_csrf(page)
    answer = page.request.post(f"{console.url}/machines/{MACHINE}/commands/set_price",
                               form={"csrf": token, "slot": "A1", "price": "0.01"},
                               max_redirects=0)
    assert answer.status == 403, (answer.status, answer.text()[:500])
    assert "needs the operator role" in answer.text()     # the role refused it, not the token
    page.goto(f"{console.url}/claims")
    assert page.locator("form[action='/claims/settle']").count() == 0
    settle = page.request.post(f"{console.url}/claims/settle",
                               form={"csrf": token, "machine": MACHINE, "claim": "0HFF-B56R",
                                     "how": "item_given"}, max_redirects=0)
    assert settle.status == 403, (settle.status, settle.text()[:500])
    assert "needs the operator role" in settle.text()
    assert console.store.commands(MACHINE) == []
    assert not [m for m in watcher.messages if m.topic.endswith("/cmd")]
    assert kiosk.harness.runtime.state.product("A1").price == Decimal("2.50")


def test_a_form_posted_without_its_csrf_token_is_refused(
        console: RunningConsole, kiosk: FleetKiosk, watcher: Collector,
        chromium: Chromium) -> None:
    page = chromium.new_page()
    log_in(page, console.url, OPERATOR, f"/machines/{MACHINE}")
    # the browser's own form, its token taken out
    form = page.locator(f"form[action='/machines/{MACHINE}/commands/set_stock']")
    form.locator("input[name=csrf]").evaluate("input => input.remove()")
    form.locator("select[name=slot]").select_option("A1")
    form.locator("input[name=stock]").fill("3")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        form.locator("button[type=submit]").click()
    assert posted.value.status == 403
    page.wait_for_load_state()
    assert "csrf" in page.locator("main").inner_text()
    # the page's own cookies, no token / a wrong token
    base = f"{console.url}/machines/{MACHINE}/commands/set_price"
    for fields in ({"slot": "A1", "price": "0.01"},
                   {"csrf": "not-the-token", "slot": "A1", "price": "0.01"},
                   {"csrf": "", "slot": "A1", "price": "0.01"}):
        answer = page.request.post(base, form=fields, max_redirects=0)
        assert answer.status == 403, (fields, answer.status)
        assert "csrf" in answer.text(), answer.text()[:500]
    assert console.store.commands(MACHINE) == []
    assert not [m for m in watcher.messages if m.topic.endswith("/cmd")]
    stock = kiosk.harness.runtime.state.stock
    assert stock.get("A1") == 50
    # the login form too (its token is a double-submit cookie): a browser that never loaded it
    stranger = chromium.new_context("stranger").request
    login = stranger.post(f"{console.url}/login", max_redirects=0,
                          form={"name": OPERATOR[0], "password": OPERATOR[1], "next": "/"})
    assert login.status == 403, login.status
    assert "vf_session" not in login.headers.get("set-cookie", "")


def set_price(page: Page, slot: str, price: str) -> None:
    """Through the machine page's "Set a price" form; ends on the page it redirects to."""
    form = page.locator(f"form[action='/machines/{MACHINE}/commands/set_price']")
    form.locator("select[name=slot]").select_option(slot)
    form.locator("input[name=price]").fill(price)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert re.search(rf"/machines/{MACHINE}\?sent=c-", page.url), page.url


def _slot_row(live: Any, slot: str) -> Any:
    """The slot's row in the machine page's slots table."""
    return live.locator(f"tr:has(th[scope=row]:text-is('{slot}'))")


def _fact(live: Any, name: str) -> str:
    """A fact of the machine's page (its <dt>name</dt><dd>value</dd>)."""
    return str(live.locator(f"dt:text-is('{name}') + dd").inner_text()).strip()


def _navigations(chromium: Chromium, page: Page) -> int:
    return sum(1 for line in chromium.log_of(page).lines if " navigated: " in line)


def _epoch() -> Any:
    from datetime import UTC, datetime

    return datetime(1970, 1, 1, tzinfo=UTC)


def _far() -> Any:
    from datetime import UTC, datetime

    return datetime(2100, 1, 1, tzinfo=UTC)
