"""Changing one's e-mail address in a browser: the form of Settings → Security (a wrong
password refused, the pending change shown), the link from the mail that ``echo-ai
serve`` (no SMTP server) wrote to its outbox folder, the confirmation, and signing in
with the new address only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.kit import PASSWORD
from tests.live import ServeProcess, serve_env
from tests.web.browser import checkpoint, chromium_missing, create_account, mailed_link, watch_of


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served-email-change") / "data"


@pytest.fixture(scope="module")
def served(data_dir: Path) -> Iterator[ServeProcess]:
    """``echo-ai serve`` without an SMTP server: mails go to ``<data_dir>/outbox``."""
    if chromium_missing():
        pytest.skip(str(chromium_missing()))
    server = ServeProcess(serve_env(data_dir), cwd=data_dir.parent)
    try:
        yield server
    finally:
        server.stop()


def _sign_in(page: Page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_address_is_changed_from_the_security_settings_and_the_mailed_link(
    page: Page, served: ServeProcess, data_dir: Path
) -> None:
    create_account(page, "ada@example.com")

    page.goto("/settings/security")
    email_card = page.locator("section", has=page.get_by_role("heading", name="E-mail address"))
    expect(email_card).to_contain_text("Your address: ada@example.com (not confirmed yet)")
    email_card.get_by_text("Change my address…").click()
    checkpoint(page)
    page.get_by_label("New e-mail address").fill("ada.new@example.com")
    email_card.get_by_label("Password").fill("not my password")
    with watch_of(page).expecting(401):
        page.get_by_role("button", name="Send the confirmation link").click()
        expect(page.get_by_role("alert")).to_contain_text("Your address was not changed")
    expect(page.get_by_label("New e-mail address")).to_have_value("ada.new@example.com")
    checkpoint(page)
    email_card.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Send the confirmation link").click()
    expect(page.get_by_role("status").first).to_contain_text("is on its way")
    expect(page.locator("#email-pending")).to_contain_text(
        "A confirmation was sent to ada.new@example.com"
    )
    checkpoint(page)

    link = mailed_link(data_dir / "outbox", "Confirm your new e-mail address", "/confirm-email")
    assert link.startswith(f"{served.url}/confirm-email?token=echo_ce_")
    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your new e-mail address")).to_be_visible()
    checkpoint(page)
    page.get_by_role("button", name="Make this my address").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Your account's address is now ada.new@example.com"
    )
    # Still signed in; the settings show the new, confirmed address and nothing pending.
    page.goto("/settings/security")
    expect(email_card).to_contain_text("Your address: ada.new@example.com (confirmed)")
    expect(page.locator("#email-pending")).to_have_count(0)

    # The link works once.
    with watch_of(page).expecting(400):
        page.goto(link)
        page.get_by_role("button", name="Make this my address").click()
        expect(page.get_by_role("alert")).to_contain_text("invalid, expired or already used")

    page.goto("/settings/security")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    with watch_of(page).expecting(401):
        _sign_in(page, "ada@example.com")
        expect(page.get_by_role("alert")).to_have_text("The email or password is incorrect.")
    _sign_in(page, "ada.new@example.com")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    checkpoint(page)
