"""In a browser: a demo run's "Also recommended" table, and adding a name from it as a
competitor (the page comes back re-scored, the name now among the tracked brands)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.live import ServeProcess
from tests.web.browser import checkpoint, create_account, finished_demo_run, watch_of
from tests.web.conftest import NewPage

BODY = {
    "name": "Demo CRM",
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {"target": {"name": "HubSpot"}},
    "providers": ["demo"],
    # The demo names Attio in 45% of its answers: in 40 answers it fails to recur (be
    # named twice or more) with a chance of about 1e-9.
    "iterations": 40,
}


def test_add_a_discovered_name_as_competitor(new_page: NewPage, served: ServeProcess) -> None:
    page: Page = new_page()
    watch = watch_of(page)
    create_account(page, "discover@example.com")
    finished_demo_run(served.url, "discover@example.com", BODY)

    page.goto("/")
    page.get_by_role("link", name="Demo CRM").first.click()
    expect(page).to_have_url(re.compile(r"/experiments/[0-9a-f-]+$"))
    section = page.locator("#discovered")
    expect(section.get_by_role("heading", name=re.compile("Also recommended"))).to_be_visible()
    expect(section.locator(".badge.synthetic").first).to_be_visible()
    table = section.get_by_role("table")
    row = table.locator("tbody tr", has_text="Attio")
    expect(row).to_contain_text(re.compile(r"\d+(\.\d)?%"))
    checkpoint(page)

    row.get_by_role("button", name="Add Attio as competitor").click()
    expect(page).to_have_url(re.compile(r"/experiments/[0-9a-f-]+#discovered$"))
    expect(page.locator("#discovered tbody tr", has_text="Attio")).to_have_count(0)
    # Now tracked: a row of "Who wins", with its rate from the same answers.
    brands = page.get_by_role("table", name="Mention rate per brand")
    expect(brands.locator("tbody tr", has_text="Attio")).to_contain_text(re.compile(r"\d%"))
    expect(page.get_by_role("button", name="Add Attio as competitor")).to_have_count(0)
    checkpoint(page)
    watch.assert_clean("after adding a competitor")
