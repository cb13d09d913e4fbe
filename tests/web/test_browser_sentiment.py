"""Sentiment in a browser: the experiment page's table and chart per brand (labelled
synthetic for a demo run), and the raw answers' sentiment badges, at desktop and phone
widths, with the page checks (no console error, accessibility, no sideways scroll)."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.kit import PASSWORD, wait_until_sync
from tests.live import ServeProcess
from tests.web.browser import PHONE, checkpoint
from tests.web.conftest import NewPage

BODY = {
    "name": "Sentiment CRM",
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {
        "target": {"name": "HubSpot"},
        "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}],
    },
    "providers": ["demo"],
    "iterations": 30,
}


def _demo_run(served: ServeProcess, email: str) -> str:
    """A finished demo experiment of the user's, through the served API: its id."""
    with httpx.Client(base_url=served.url, timeout=30) as api:
        login = api.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = api.post("/v1/experiments", headers=headers, json=BODY)
        assert created.status_code == 202, created.text
        url = f"/v1/experiments/{created.json()['id']}"
        wait_until_sync(
            lambda: api.get(url, headers=headers).json()["status"] == "completed",
            within=60,
            message="the demo run did not complete",
        )
        return str(created.json()["id"])


def _sign_up(page: Page, email: str) -> None:
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I accept the terms").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_sentiment_per_brand_and_per_answer(new_page: NewPage, served: ServeProcess) -> None:
    page = new_page()
    _sign_up(page, "sentiment@example.com")
    experiment_id = _demo_run(served, "sentiment@example.com")

    page.goto(f"/experiments/{experiment_id}")
    section = page.locator("#sentiment")
    expect(
        section.get_by_role("heading", name=re.compile("How each brand is spoken of"))
    ).to_be_visible()
    expect(section.locator("h2 .badge.synthetic")).to_have_text("synthetic")
    # The chart is drawn from the JSON beside the table.
    expect(section.locator(".chart[data-chart=sentiment] canvas")).to_have_count(1)
    row = section.locator("tr[data-brand=HubSpot]")
    expect(row).to_contain_text(re.compile(r"[+-]\d\.\d\d"))
    expect(row).to_contain_text(re.compile(r"n\s*=\s*\d+"))
    checkpoint(page)

    # The raw answers: each answer names how it speaks of each brand it mentions.
    page.goto(f"/experiments/{experiment_id}/answers")
    badge = page.locator(".sentiment-line .badge[data-brand]").first
    expect(badge).to_be_visible()
    expect(badge).to_have_text(
        re.compile(r"^(HubSpot|Salesforce|Pipedrive): (positive|neutral|negative) [+-]\d\.\d\d$")
    )
    label = badge.get_attribute("data-sentiment")
    brand = badge.get_attribute("data-brand")
    article = page.locator("article.answer").filter(has=badge)
    expect(article.locator(f"mark[title='{brand}']").first).to_have_attribute(
        "data-sentiment", label or ""
    )
    checkpoint(page)

    phone = new_page(PHONE)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"/experiments/{experiment_id}")
    expect(phone.locator("#sentiment tr[data-brand=HubSpot]")).to_be_visible()
    checkpoint(phone)
