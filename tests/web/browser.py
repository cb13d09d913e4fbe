"""The browser tests' kit: Debian's Chromium driven by Playwright's sync API.

- :func:`launch` starts ``/usr/bin/chromium`` (Debian's package, which ``./dev test``
  installs when it is missing; Playwright's own browser downloads are never used) headless
  with the flags a machine without a display, a GPU or the internet needs.
- :class:`Watch` listens to a browser context: console errors and uncaught page errors
  (a Content-Security-Policy violation is a console error), every request's URL (none may
  leave 127.0.0.1), error responses (a 4xx/5xx the test did not announce with
  :meth:`Watch.expecting` is a problem), and the encoding of every script.
- :func:`checkpoint` is what the tests call on every page they visit: the watch is clean,
  no sideways scrolling at a phone's width, the JavaScript the page loaded stays within
  :data:`JS_BUDGET` compressed (brotli) and axe-core finds no serious or critical
  accessibility violation.

Playwright's sync API runs its own event loop in the test's thread (on greenlets) and
leaves it marked as the thread's *running* loop between calls; pytest-asyncio would then
refuse to run the async tests that follow in the same process ("another loop is
running"). :func:`playwright_turn` marks the loop running only while a browser test (or
fixture) uses it: the fixtures in ``conftest.py`` take every turn, so tests never do.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import httpx
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    WebError,
    expect,
)

from tests.kit import PASSWORD, wait_until_sync

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",  # root in a container: no user namespaces for Chromium's sandbox
    "--disable-gpu",
    "--disable-background-networking",  # no update checks, no safe-browsing lists...
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
AXE = Path(__file__).parent / "vendor" / "axe" / "axe.min.js"

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
JS_BUDGET = 150 * 1024
"""Bytes of JavaScript a page may load, compressed as transferred (the audit's PERF-06)."""

LOCAL_HOST = "127.0.0.1"
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return (
            f"{CHROMIUM} is missing: `./dev test` installs Debian's chromium package "
            "(apt-get install chromium)"
        )
    return None


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
    )


# --- the event loop of the sync API -------------------------------------------------


def _set_running_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    asyncio.events._set_running_loop(loop)


@contextmanager
def playwright_turn(playwright: Playwright) -> Iterator[None]:
    """Let ``playwright`` run its loop in this thread for the block, and leave the thread
    without a running loop afterwards (as pytest-asyncio needs it)."""
    loop: asyncio.AbstractEventLoop = playwright._loop  # the loop its greenlets run
    _set_running_loop(loop)
    try:
        yield
    finally:
        _set_running_loop(None)


def release_thread() -> None:
    """After Playwright's start (which leaves its loop marked running): release it."""
    _set_running_loop(None)


# --- watching a context -------------------------------------------------------------


@dataclass
class Watch:
    """What a browser context did that a test must know about."""

    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    script_encodings: dict[str, str | None] = field(default_factory=dict)
    _expecting: set[int] = field(default_factory=set)
    _expected_failures: Counter[tuple[str, int]] = field(default_factory=Counter)

    def attach(self, context: BrowserContext) -> None:
        context.on("console", self._on_console)
        context.on("weberror", self._on_page_error)
        context.on("request", self._on_request)
        context.on("response", self._on_response)

    @contextmanager
    def expecting(self, *statuses: int) -> Iterator[None]:
        """Error responses with these statuses are what the block tests (a 404 page, a
        form sent back with 422): they, and the console line the browser logs for each,
        are not problems. The block must wait for the response (assert on its page)."""
        before = set(self._expecting)
        self._expecting.update(statuses)
        try:
            yield
        finally:
            self._expecting = before

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        failed = _FAILED_LOAD.match(message.text)
        if failed:
            key = (str(message.location.get("url", "")), int(failed.group(1)))
            if self._expected_failures[key] > 0:
                self._expected_failures[key] -= 1
                return
        where = message.location.get("url", "")
        self.problems.append(f"console error: {message.text} (at {where})")

    def _on_page_error(self, error: WebError) -> None:
        self.problems.append(f"page error: {error.error}")

    def _on_request(self, request: Request) -> None:
        url = request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme in {"data", "blob", "about"}:
            return
        if parts.hostname != LOCAL_HOST:
            self.problems.append(f"request leaves {LOCAL_HOST}: {request.method} {url}")

    def _on_response(self, response: Response) -> None:
        if response.request.resource_type == "script":
            self.script_encodings[response.url] = response.headers.get("content-encoding")
        status = response.status
        if status < 400:
            return
        if status in self._expecting:
            self._expected_failures[(response.url, status)] += 1
        else:
            self.problems.append(f"{response.request.method} {response.url} answered {status}")

    def assert_clean(self, where: str = "") -> None:
        assert not self.problems, f"in the browser{f' at {where}' if where else ''}:\n" + (
            "\n".join(self.problems)
        )


_WATCHES: WeakKeyDictionary[BrowserContext, Watch] = WeakKeyDictionary()


