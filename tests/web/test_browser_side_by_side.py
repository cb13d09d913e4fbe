"""Several personas side by side in a browser: chosen on the experiment page (a multiple
select), shown as a table with each figure's interval and its difference from A, the
synthetic label, at desktop and phone widths, with the page checks (no console error,
accessibility, no sideways scroll)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.live import ServeProcess
from tests.web.browser import PHONE, checkpoint, create_account, finished_demo_run
from tests.web.conftest import NewPage

EMAIL = "personas@example.com"


def _body(name: str, persona: str | None, rate: float) -> dict[str, object]:
    return {
        "name": name,
        "prompt": "What is the best CRM for a 10-person startup?",
        "persona": persona,
        "brands": {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]},
        "providers": ["demo"],
        "iterations": 60,
        "demo_probabilities": {"HubSpot": rate},
    }


def test_three_personas_chosen_and_shown_side_by_side(
    new_page: NewPage, served: ServeProcess
) -> None:
    page = new_page()
    create_account(page, EMAIL)
    founder = finished_demo_run(served.url, EMAIL, _body("Founder", "I founded a startup.", 0.1))
    finished_demo_run(served.url, EMAIL, _body("Agency", "I run an agency.", 0.1))
    finished_demo_run(served.url, EMAIL, _body("Bank", "I work at a bank.", 0.9))

    page.goto(f"/experiments/{founder}")
    several = page.get_by_label(re.compile("Or several side by side"))
    labels = several.locator("option").all_inner_texts()
    several.select_option(label=[x for x in labels if x.startswith(("Agency", "Bank"))])
    page.get_by_role("button", name="Side by side").click()

    expect(
        page.get_by_role("heading", name=re.compile("3 experiments side by side"))
    ).to_be_visible()
    expect(page.locator("h1 .badge.synthetic")).to_have_text("synthetic")
    facts = page.locator(".compared-experiments")
    expect(facts).to_contain_text("A: Founder")
    expect(facts).to_contain_text("persona: I founded a startup. → I work at a bank.")
    table = page.get_by_role("table", name="Visibility per provider and combined")
    pooled = table.get_by_role("row").filter(has_text="All providers")
    expect(pooled.locator("td")).to_have_count(3)
    expect(pooled.locator("td").nth(2)).to_contain_text("significant")  # 10% → 90%
    expect(pooled.locator("td").nth(0)).not_to_contain_text("vs A")
    expect(page.locator("section", has_text="Every significant difference from A")).to_contain_text(
        "Bank"
    )
    checkpoint(page)

    phone = new_page(PHONE)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(page.url)
    expect(phone.get_by_role("table", name="Mention rate per brand")).to_be_visible()
    checkpoint(phone)
