"""A real headless browser for the console's tests: Debian's chromium (/usr/bin/chromium) driven
through Playwright's sync API, never a browser Playwright downloads.

Fixtures (import them into a test module; pytest finds them there, as with tests/brokers.py):

- ``chromium`` (per test): a ``Chromium``; ``chromium.new_context()`` starts one more browser
  (its own process and fresh profile directory, so its own cookies: an operator and a viewer
  side by side), ``chromium.new_page()`` a page in the first one.
- ``browser_page`` (per test): a page of the first context, ready to ``goto``.

Each browser runs with the flags that work on these machines (/work/.library/env/machines):
headless, ``--no-sandbox`` (the tests run as root), no GPU, no QUIC, no first-run, background
networking, component updates and sync, and a fresh ``--user-data-dir`` under the test's
``tmp_path`` (Playwright's ``launch_persistent_context``, which passes that flag itself).

Every page's console messages, uncaught errors and failed requests are recorded as they come;
when the test fails, each page's screenshot (``browser-<context>-<n>.png``), its HTML
(``.html``) and that log (``.log``) are written into the test's ``tmp_path`` (kept by pytest).
A module that also says ``pytest_plugins = ("browser",)`` gets them taken at the moment of the
failure (this module's ``pytest_runtest_makereport``) and their paths and the log's tail shown
in the failure's report; without it they are written as the fixture ends, and the paths printed.

Without /usr/bin/chromium (or Playwright) the test is skipped, but failed when ``CI`` is set:
CI must install Debian's ``chromium`` package.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright

CHROMIUM = Path(os.environ.get("VK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",      # small /dev/shm in containers: crashes of tabs otherwise
)
TIMEOUT_MS = 10_000                 # Playwright's default for every action and expectation


def require_chromium() -> None:
    """Skip the test when Debian's chromium or Playwright is missing; fail it in CI."""
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("playwright (Python) not installed (the test extra)")
    if problems:
        message = "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class PageLog:
    """What one page said: console messages, uncaught errors, failed requests, navigations."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.lines: list[str] = []
        self.errors: list[str] = []
        page.on("console", lambda message: self._add(
            f"console.{message.type}: {message.text} ({_where(message.location)})"))
        page.on("pageerror", self._error)
        page.on("requestfailed", lambda request: self._add(
            f"request failed: {request.method} {request.url}: {request.failure}"))
        page.on("framenavigated", lambda frame: self._add(
            f"navigated: {frame.url}") if frame == page.main_frame else None)

    def _add(self, line: str) -> None:
        self.lines.append(f"{time.strftime('%H:%M:%S')} {line}")

    def _error(self, error: Exception) -> None:
        self.errors.append(str(error))
        self._add(f"uncaught error: {error}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _where(location: Any) -> str:
    if isinstance(location, dict):
        return f"{location.get('url', '')}:{location.get('lineNumber', '')}"
    return str(location)


class Chromium:
    """Browsers for one test: each ``new_context`` its own chromium and profile directory."""

    def __init__(self, playwright: Playwright, directory: Path) -> None:
        self.playwright = playwright
        self.directory = directory
        self.contexts: dict[str, BrowserContext] = {}
        self.logs: list[tuple[str, PageLog]] = []
        self.saved = False

    def new_context(self, name: str | None = None, **options: Any) -> BrowserContext:
        """A new chromium with a fresh profile (``options``: Playwright's context options)."""
        name = name or f"c{len(self.contexts) + 1}"
        if name in self.contexts:
            raise ValueError(f"a context named {name!r} exists already")
        profile = self.directory / f"chromium-profile-{name}"
        profile.mkdir(parents=True)
        context = self.playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True,
            args=list(CHROMIUM_FLAGS), chromium_sandbox=False, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", lambda page: self._watch(name, page))
        for page in context.pages:
            self._watch(name, page)
        self.contexts[name] = context
        return context

    def _watch(self, name: str, page: Page) -> None:
        if all(log.page is not page for _, log in self.logs):
            self.logs.append((name, PageLog(page)))

    def log_of(self, page: Page) -> PageLog:
        return next(log for _, log in self.logs if log.page is page)

    def new_page(self, context: str | None = None) -> Page:
        """A page of ``context`` (by name; the first, started now if need be); the blank tab a
        new chromium opens with is used first."""
        if context is None:
            chosen = next(iter(self.contexts.values()), None) or self.new_context()
        else:
            chosen = self.contexts[context]
        blank = [page for page in chosen.pages
                 if page.url == "about:blank" and not getattr(page, "_vk_taken", False)]
        page = blank[0] if blank else chosen.new_page()
        page._vk_taken = True  # type: ignore[attr-defined]
        self._watch(next(n for n, c in self.contexts.items() if c is chosen), page)
        return page

    def save(self) -> list[Path]:
        """Each open page's screenshot, HTML and log into the directory; the files written."""
        self.saved = True
        written: list[Path] = []
        counts: dict[str, int] = {}
        for name, log in self.logs:
            counts[name] = counts.get(name, 0) + 1
            stem = self.directory / f"browser-{name}-{counts[name]}"
            log_file = stem.with_suffix(".log")
            log_file.write_text(f"url: {_url(log.page)}\n" + log.text())
            written.append(log_file)
            if log.page.is_closed():
                continue
            with contextlib.suppress(Exception):
                log.page.screenshot(path=str(stem.with_suffix(".png")), full_page=True,
                                    timeout=5_000)
                written.append(stem.with_suffix(".png"))
            with contextlib.suppress(Exception):
                stem.with_suffix(".html").write_text(log.page.content())
                written.append(stem.with_suffix(".html"))
        return written

    def close(self) -> None:
        for context in self.contexts.values():
            with contextlib.suppress(Exception):
                context.close()
        self.contexts.clear()


def _url(page: Page) -> str:
    try:
        return page.url
    except Exception:  # noqa: BLE001
        return "(closed)"


@pytest.fixture(name="playwright_driver", scope="module")
def playwright_driver_fixture() -> Iterator[Playwright]:
    """Playwright's driver, once per module (each test starts its own chromium). Not for the
    whole session: its sync API runs an event loop on this thread while it lives, and later
    modules on the same worker call ``asyncio.run``."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    manager = sync_playwright()
    driver = manager.start()
    try:
        yield driver
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture(name="chromium")
def chromium_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chromium]:
    """Headless Debian chromium for this test; screenshots and logs kept in ``tmp_path`` when
    the test fails."""
    require_chromium()
    driver: Playwright = request.getfixturevalue("playwright_driver")
    failed_before = request.session.testsfailed
    browsers = Chromium(driver, tmp_path)
    try:
        yield browsers
    finally:
        # The call's report is logged (and counted) before fixtures are torn down.
        if request.session.testsfailed > failed_before and not browsers.saved:
            written = browsers.save()
            print("browser evidence:\n  " + "\n  ".join(str(path) for path in written))
        browsers.close()


@pytest.fixture(name="browser_page")
def browser_page_fixture(chromium: Chromium) -> Page:
    """A blank page in a fresh headless chromium."""
    return chromium.new_page()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a test with a ``chromium`` fails, its pages' evidence is saved right then (the page
    as it was when the assertion failed) and named in the report."""
    outcome = yield
    report = outcome.get_result()
    browsers = getattr(item, "funcargs", {}).get("chromium")
    if report.when != "call" or not report.failed or not isinstance(browsers, Chromium):
        return
    try:
        written = browsers.save()
    except Exception as error:  # noqa: BLE001 (evidence is best effort)
        report.sections.append(("browser evidence", f"could not be saved: {error!r}"))
        return
    tails = [f"--- {name}: {_url(log.page)}\n" + "\n".join(log.lines[-30:])
             for name, log in browsers.logs]
    report.sections.append(("browser evidence", "\n".join(
        [*(str(path) for path in written), *tails])))
