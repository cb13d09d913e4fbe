"""Settings → Your data in a browser: prepare an export, download it when it is ready,
then delete the account with the password; the workspace that goes is named first."""

from __future__ import annotations

import io
import json
import re
import zipfile

from playwright.sync_api import Page, expect

from tests.kit import PASSWORD
from tests.web.browser import checkpoint, create_account, watch_of


def test_export_then_delete_the_account(page: Page) -> None:
    watch = watch_of(page)
    create_account(page, "leaving@example.com")

    page.goto("/settings")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Your data").click()
    expect(page).to_have_url(re.compile(r"/settings/data$"))
    page.get_by_role("button", name="Prepare my export").click()
    expect(page.get_by_role("status")).to_contain_text("being prepared")
    checkpoint(page)

    download_link = page.get_by_role("link", name="Download")
    for _ in range(50):  # the export is prepared in the background: reload until it shows
        if download_link.count():
            break
        page.wait_for_timeout(200)
        page.goto("/settings/data")
    with page.expect_download() as downloading:
        download_link.click()
    path = downloading.value.path()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        assert json.loads(archive.read("account.json"))["email"] == "leaving@example.com"

    expect(page.locator(".deleted-workspace")).to_have_count(1)
    page.get_by_label("Your password").fill("not my password")
    with watch.expecting(422):
        page.get_by_role("button", name="Delete my account").click()
        expect(page.get_by_role("alert")).to_contain_text("the password is incorrect")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/login\?deleted=1$"))
    expect(page.get_by_role("status")).to_contain_text("Your account is deleted")
    page.get_by_label("Email").fill("leaving@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    with watch.expecting(401):
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()
