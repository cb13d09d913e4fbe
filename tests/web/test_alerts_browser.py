"""An experiment's Alerts page in a browser: an owner makes a rule through its form (an
error said beside its field first), copies the webhook's secret shown once, edits the rule
and deletes it; every page visited passes the accessibility checks."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.live import ServeProcess, serve_env
from tests.web.browser import checkpoint, chromium_missing, create_account, watch_of

COMPLETION_MS = 60_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """``echo-ai serve`` whose webhooks may go to this machine (a local receiver)."""
    if chromium_missing():
        pytest.skip(str(chromium_missing()))
    root = tmp_path_factory.mktemp("served")
    env = serve_env(root / "data") | {"ECHO_AI_ALERTS__ALLOW_PRIVATE_WEBHOOK_URLS": "true"}
    server = ServeProcess(env, cwd=root)
    try:
        yield server
    finally:
        server.stop()


def test_an_owner_makes_edits_and_deletes_an_alert_rule(page: Page) -> None:
    watch = watch_of(page)
    create_account(page, "alerts-owner@example.com")

    page.goto("/experiments/new")
    page.get_by_label("Prompt").fill("What is the best CRM for a 10-person startup?")
    page.locator("#f-brand-name").fill("HubSpot")
    page.locator("#p-demo").check()
    page.get_by_label("Iterations per provider").fill("20")
    page.get_by_role("button", name="Run experiment").click()
    expect(page).to_have_url(re.compile(r"/experiments/[0-9a-f-]+$"))
    expect(page.locator("h1 .badge").first).to_have_text("completed", timeout=COMPLETION_MS)

    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page).to_have_url(re.compile(r"/experiments/[0-9a-f-]+/alerts$"))
    expect(page.get_by_text("No rule watches this experiment yet.")).to_be_visible()
    checkpoint(page)

    # Nothing named: the error is said beside the field, what was typed is kept.
    page.get_by_label("Minimum effect (points)").fill("8")
    with watch.expecting(422):
        page.get_by_role("button", name="Create the rule").click()
        expect(page.locator("#e-name")).to_have_text("Required.")
    expect(page.get_by_label("Minimum effect (points)")).to_have_value("8")
    checkpoint(page)

    page.get_by_label("Name", exact=True).fill("Visibility watch")
    page.get_by_label("top-1 rate").check()
    page.get_by_label("E-mail to").fill("team@example.com")
    page.get_by_label("Webhook URL").fill("http://127.0.0.1:9/hooks/echo")
    page.get_by_label("Webhook payload").select_option("slack")
    page.get_by_role("button", name="Create the rule").click()
    secret = page.get_by_role("textbox", name="Signing secret")
    expect(secret).to_have_value(re.compile(r"^whsec_"))
    row = page.locator(".rules-table tbody tr", has_text="Visibility watch")
    expect(row).to_contain_text("visibility, top1")
    expect(row).to_contain_text("8 points")
    expect(row).to_contain_text("webhook (slack)")
    checkpoint(page)

    # Post/Redirect/Get: a reload neither sends the form again nor shows the secret.
    expect(page).to_have_url(re.compile(r"/experiments/[0-9a-f-]+/alerts$"))
    page.reload()
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_count(0)  # shown once
    expect(page.locator(".rules-table tbody tr")).to_have_count(1)  # made once
    row.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Visibility watch")
    page.get_by_label("Name", exact=True).fill("Visibility moved")
    page.get_by_label("Compared with").select_option("baseline")
    page.get_by_role("button", name="Save the rule").click()
    expect(page).to_have_url(re.compile(r"/alerts$"))
    row = page.locator(".rules-table tbody tr", has_text="Visibility moved")
    expect(row).to_contain_text("the baseline")
    checkpoint(page)

    row.get_by_role("button", name="Delete the rule Visibility moved").click()
    expect(page.get_by_text("No rule watches this experiment yet.")).to_be_visible()
    expect(page.get_by_text("No alert fired yet.")).to_be_visible()
    checkpoint(page)


def test_an_owner_manages_workspace_wide_rules_in_settings(page: Page) -> None:
    create_account(page, "alerts-settings@example.com")
    page.goto("/settings")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Alerts").click()
    expect(page).to_have_url(re.compile(r"/settings/alerts$"))
    expect(page.get_by_text("No alert rule yet.")).to_be_visible()
    expect(page.get_by_text("No alert has been delivered yet.")).to_be_visible()
    checkpoint(page)

    page.get_by_label("Name", exact=True).fill("Any experiment")
    page.get_by_label("Brands whose mention rate is watched").fill("HubSpot, Pipedrive")
    page.get_by_label("Webhook URL").fill("http://127.0.0.1:9/hooks/echo")
    page.get_by_role("button", name="Create the rule").click()
    expect(page).to_have_url(re.compile(r"/settings/alerts$"))
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_value(re.compile(r"^whsec_"))
    row = page.locator(".rules-table tbody tr", has_text="Any experiment")
    expect(row).to_contain_text("every experiment")
    expect(row).to_contain_text("brands HubSpot, Pipedrive")
    checkpoint(page)

    page.reload()  # Post/Redirect/Get: nothing sent again, the secret not shown again
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_count(0)
    expect(page.locator(".rules-table tbody tr")).to_have_count(1)

    row.get_by_role("link", name="Edit").click()
    page.get_by_label("Name", exact=True).fill("Any experiment, moved")
    page.get_by_role("button", name="Save the rule").click()
    expect(page).to_have_url(re.compile(r"/settings/alerts$"))
    row = page.locator(".rules-table tbody tr", has_text="Any experiment, moved")
    expect(row).to_be_visible()
    checkpoint(page)

    row.get_by_role("button", name="Delete the rule Any experiment, moved").click()
    expect(page.get_by_text("No alert rule yet.")).to_be_visible()
    checkpoint(page)
