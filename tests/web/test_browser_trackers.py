"""Trackers in a real browser: a brand profile (or brands typed in the form), then a
tracker of prompts pasted with topics; its page fills in as the prompts finish (htmx) and
shows pooled figures with the cluster note and their chart, synthetic labelled, each
prompt linking to its experiment, and downloads its figures."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web.browser import checkpoint, create_account

COMPLETION_MS = 120_000


def test_a_tracker_is_created_from_pasted_prompts_and_its_figures_fill_in(page: Page) -> None:
    create_account(page, "tracker@example.com")

    page.goto("/brands/new")
    page.locator('[name="brand.name"]').fill("HubSpot")
    page.locator('[name="competitors.0.name"]').fill("Salesforce")
    page.get_by_role("button", name="Create brand profile").click()
    expect(page).to_have_url(re.compile(r"/brands/[0-9a-f-]+\?saved=1$"))

    page.get_by_role("link", name="Trackers").click()
    expect(page.get_by_role("heading", name="No tracker yet")).to_be_visible()
    page.get_by_role("link", name="New tracker").click()
    page.get_by_label("Tracker name").fill("CRM questions")
    page.get_by_label("Brand profile").select_option(label="HubSpot")
    page.get_by_label("Answers per provider and prompt").fill("5")
    # Candidates written by the demo provider, swapped in by htmx, one ticked.
    page.get_by_label("Category (optional)").fill("CRM software")
    page.get_by_role("button", name="Suggest prompts").click()
    candidates = page.locator("#candidates")
    expect(candidates).to_contain_text("synthetic")
    page.get_by_label("Is HubSpot better than Salesforce?").check()
    page.get_by_label("Prompts, one a line").fill(
        "startups: Best CRM for a startup?\nstartups: Cheapest CRM?\nIs HubSpot worth it?"
    )
    checkpoint(page)
    page.get_by_role("button", name="Create tracker and run it").click()

    expect(page).to_have_url(re.compile(r"/trackers/[0-9a-f-]+$"))
    expect(page.get_by_role("heading", name="CRM questions")).to_be_visible()
    expect(page.get_by_text("4 / 4").first).to_be_visible(timeout=COMPLETION_MS)
    expect(page.locator("#cluster-note")).to_contain_text("treat each prompt as a cluster")
    expect(page.get_by_role("note")).to_contain_text("Synthetic data")
    expect(page.get_by_role("rowheader", name="Topic: startups")).to_be_visible()
    checkpoint(page)

    page.get_by_role("link", name="Cheapest CRM?").click()
    expect(page).to_have_url(re.compile(r"/experiments/[0-9a-f-]+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cheapest CRM?")


def test_a_tracker_with_typed_brands_charts_its_figures_and_downloads_them(page: Page) -> None:
    """No brand profile: the brands are typed in the form (with one more competitor than
    offered); the page draws the visibility chart beside its table, labelled synthetic,
    and downloads the figures as CSV."""
    create_account(page, "typed@example.com")
    page.goto("/trackers/new")
    page.get_by_label("Tracker name").fill("Typed CRM questions")
    page.locator('[name="brand.name"]').fill("HubSpot")
    page.locator('[name="competitors.0.name"]').fill("Salesforce")
    page.get_by_role("button", name="Add another competitor").click()
    expect(page.locator('[name="brand.name"]')).to_have_value("HubSpot")
    page.locator('[name="competitors.3.name"]').fill("Pipedrive")
    page.get_by_label("Answers per provider and prompt").fill("4")
    page.get_by_label("Prompts, one a line").fill(
        "startups: Best CRM for a startup?\nstartups: Cheapest CRM?\nIs HubSpot worth it?"
    )
    checkpoint(page)
    page.get_by_role("button", name="Create tracker and run it").click()

    expect(page).to_have_url(re.compile(r"/trackers/[0-9a-f-]+$"))
    expect(page.get_by_text("3 / 3").first).to_be_visible(timeout=COMPLETION_MS)
    expect(page.get_by_text("Target HubSpot")).to_be_visible()
    chart = page.locator(".chart[data-chart=groups]")
    expect(chart.locator("canvas")).to_have_count(1)  # drawn after the page refreshed itself
    expect(page.locator("#pooled-h")).to_contain_text("synthetic")
    expect(page.get_by_role("rowheader", name="Topic: startups")).to_be_visible()
    checkpoint(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    header, first = text.splitlines()[:2]
    assert header.startswith("tracker_id,level,topic,experiment_id,prompt,run")
    assert ",overall,," in first and ",visibility," in first and ",cluster-t,True," in first
