"""A marketer's first day, in a real browser against a real ``echo-ai serve``, at 1280 px and
at 375 px: sign up → a team workspace → brand profile → an experiment from the form (the
offline demo provider) → live progress to completion → metrics, charts and highlighted
answers → re-score → export download → schedule → invite a viewer, who sees no write
controls and whose forged writes are refused → API key create/revoke → sign out.

On every page visited (:func:`tests.web.browser.checkpoint`): no console error (CSP
violations included), no request off 127.0.0.1, no unannounced error response, no
sideways scrolling, JavaScript within its compressed budget, and no serious or critical
axe-core violation. The fixtures fail the test if anything of the kind happens between
checkpoints too.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from tests.kit import PASSWORD
from tests.live import ServeProcess
from tests.web.browser import DESKTOP, PHONE, checkpoint, watch_of
from tests.web.conftest import NewPage

pytestmark = pytest.mark.long  # a real server and browser for tens of seconds: start early

COMPLETION_MS = 90_000
"""A demo run of a few dozen answers takes a second or two; a busy machine, longer."""

TEAM = "Acme marketing"
PROMPT = "What is the best CRM for a 10-person startup?"


@dataclass
class Visitor:
    page: Page
    email: str

    def visit(self, path: str) -> None:
        self.page.goto(path)
        checkpoint(self.page)

    def csrf_token(self) -> str:
        return self.page.locator("input[name=csrf_token]").first.input_value()

    def forge(self, served: ServeProcess, path: str, **fields: str) -> int:
        """A POST built by hand with this visitor's own cookies and CSRF token (what a
        viewer could send without the page's buttons): its status."""
        response = self.page.request.post(
            path,
            form={"csrf_token": self.csrf_token(), **fields},
            headers={"Origin": served.url, "Accept": "text/html"},
            max_redirects=0,
        )
        return response.status


def sign_up(page: Page, email: str, name: str) -> None:
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I accept the terms").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def switcher(page: Page) -> Locator:
    """The workspace switcher of the header."""
    return page.get_by_role("combobox", name="Workspace", exact=True)


def switch_workspace(page: Page, name: str) -> None:
    option = switcher(page).locator("option", has_text=name)
    value = option.get_attribute("value")
    assert value, f"{name} is not in the switcher"
    with page.expect_navigation():
        switcher(page).select_option(value)  # app.js submits the switcher on change
    expect(switcher(page)).to_have_value(value)


