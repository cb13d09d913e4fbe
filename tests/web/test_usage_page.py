"""The usage page in a browser: the plan, each limit, what is used and what is left this
month, as text (the served site's free plan set to small figures)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.kit import PASSWORD, wait_until_sync
from tests.live import ServeProcess, serve_env
from tests.web.browser import chromium_missing


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """``echo-ai serve`` whose free plan allows 500 iterations a month and 4 members."""
    if chromium_missing():
        pytest.skip(str(chromium_missing()))
    root = tmp_path_factory.mktemp("served")
    env = serve_env(root / "data")
    env["ECHO_AI_BILLING__FREE__ITERATIONS_PER_MONTH"] = "500"
    env["ECHO_AI_BILLING__FREE__MEMBERS"] = "4"
    server = ServeProcess(env, cwd=root)
    try:
        yield server
    finally:
        server.stop()


def _run_demo_experiment(served: ServeProcess, email: str) -> None:
    """A finished 20-iteration demo experiment of the user's workspace, through the API."""
    with httpx.Client(base_url=served.url, timeout=30) as api:
        token = api.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        created = api.post(
            "/v1/experiments",
            headers=headers,
            json={
                "prompt": "Best CRM?",
                "brands": {"target": {"name": "HubSpot"}},
                "providers": ["demo"],
                "iterations": 20,
            },
        )
        assert created.status_code == 202, created.text

        def finished() -> bool:
            detail = api.get(f"/v1/experiments/{created.json()['id']}", headers=headers)
            return bool(detail.json()["status"] == "completed")

        wait_until_sync(finished, within=60, message="the demo experiment did not finish")


def test_the_usage_page_shows_the_plan_its_limits_and_whats_left(
    page: Page, served: ServeProcess
) -> None:
    page.goto("/signup")
    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I accept the terms").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    _run_demo_experiment(served, "ada@example.com")

    page.goto("/settings")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Usage").click()

    expect(page).to_have_url(re.compile(r"/settings/usage$"))
    expect(page.locator("#usage-plan")).to_have_text("free")
    expect(page.locator("#usage-stored")).to_have_text("20")
    expect(page.locator("#usage-in-flight")).to_have_text("0")
    month = page.locator('tr[data-quota="iterations_per_month"]')
    expect(month.locator("td").nth(0)).to_have_text("20")
    expect(month.locator("td").nth(1)).to_have_text("500")
    expect(month.locator("td").nth(2)).to_contain_text("480 left")
    members = page.locator('tr[data-quota="members"]')
    expect(members.locator("td").nth(1)).to_have_text("4")
    expect(members.locator("td").nth(2)).to_contain_text("3 left")
    providers = page.locator('tr[data-quota="providers"]')
    expect(providers).to_contain_text("demo, gemini, openai")
    expect(page.get_by_role("link", name="Usage")).to_have_attribute("aria-current", "page")
