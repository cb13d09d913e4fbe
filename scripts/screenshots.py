#!/usr/bin/env python3
"""Screenshots of the dashboard for the README, refreshed from the real thing.

    uv run python scripts/screenshots.py            # writes docs/screenshots/*.png

It starts ``echo-ai serve`` on a scratch data directory (a free port of 127.0.0.1, no
vendor keys: the offline demo provider only), then, in Debian's Chromium driven by
Playwright (``/usr/bin/chromium``; ``./dev test`` installs it), signs up, stores a brand
profile, runs a demo experiment of 200 answers from the form to completion, schedules it
daily, and saves PNGs of the main pages at 1280 px wide, and of the
experiment page at 375 px, into ``docs/screenshots/``. Everything shown is synthetic.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the served site is started as the tests start it

from tests.live import ServeProcess, serve_env  # noqa: E402
from tests.web.browser import DESKTOP, PHONE, chromium_missing, launch  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
MAX_HEIGHT = 2400
"""Long pages are cut at this height (px): the top is what the README shows."""
PASSWORD = "correct horse battery staple"


def start_server(data_dir: Path) -> ServeProcess:
    """``echo-ai serve`` as the browser tests run it (:mod:`tests.live`): a free port of
    127.0.0.1, this machine's environment without our settings or vendor keys."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return ServeProcess(serve_env(data_dir), cwd=data_dir.parent)


CHARTS_SETTLED = """() => {
    const canvases = Array.from(document.querySelectorAll('canvas'));
    if (canvases.length === 0) return true;
    if (typeof Chart === 'undefined') return false;
    try {
        return Object.values(Chart.instances).every(chart => !Chart.animator.running(chart));
    } catch (e) { return true; }
}"""


def shoot(page: Page, name: str) -> None:
    page.wait_for_load_state("load")
    page.wait_for_function(CHARTS_SETTLED)
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    width = int(page.evaluate("document.documentElement.clientWidth"))
    path = OUT / f"{name}.png"
    page.screenshot(
        path=str(path),
        full_page=True,
        clip={"x": 0, "y": 0, "width": width, "height": min(height, MAX_HEIGHT)},
        animations="disabled",
    )
    print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KiB")


def wait_completed(page: Page) -> None:
    expect(page.locator("h1 .badge").first).to_have_text("completed", timeout=120_000)


def make_workspace(page: Page) -> str:
    """Sign up, a brand profile, a demo experiment run and scheduled: its URL."""
    page.goto("/signup")
    page.get_by_label("Your name").fill("Maya Marketer")
    page.get_by_label("Email").fill("maya@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.goto("/brands/new")
    brand = page.get_by_role("group", name="Your brand")
    brand.get_by_label("Name", exact=True).fill("HubSpot")
    brand.get_by_label("Aliases", exact=True).fill("HubSpot CRM")
    brand.get_by_label("Web domains").fill("hubspot.com")
    for number, (name, domain) in enumerate(
        [("Salesforce", "salesforce.com"), ("Pipedrive", "pipedrive.com")], start=1
    ):
        group = page.get_by_role("group", name=f"Competitor {number}")
        group.get_by_label("Name", exact=True).fill(name)
        group.get_by_label("Web domains").fill(domain)
    page.get_by_role("button", name="Create brand profile").click()
    expect(page.get_by_role("heading", name="HubSpot")).to_be_visible()

    page.goto("/experiments/new")
    page.get_by_label("Prompt").fill(
        "What is the best CRM for a 10-person startup? Give me your top recommendations."
    )
    page.get_by_label("Name (optional)").fill("Best CRM for a small startup")
    page.get_by_label("Brand profile").select_option(label="HubSpot")
    page.locator("#p-demo").check()
    page.get_by_label("Iterations per provider").fill("200")
    page.get_by_role("button", name="Run experiment").click()
    expect(page).to_have_url(re.compile(r"/experiments/[0-9a-f-]+$"))
    experiment = page.url
    wait_completed(page)

    page.goto(experiment + "/schedule")
    page.get_by_role("radio", name=re.compile(r"Every day")).check()
    expect(page.locator("#schedule-preview li")).to_have_count(5)
    path = "/" + experiment.split("/", 3)[3]
    page.locator(f"form[action='{path}/schedule'] button[type=submit]").click()
    expect(page).to_have_url(experiment)
    return experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    missing = chromium_missing()
    if missing:
        raise SystemExit(missing)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="echo-ai-screenshots-") as scratch:
        server = start_server(Path(scratch) / "data")
        url = server.url
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                context = browser.new_context(
                    base_url=url, viewport=DESKTOP, locale="en-GB", timezone_id="Europe/Paris"
                )
                page = context.new_page()
                page.goto("/login")
                shoot(page, "sign-in")
                experiment = make_workspace(page)
                for name, path in [
                    ("overview", "/"),
                    ("brands", "/brands"),
                    ("new-experiment", "/experiments/new"),
                    ("experiment", experiment),
                    ("runs", experiment + "/runs"),
                    ("settings-keys", "/settings/keys"),
                    ("settings-members", "/settings/members"),
                ]:
                    page.goto(path)
                    shoot(page, name)
                phone = browser.new_context(
                    base_url=url,
                    viewport=PHONE,
                    is_mobile=True,
                    has_touch=True,
                    locale="en-GB",
                    timezone_id="Europe/Paris",
                    storage_state=context.storage_state(),
                )
                phone_page = phone.new_page()
                phone_page.goto(experiment)
                shoot(phone_page, "experiment-phone")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