def charts_drawn(page: Page) -> None:
    """Every chart canvas has pixels painted (Chart.js ran under the CSP)."""
    assert page.locator("canvas").count() > 0, "no chart on the page"
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('canvas')).every(canvas => {
            if (!canvas.width || !canvas.height) return false;
            const data = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
            return false;
        })"""
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "375px"])
def test_journey(new_page: NewPage, served: ServeProcess, viewport: ViewportSize) -> None:
    width = viewport["width"]
    owner = Visitor(new_page(viewport), f"owner-{width}@example.com")
    page = owner.page

    # --- sign up, into an empty overview ----------------------------------------------
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    checkpoint(page)
    page.get_by_role("link", name="Create one").click()
    checkpoint(page)
    sign_up(page, owner.email, "Olive Owner")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    checkpoint(page)

    # --- a team workspace to share -------------------------------------------------------
    owner.visit("/settings")
    page.get_by_label("Name of the new workspace").fill(TEAM)
    page.get_by_role("button", name="Create team workspace").click()
    expect(switcher(page)).to_contain_text(TEAM)
    checkpoint(page)
    switch_workspace(page, TEAM)
    checkpoint(page)

    # --- brand profile -----------------------------------------------------------------
    owner.visit("/brands")
    owner.visit("/brands/new")
    brand = page.get_by_role("group", name="Your brand")
    brand.get_by_label("Name", exact=True).fill("HubSpot")
    brand.get_by_label("Aliases", exact=True).fill("HubSpot CRM")
    brand.get_by_label("Web domains").fill("hubspot.com")
    first = page.get_by_role("group", name="Competitor 1")
    first.get_by_label("Name", exact=True).fill("Salesforce")
    first.get_by_label("Web domains").fill("salesforce.com")
    second = page.get_by_role("group", name="Competitor 2")
    second.get_by_label("Name", exact=True).fill("Pipedrive")
    page.get_by_role("button", name="Create brand profile").click()
    expect(page.get_by_role("heading", name="HubSpot")).to_be_visible()
    checkpoint(page)

    # --- an experiment from the form, with the demo provider -----------------------------
    owner.visit("/experiments/new")
    page.get_by_label("Prompt").fill(PROMPT)
    page.get_by_label("Name (optional)").fill(f"CRM at {width}px")
    page.get_by_label("Brand profile").select_option(label="HubSpot")
    page.locator("#p-demo").check()
    iterations = page.get_by_label("Iterations per provider")
    iterations.fill("40")
    # The live estimate follows the sample size (htmx, no reload).
    expect(page.locator("#estimate")).to_contain_text("±")
    expect(page.locator("#estimate")).to_contain_text("40")
    checkpoint(page)
    page.get_by_role("button", name="Run experiment").click()
    expect(page).to_have_url(re.compile(r"/experiments/[0-9a-f-]+$"))
    experiment_url = page.url
    experiment_path = "/" + experiment_url.split("/", 3)[3]

    # --- live progress to completion: the page settles by itself --------------------------
    watch_of(page).assert_clean(experiment_path)  # the page is there (no waiting on a 404)
    status = page.locator("h1 .badge").first
    expect(status).to_have_text("completed", timeout=COMPLETION_MS)
    expect(page.locator("#progress[hx-trigger]")).to_have_count(0)
    checkpoint(page)

    # --- metrics, charts and highlighted answers ----------------------------------------
    expect(page.locator(".badge.synthetic").first).to_be_visible()
    expect(page.get_by_text("n = 40").first).to_be_attached()
    charts_drawn(page)
    expect(page.locator("#answers-section mark.target").first).to_be_visible()
    expect(page.locator("#answers-section mark.target").first).to_have_text(
        re.compile("HubSpot", re.IGNORECASE)
    )

    # --- re-score: a competitor added, figures for it appear --------------------------------
    page.get_by_role("link", name="Re-score").click()
    expect(page).to_have_url(experiment_url + "/rescore")
    checkpoint(page)
    expect(
        page.get_by_role("group", name="Competitor 1").get_by_label("Name", exact=True)
    ).to_have_value("Salesforce")
    third = page.get_by_role("group", name="Competitor 3")
    third.get_by_label("Name", exact=True).fill("Zoho CRM")
    third.get_by_label("Aliases", exact=True).fill("Zoho")
    # Another competitor without JavaScript's help: the form comes back, what was typed kept.
    page.get_by_role("button", name="Add another competitor").click()
    expect(page.get_by_role("group", name="Competitor 5")).to_be_visible()
    third = page.get_by_role("group", name="Competitor 3")
    expect(third.get_by_label("Name", exact=True)).to_have_value("Zoho CRM")
    expect(third.get_by_label("Aliases", exact=True)).to_have_value("Zoho")
    checkpoint(page)
    page.get_by_role("button", name="Re-score the stored answers").click()
    expect(page).to_have_url(experiment_url)
    expect(page.get_by_text("Zoho CRM").first).to_be_attached()
    checkpoint(page)

    # --- export download ----------------------------------------------------------------
    with page.expect_download() as download_info:
        page.locator(f"a[href='{experiment_path}/export?format=csv']").first.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv"), download.suggested_filename
    path = download.path()
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == 1 + 40, rows[:2]

    # --- schedule: daily, with its next five runs ---------------------------------------
    page.get_by_role("link", name="Schedule").click()
    expect(page).to_have_url(experiment_url + "/schedule")
    checkpoint(page)
    page.get_by_role("radio", name=re.compile(r"Every day")).check()
    expect(page.locator("#schedule-preview li")).to_have_count(5)
    page.locator(f"form[action='{experiment_path}/schedule'] button[type=submit]").click()
    expect(page).to_have_url(experiment_url)
    expect(page.get_by_role("button", name="Pause schedule")).to_be_visible()
    checkpoint(page)

    # --- invite a viewer ---------------------------------------------------------------
    owner.visit("/settings/members")
    viewer_email = f"viewer-{width}@example.com"
    page.get_by_label("Email address").fill(viewer_email)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Invite").click()
    link = page.locator("#invitation-link")
    expect(link).to_have_value(re.compile(r"/invitations/"))
    invitation = link.input_value()
    checkpoint(page)

    viewer = Visitor(new_page(viewport), viewer_email)
    vpage = viewer.page
    vpage.goto(invitation)
    checkpoint(vpage)
    vpage.get_by_role("link", name="Create an account").click()
    sign_up(vpage, viewer_email, "Victor Viewer")
    vpage.get_by_role("button", name="Accept the invitation").click()
    # Accepted: the viewer is in the team's workspace, which the switcher now shows.
    expect(vpage).to_have_url(re.compile(r"/$"))
    expect(switcher(vpage).locator("option:checked")).to_contain_text(TEAM)
    checkpoint(vpage)

    # The viewer reads everything and sees no write control...
    viewer.visit(experiment_path)
    expect(vpage.get_by_role("heading", name=f"CRM at {width}px")).to_be_visible()
    for control in ("Re-run", "Re-score", "Delete", "Pause schedule", "Edit and run as new"):
        expect(vpage.get_by_role("button", name=control)).to_have_count(0)
        expect(vpage.get_by_role("link", name=control)).to_have_count(0)
    viewer.visit("/")
    expect(vpage.get_by_role("link", name="New experiment")).to_have_count(0)
    viewer.visit("/brands")
    expect(vpage.get_by_role("link", name=re.compile("New brand"))).to_have_count(0)
    # ...and the server refuses the writes the viewer builds by hand anyway.
    for path in (
        f"{experiment_path}/rerun",
        f"{experiment_path}/cancel",
        f"{experiment_path}/schedule/pause",
        "/brands/new",
        "/demo",
    ):
        assert viewer.forge(served, path) == 403, path
    assert viewer.forge(served, "/settings/keys", name="sneaky", scopes="read") == 403

    # --- API key: created (shown once), then revoked ------------------------------------
    owner.visit("/settings/keys")
    page.get_by_label("Name", exact=True).fill(f"ci-{width}")
    page.get_by_role("checkbox", name=re.compile(r"^Read")).check()
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_role("textbox", name="New API key")
    expect(key).to_have_value(re.compile(r".{20,}"))
    checkpoint(page)
    page.reload()  # Post/Redirect/Get: no second key, and the key is not shown again
    expect(page.get_by_role("textbox", name="New API key")).to_have_count(0)
    expect(page.locator("tr", has_text=f"ci-{width}")).to_have_count(1)
    row = page.locator("tr", has_text=f"ci-{width}")
    row.locator("summary", has_text="Revoke").click()
    row.get_by_role("button", name="Yes, revoke").click()
    expect(page.locator("tr", has_text=f"ci-{width}")).to_contain_text("revoked")
    checkpoint(page)

    # --- sign out -------------------------------------------------------------------------
    for visitor in (owner, viewer):
        visitor.page.get_by_role("button", name="Sign out").click()
        expect(visitor.page).to_have_url(re.compile(r"/login$"))
        visitor.page.goto("/")
        expect(visitor.page).to_have_url(re.compile(r"/login$"))
        watch_of(visitor.page).assert_clean("the end")
