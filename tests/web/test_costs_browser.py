"""The costs page in a browser: reached from the main navigation, the budget form's
inline error and its saved state, the warning-free status, the report of a demo run with
its grouping control and CSV download, at desktop and phone widths."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.kit import PASSWORD
from tests.live import ServeProcess
from tests.web.browser import PHONE, checkpoint, create_account, finished_demo_run, watch_of
from tests.web.conftest import NewPage

BODY = {
    "name": "Demo CRM",
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {"target": {"name": "HubSpot"}},
    "providers": ["demo"],
    "iterations": 4,
}


def test_costs_page_budget_and_report(new_page: NewPage, served: ServeProcess) -> None:
    page: Page = new_page()
    watch = watch_of(page)
    create_account(page, "costs@example.com")
    finished_demo_run(served.url, "costs@example.com", BODY)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Costs").click()
    expect(page).to_have_url(re.compile(r"/costs$"))
    expect(page.get_by_role("heading", name="Costs", exact=True)).to_be_visible()
    expect(page.locator("#cost-report")).to_contain_text("4")
    checkpoint(page)

    budget = page.get_by_label("Monthly budget (USD)")
    budget.fill("12.345")
    with watch.expecting(422):
        page.get_by_role("button", name="Save budget").click()
        expect(page.locator("#e-monthly_usd")).to_contain_text("at most 2 decimal places")
    expect(budget).to_have_value("12.345")
    expect(budget).to_have_attribute("aria-invalid", "true")
    checkpoint(page)

    page.get_by_label("Monthly budget (USD)").fill("25")
    page.get_by_role("button", name="Save budget").click()
    expect(page.get_by_role("status")).to_have_text("The monthly budget was saved.")
    expect(page.locator("dl.facts")).to_contain_text("$25.00")
    expect(page.locator("#budget-banner")).to_have_count(0)  # nothing spent: no warning
    checkpoint(page)

    page.get_by_label("Group by").select_option("experiment")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"by=experiment"))
    row = page.locator("#cost-report tbody tr").first
    expect(row).to_contain_text("Demo CRM")
    expect(row).to_contain_text("synthetic")
    link = page.get_by_role("link", name="Download CSV")
    expect(link).to_have_attribute(
        "href", re.compile(r"^/costs\.csv\?from=\d{4}-\d{2}&to=.*by=experiment$")
    )
    with page.expect_download() as download:
        link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "experiment_id,experiment,deleted,iterations,cost_usd,synthetic"
    assert ",Demo CRM,no,4,0.00,yes" in text
    checkpoint(page)

    # The experiment's own cap, on its page.
    page.locator("#cost-report").get_by_role("link", name="Demo CRM").click()
    expect(page.get_by_role("heading", name="Demo CRM")).to_be_visible()
    page.get_by_label("Monthly cap (USD)").fill("3")
    page.get_by_role("button", name="Save cap").click()
    expect(page.get_by_label("Monthly cap (USD)")).to_have_value("3.00")
    expect(page.get_by_role("button", name="Remove cap")).to_be_visible()
    checkpoint(page)

    page.goto("/costs")
    page.get_by_role("button", name="Remove budget").click()
    expect(page.get_by_role("status")).to_contain_text("no longer capped")

    phone = new_page(PHONE)
    phone.goto("/login")
    phone.get_by_label("Email").fill("costs@example.com")
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.get_by_role("button", name="Sign out")).to_be_visible()
    phone.goto("/costs?by=provider")
    expect(phone.locator("#cost-report")).to_contain_text("demo:")
    checkpoint(phone)
