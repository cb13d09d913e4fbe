"""Two-factor authentication in a browser: set up from Settings → Security with the QR
code drawn in the page, recovery codes shown once, then the two-step sign-in; the
sessions page lists this browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
from playwright.sync_api import Page, expect

from tests.kit import PASSWORD
from tests.web.browser import checkpoint, create_account, watch_of


def test_two_factor_set_up_and_sign_in(page: Page) -> None:
    watch = watch_of(page)
    create_account(page, "totp@example.com")

    page.goto("/settings/members")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Security").click()
    expect(page).to_have_url(re.compile(r"/settings/security$"))
    set_up = page.locator("form", has=page.get_by_role("button", name="Set up two-factor"))
    set_up.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Set up two-factor authentication").click()
    expect(page.locator(".qr svg")).to_be_visible()
    checkpoint(page)
    key = page.locator("code").first.inner_text()
    totp = pyotp.TOTP(key)
    # The previous step's code: the current one stays unused for the sign-in below.
    page.get_by_label("Code from the app").fill(totp.at(datetime.now(UTC) - timedelta(seconds=30)))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_text("Your recovery codes.")).to_be_visible()
    # This browser was the only session: nothing else to sign out, and it stays.
    expect(page.get_by_role("status").first).to_have_text(
        "Two-factor authentication is on. Every sign-in from now on asks for a code."
    )
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    checkpoint(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Email").fill("totp@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    with watch.expecting(401):
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_label("Authentication code")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_value("")  # never kept in the page
    checkpoint(page)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authentication code").fill(totp.now())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.goto("/settings/sessions")
    expect(page.locator("tbody tr", has_text="this browser")).to_contain_text("Chrome on Linux")
    checkpoint(page)
