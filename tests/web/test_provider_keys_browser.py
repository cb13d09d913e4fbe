"""Settings → Provider keys in a browser: a key typed into a password field, stored, shown
by its last four characters only, refused base URLs said beside the field, then deleted."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.browser import checkpoint, create_account, watch_of

KEY = "sk-browser-Secret-Value-8086"


def test_an_owner_stores_and_deletes_a_provider_key(page: Page) -> None:
    watch = watch_of(page)
    create_account(page, "keys-owner@example.com")

    page.goto("/settings/members")
    page.get_by_role("navigation", name="Settings").get_by_role(
        "link", name="Provider keys"
    ).click()
    expect(page).to_have_url(re.compile(r"/settings/provider-keys$"))
    expect(page.get_by_text("No provider key stored")).to_be_visible()
    key_field = page.get_by_label("API key")
    expect(key_field).to_have_attribute("type", "password")
    checkpoint(page)

    # A base URL on a private network is refused beside its field; the key is not kept.
    page.get_by_label("Vendor").select_option("openai_compatible")
    key_field.fill(KEY)
    page.get_by_label("Base URL (OpenAI-compatible server only)").fill("http://192.168.1.20/v1")
    with watch.expecting(422):
        page.get_by_role("button", name="Store key").click()
        expect(page.locator("#e-base_url")).to_contain_text("192.168.1.20")
    expect(page.get_by_label("API key")).to_have_value("")
    expect(page.get_by_label("Vendor")).to_have_value("openai_compatible")
    checkpoint(page)

    page.get_by_label("Vendor").select_option("anthropic")
    page.get_by_label("API key").fill(KEY)
    page.get_by_label("Base URL (OpenAI-compatible server only)").fill("")
    page.get_by_role("button", name="Store key").click()
    expect(page.get_by_role("status")).to_have_text(f"The Anthropic key …{KEY[-4:]} was stored.")
    row = page.locator("tbody tr", has_text="Anthropic")
    expect(row).to_contain_text(f"…{KEY[-4:]}")
    expect(row).to_contain_text("keys-owner@example.com")
    assert KEY not in page.content()
    checkpoint(page)

    row.locator("summary", has_text="Delete").click()
    row.get_by_role("button", name="Yes, delete").click()
    expect(page).to_have_url(re.compile(r"/settings/provider-keys\?done=deleted$"))
    expect(page.get_by_text("No provider key stored")).to_be_visible()
    checkpoint(page)
