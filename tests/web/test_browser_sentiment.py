"""Sentiment in a browser: the experiment page's table and chart per brand (labelled
synthetic for a demo run), and the raw answers' sentiment badges, at desktop and phone
widths, with the page checks (no console error, accessibility, no sideways scroll)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.live import ServeProcess
from tests.web.browser import PHONE, checkpoint, create_account, finished_demo_run
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


def test_sentiment_per_brand_and_per_answer(new_page: NewPage, served: ServeProcess) -> None:
    page = new_page()
    create_account(page, "sentiment@example.com")
    experiment_id = finished_demo_run(served.url, "sentiment@example.com", BODY)

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


def test_judge_the_sentiment_from_the_experiment_page(
    new_page: NewPage, served: ServeProcess
) -> None:
    page = new_page()
    create_account(page, "judge@example.com")
    experiment_id = finished_demo_run(served.url, "judge@example.com", {**BODY, "iterations": 6})

    page.goto(f"/experiments/{experiment_id}")
    scorer = page.locator("#sentiment-scorer")
    expect(scorer).to_contain_text("Scored by the local lexicon scorer.")
    scorer.get_by_role("link", name="Judge with a model").click()
    expect(page.locator("#judge-estimate")).to_contain_text("demo:demo-synthetic-1")
    checkpoint(page)
    page.get_by_role("button", name=re.compile(r"^Judge \d+ answers$")).click()

    # Started in the background: its progress on the page, polled until it has ended.
    expect(page).to_have_url(re.compile(rf"/experiments/{experiment_id}/sentiment-judge"))
    expect(page.locator("#judging-status")).to_contain_text("completed")
    expect(page.locator("#judging")).to_contain_text("6 of 6 complete answers done")
    checkpoint(page)
    page.get_by_role("link", name="See the sentiment").click()
    expect(page).to_have_url(re.compile(rf"/experiments/{experiment_id}#sentiment$"))
    expect(scorer).to_contain_text("Judged by demo:demo-synthetic-1")
    expect(scorer.locator(".badge.synthetic")).to_have_text("synthetic")
    expect(page.locator("tr[data-brand=HubSpot]")).to_contain_text("judge:demo:demo-synthetic-1")
    checkpoint(page)
