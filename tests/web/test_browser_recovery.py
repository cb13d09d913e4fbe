"""A forgotten password in a browser: "Forgot password?" on the sign-in page, the link
from the mail that ``echo-ai serve`` (no SMTP server) wrote to its outbox folder, a new
password, and signing in with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.kit import PASSWORD
from tests.live import ServeProcess, serve_env
from tests.web.browser import checkpoint, chromium_missing, mailed_link, watch_of

NEW_PASSWORD = "a fresh passphrase for ada"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served-recovery") / "data"


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


def test_a_forgotten_password_is_reset_from_the_mailed_link(
    page: Page, served: ServeProcess, data_dir: Path
) -> None:
    page.goto("/signup")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I accept the terms").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("Please confirm your e-mail address")
    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    checkpoint(page)
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("is on its way")

    link = mailed_link(data_dir / "outbox", "Reset your", "/reset-password")
    assert link.startswith(f"{served.url}/reset-password?token=echo_pr_")
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    checkpoint(page)
    with watch_of(page).expecting(422):
        page.get_by_label("New password").fill("short")
        page.get_by_role("button", name="Set the password").click()
        expect(page.get_by_text("at least", exact=False).first).to_be_visible()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("status")).to_contain_text("sign in with the new one")

    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    checkpoint(page)
