"""Adaptive sampling in a real browser: the form shows its fields only when chosen, the
planner follows what is typed (htmx), and the experiment page says where each provider
stopped."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from echo_ai.analysis.sampling import answers_for_half_width
from tests.web.browser import checkpoint, create_account

COMPLETION_MS = 120_000


def test_an_adaptive_experiment_is_planned_run_and_explained(page: Page) -> None:
    create_account(page, "adaptive@example.com")

    page.goto("/experiments/new")
    page.get_by_label("Prompt").fill("Which CRM should a small agency use?")
    page.locator('[name="brand.name"]').fill("HubSpot")
    points = page.get_by_label("Adaptive: precision, ± points")
    expect(points).to_be_hidden()  # a fixed count is the default
    planner = page.locator(".planner")
    expect(planner).to_contain_text("Change seen between two runs")

    page.get_by_label("Until a rate is precise enough").check()
    expect(points).to_be_visible()
    page.get_by_label("Iterations per provider").fill("600")
    points.fill("6")
    # The planner follows (htmx): the fixed count for ±6 points at 50%.
    expect(page.locator("#plan-fixed")).to_have_text(str(answers_for_half_width(0.06)))
    expect(planner).to_contain_text("Adaptive: answers per provider")
    expect(page.locator("#estimate")).to_contain_text("Estimated cost (at most)")
    checkpoint(page)

    page.get_by_role("button", name="Run experiment").click()
    expect(page).to_have_url(re.compile(r"/experiments/[0-9a-f-]+$"))
    expect(page.locator("h1 .badge").first).to_have_text("completed", timeout=COMPLETION_MS)
    summary = page.locator(".adaptive-summary")
    expect(summary).to_contain_text("visibility ±6 points")
    expect(summary).to_contain_text(re.compile(r"reached (after|at)|not reached within"))
    expect(page.locator(".experiment-summary")).to_contain_text("adaptive, at most 600")
    checkpoint(page)
