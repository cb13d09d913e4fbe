"""Settings › Privacy in a browser (``echo-ai serve``): an owner shortens the retention of
raw answers and turns scrubbing on; a longer retention than the plan's is refused beside
the field. Checked for console errors, phone width and accessibility (axe)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.browser import checkpoint, create_account, watch_of


def test_an_owner_sets_the_privacy_settings(page: Page) -> None:
    create_account(page, "dpo@example.com")

    page.goto("/settings")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Privacy").click()
    expect(page.locator("#retention-effective")).to_have_text("30 days")
    checkpoint(page)

    page.get_by_label("Keep raw answers (days)").fill("45")
    with watch_of(page).expecting(422):
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#e-answer_retention_days")).to_contain_text("only shorten")

    page.get_by_label("Keep raw answers (days)").fill("10")
    page.get_by_label("Replace e-mail addresses and phone numbers").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Privacy settings saved.")
    expect(page.locator("#retention-effective")).to_have_text("10 days")
    expect(page.locator("#scrubbing")).to_have_text("removed before storage")
    checkpoint(page)