def watched(context: BrowserContext) -> Watch:
    watch = Watch()
    watch.attach(context)
    _WATCHES[context] = watch
    return watch


def watch_of(page: Page) -> Watch:
    return _WATCHES[page.context]


# --- what every visited page must satisfy ---------------------------------------------


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def assert_no_sideways_scroll(page: Page) -> None:
    viewport = page.viewport_size
    assert viewport is not None
    width = page_width(page)
    assert width <= viewport["width"], (
        f"{page.url} scrolls sideways at {viewport['width']} px: the page is {width} px wide; "
        f"widest elements: {widest_elements(page, viewport['width'])}"
    )


def widest_elements(page: Page, limit: int) -> list[str]:
    """The elements that reach beyond ``limit`` px (for the failure message)."""
    found: list[str] = page.evaluate(
        """(limit) => Array.from(document.querySelectorAll('body *'))
            .filter(el => el.getBoundingClientRect().right > limit + 0.5)
            .slice(0, 8)
            .map(el => el.tagName.toLowerCase()
                + (el.id ? '#' + el.id : '')
                + (el.className && typeof el.className === 'string'
                    ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
                + ' (right ' + Math.round(el.getBoundingClientRect().right) + ')')""",
        limit,
    )
    return found


def script_weight(page: Page) -> dict[str, int]:
    """The scripts the current document loaded, each with its body size as transferred
    (compressed; from the Resource Timing entries, also for copies from the cache)."""
    entries: list[list[Any]] = page.evaluate(
        """performance.getEntriesByType('resource')
            .filter(e => e.initiatorType === 'script')
            .map(e => [e.name, e.encodedBodySize])"""
    )
    return {str(url): int(size) for url, size in entries}


def assert_js_budget(page: Page) -> int:
    """The page's JavaScript: every file brotli-compressed, under :data:`JS_BUDGET`
    bytes in all. Returns the total."""
    scripts = script_weight(page)
    encodings = watch_of(page).script_encodings
    plain = [url for url in scripts if encodings.get(url, "br") != "br"]
    assert not plain, f"scripts not served brotli-compressed on {page.url}: {plain}"
    total = sum(scripts.values())
    assert total < JS_BUDGET, f"{page.url} loads {total} bytes of JavaScript: {scripts}"
    return total


_SERIOUS = ("serious", "critical")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page.

    axe is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern, so the page keeps its real CSP (a
    ``bypass_csp`` context would hide CSP violations from the same journey) and no
    inline script is added to it."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = page.evaluate(
        """axe.run(document, {resultTypes: ['violations']}).then(result => result.violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 5).map(n => ({
                            target: n.target.join(' '), summary: n.failureSummary}))})))"""
    )
    return [v for v in violations if v["impact"] in _SERIOUS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            summary = " ".join(str(node["summary"] or "").split())
            lines.append(f"    {node['target']}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe on {page.url}:\n{describe_violations(violations)}"


def checkpoint(page: Page, *, axe: bool = True) -> None:
    """Everything a visited page must satisfy, in the order that explains a failure
    best: console and network clean, no sideways scrolling on a phone, the JavaScript
    budget, then accessibility."""
    page.wait_for_load_state("load")
    where = urlsplit(page.url).path
    watch_of(page).assert_clean(where)
    assert_no_sideways_scroll(page)
    assert_js_budget(page)
    if axe:
        assert_accessible(page)
    watch_of(page).assert_clean(where)


def mailed_link(outbox: Path, subject: str, path: str) -> str:
    """The link to ``path`` (``/reset-password``...) in the latest mail of the outbox
    folder (``echo-ai serve`` without an SMTP server) whose subject contains ``subject``,
    once it is there."""

    def mails() -> list[EmailMessage]:
        if not outbox.exists():
            return []
        found = []
        for file in sorted(outbox.iterdir()):
            message = message_from_bytes(file.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            if subject in str(message["Subject"]):
                found.append(message)
        return found

    wait_until_sync(lambda: bool(mails()), message=f"no mail {subject!r} in the outbox")
    body = mails()[-1].get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(rf"http://\S+{re.escape(path)}\?token=\S+", body.get_content())
    assert link is not None
    return link.group(0)


# --- a user and their data, for the tests of one page -----------------------------------


def create_account(page: Page, email: str) -> None:
    """Sign up in the browser (the page ends signed in)."""
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I accept the terms").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def finished_demo_run(base_url: str, email: str, body: dict[str, Any]) -> str:
    """An experiment of the user's (``body``, the API's), created through the served API
    and waited for until completed: its id."""
    with httpx.Client(base_url=base_url, timeout=30) as api:
        login = api.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = api.post("/v1/experiments", headers=headers, json=body)
        assert created.status_code == 202, created.text
        experiment_id = str(created.json()["id"])
        wait_until_sync(
            lambda: (
                api.get(f"/v1/experiments/{experiment_id}", headers=headers).json()["status"]
                == "completed"
            ),
            within=60,
            message="the demo run did not complete",
        )
    return experiment_id
