"""Fixtures of the browser tests (see :mod:`tests.web.browser`).

- ``browser``: one headless Debian Chromium per test process (session); the tests that
  use it are skipped, with the reason shown, when ``/usr/bin/chromium`` is missing
  (``./dev test`` installs it first, so CI runs them).
- ``no_vendor_keys`` (for every test): the test app knows no vendor key (the demo only).
- ``served``: a real ``echo-ai serve`` per test module, in a process of its own on a free
  port of 127.0.0.1, with a fresh data directory and no vendor keys (the offline demo
  provider only).
- ``new_page(viewport)``: a page in a fresh browser context (its own cookies) on the
  served site, watched (:class:`tests.web.browser.Watch`); ``page`` is one at 1280x800,
  ``phone_page`` one at 375x812. When the test ends, a console error, a page error, an
  unannounced error response or a request that left 127.0.0.1 in any of them fails it.

Browser tests are plain (not ``async``) functions using Playwright's sync API, and take
no async fixtures: while one runs, Playwright's loop is the thread's running loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect, sync_playwright

from echo_ai.config import Settings
from tests.live import ServeProcess, serve_env
from tests.web.browser import (
    DESKTOP,
    PHONE,
    chromium_missing,
    launch,
    playwright_turn,
    release_thread,
    watched,
)

ACTION_TIMEOUT_MS = 15_000
"""Clicks, fills and navigations on a busy 2-core machine (conditions, not sleeps)."""
expect.set_options(timeout=10_000)

NewPage = Callable[..., Page]


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Playwright]:
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    playwright = sync_playwright().start()
    release_thread()
    try:
        yield playwright
    finally:
        with playwright_turn(playwright):
            playwright.stop()


@pytest.fixture(scope="session")
def browser(_playwright: Playwright) -> Iterator[Browser]:
    with playwright_turn(_playwright):
        browser = launch(_playwright)
    try:
        yield browser
    finally:
        with playwright_turn(_playwright):
            browser.close()


@pytest.fixture(autouse=True)
def no_vendor_keys(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """No vendor configured but the offline demo, whatever the machine's environment: the
    app's settings of a test that has them (through ``settings``, ``app`` or ``client``)
    get an empty vendor environment, returned for the test to add keys to (a fake
    OpenAI...). Browser tests have a served site instead (:func:`tests.live.serve_env`)."""
    keys: dict[str, str] = {}
    if "settings" in request.fixturenames:
        settings: Settings = request.getfixturevalue("settings")
        monkeypatch.setattr(settings, "vendor_environment", keys)
    return keys


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """``echo-ai serve`` for this module's tests."""
    if chromium_missing():  # no server for tests that are skipped anyway
        pytest.skip(str(chromium_missing()))
    root = tmp_path_factory.mktemp("served")
    server = ServeProcess(serve_env(root / "data"), cwd=root)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def new_page(_playwright: Playwright, browser: Browser, served: ServeProcess) -> Iterator[NewPage]:
    """Open pages in fresh contexts: ``new_page(viewport=DESKTOP, javascript=True)``."""
    contexts = []
    with playwright_turn(_playwright):

        def open_page(viewport: ViewportSize = DESKTOP, *, javascript: bool = True) -> Page:
            phone = viewport["width"] < 600
            context = browser.new_context(
                base_url=served.url,
                viewport=viewport,
                is_mobile=phone,
                has_touch=phone,
                java_script_enabled=javascript,
                locale="en-GB",
                timezone_id="Europe/Paris",
                accept_downloads=True,
            )
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            contexts.append((context, watched(context)))
            return context.new_page()

        try:
            yield open_page
        finally:
            problems = []
            for context, watch in contexts:
                problems.extend(watch.problems)
                context.close()
    assert not problems, "in the browser:\n" + "\n".join(problems)


@pytest.fixture
def page(new_page: NewPage) -> Page:
    """A page at 1280x800."""
    return new_page(DESKTOP)


@pytest.fixture
def phone_page(new_page: NewPage) -> Page:
    """A page at 375x812 (a phone: touch, the page's viewport meta honoured)."""
    return new_page(PHONE)
