"""Focused browser checks of the pages a visitor meets before signing in: inline form
errors, the friendly error pages, reading without JavaScript, the script budget.

The whole signed-in journey is :mod:`tests.web.test_journey`."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.kit import PASSWORD
from tests.live import ServeProcess
from tests.web.browser import checkpoint, create_account, script_weight, watch_of
from tests.web.conftest import NewPage


def test_signed_out_visitor_meets_sign_in_inline_errors_and_error_pages(page: Page) -> None:
    watch = watch_of(page)

    # Not signed in: every page leads to the sign-in page, and back afterwards.
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/login\?next=/settings$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    checkpoint(page)

    # A wrong password: said once, without saying which part was wrong; email kept.
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    with watch.expecting(401):
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("The email or password is incorrect.")
    expect(page.get_by_label("Email")).to_have_value("nobody@example.com")
    checkpoint(page)

    # Sign-up errors beside their fields, what was typed kept, the field marked invalid.
    page.get_by_role("link", name="Create one").click()
    expect(page).to_have_url(re.compile(r"/signup\?next=/settings$"))
    checkpoint(page)
    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    with watch.expecting(422):
        page.get_by_role("button", name="Create account").click()
        expect(page.locator(".field.invalid").first).to_be_visible()
    email = page.get_by_label("Email")
    expect(email).to_have_value("not-an-email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-email")).not_to_be_empty()
    expect(page.get_by_label("Your name")).to_have_value("Ada")
    checkpoint(page)

    # A friendly 404 in the product's look, with the request id to quote.
    with watch.expecting(404):
        page.goto("/no/such/page")
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator(".error-page code")).to_have_text(re.compile(r"^[0-9a-f]{16,}$"))
    expect(page.get_by_role("link", name="Go to the overview")).to_be_visible()
    checkpoint(page)


def test_pages_read_and_forms_work_without_javascript(
    new_page: NewPage, served: ServeProcess
) -> None:
    page = new_page(javascript=False)
    create_account(page, "nojs@example.com")
    # Without JavaScript the workspace switcher keeps its submit button.
    expect(page.get_by_role("button", name="Switch")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))

    page.get_by_label("Email").fill("nojs@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_phone_sign_in_page_fits_and_scripts_stay_small(phone_page: Page) -> None:
    phone_page.goto("/login")
    checkpoint(phone_page)
    scripts = script_weight(phone_page)
    assert any("htmx" in url for url in scripts), scripts
    assert all(size > 0 for size in scripts.values()), scripts


def test_times_follow_the_browsers_time_zone(page: Page) -> None:
    """app.js tells the server the browser's zone (a cookie): from the next page on, times
    are shown in it (the context runs in Europe/Paris)."""
    create_account(page, "paris@example.com")
    page.goto("/settings/members")
    expect(page.locator(".site-footer")).to_contain_text("times in Europe/Paris")
    joined = page.locator("td[data-label=Joined] time").first
    expect(joined).to_have_text(re.compile(r" CES?T$"))
    checkpoint(page)
