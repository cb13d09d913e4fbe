"""Settings pages: workspace (rename, plan, new team workspace), members (roles,
removal, invitations), API keys (shown once, revoke) and the audit log (filters,
paging); what each role sees and may do."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from echo_ai.billing.plans import PLANS, PlanName
from echo_ai.db import transaction, utcnow
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.web import format as fmt
from echo_ai.web.pages.settings import AUDIT_PAGE_SIZE
from echo_ai.workspaces.models import Role
from tests.kit import app_runtime, bearer
from tests.web.pages import HTML, page, post_form, sign_up
from tests.web.workspace_pages import (
    add_member,
    new_team,
    personal_workspace,
    second_client,
    switch_to,
    team_with,
    text_of,
    without_csrf,
)


def _error_beside(html: str, name: str) -> str:
    found = re.search(rf'id="e-{re.escape(name)}">([^<]+)</p>', html)
    assert found, f"no error beside {name}"
    return found.group(1)


# --- workspace ------------------------------------------------------------------------


async def test_rename_and_plan(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    html = await page(client, "/settings")
    assert 'action="/settings/workspace"' in html and "Plan: free" in html
    free = PLANS[PlanName.FREE]
    assert fmt.number(free.max_iterations_per_experiment) in html
    assert fmt.number(free.max_iterations_in_flight) in html
    assert "requests per minute" in html

    bad = await post_form(client, "/settings/workspace", {"name": "  "}, token_from="/settings")
    assert bad.status_code == 422 and _error_beside(bad.text, "name")
    response = await post_form(
        client, "/settings/workspace", {"name": "Ada's brands"}, token_from="/settings"
    )
    assert response.status_code == 303
    html = await page(client, response.headers["location"])
    assert "The workspace was renamed." in html
    assert "Ada&#39;s brands (personal) · owner" in html


async def test_a_new_team_workspace_appears_in_the_switcher(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    bad = await post_form(client, "/settings/workspaces", {"new_name": ""}, token_from="/settings")
    assert bad.status_code == 422 and _error_beside(bad.text, "new_name")
    await new_team(client, "Acme marketing")
    html = await page(client, "/settings?done=created")
    assert "Your new team workspace is ready" in html
    assert re.search(r"selected>Acme marketing · owner</option>", html)
    assert "(personal) · owner" in html


async def test_roles_see_what_they_may_do(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, member = await team_with(app, client, Role.MEMBER)
    viewer = second_client(app)
    await sign_up(viewer, "vic@example.com")
    workspace_id = client.cookies.get("echo_workspace")
    assert workspace_id
    await add_member(app, workspace_id, "vic@example.com", Role.VIEWER)
    await switch_to(viewer, workspace_id)
    for other in (member, viewer):
        html = await page(other, "/settings")
        assert 'action="/settings/workspace"' not in html
        assert 'href="/settings/keys"' not in html and 'href="/settings/audit"' not in html
        await page(other, "/settings/keys", status=403)
        await page(other, "/settings/audit", status=403)
        members = await page(other, "/settings/members")
        assert "owner@" not in members and "ada@example.com" in members
        assert "/role" not in members and "Invite someone" not in members
        assert "Leave…" in members and "Remove…" not in members
        for path, data in (
            ("/settings/workspace", {"name": "Mine"}),
            ("/settings/keys", {"name": "k", "scopes": "read"}),
            ("/settings/members/invite", {"email": "x@example.com", "role": "viewer"}),
        ):
            assert (await post_form(other, path, data)).status_code == 403, path
    owner_html = await page(client, "/settings/members")
    assert owner_html.count("Change role") == 3 and owner_html.count("Remove…") == 2


# --- members --------------------------------------------------------------------------


async def test_change_roles_and_remove_members(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, bob = await team_with(app, client, Role.MEMBER)
    owner_page = await page(client, "/settings/members")
    ids = re.findall(r'action="/settings/members/([0-9a-f-]{36})/role"', owner_page)
    assert len(ids) == 2
    ada_id, bob_id = ids  # in the order they joined

    # A member cannot change roles or remove others: forged requests are refused.
    assert (
        await post_form(bob, f"/settings/members/{ada_id}/role", {"role": "viewer"})
    ).status_code == 403
    assert (await post_form(bob, f"/settings/members/{ada_id}/remove")).status_code == 403

    response = await post_form(
        client,
        f"/settings/members/{bob_id}/role",
        {"role": "viewer"},
        token_from="/settings/members",
    )
    assert response.status_code == 303
    assert "bob@example.com" in text_of(await page(client, "/settings/members?done=role"))
    assert "· viewer" in await page(bob, "/")

    bad = await post_form(
        client,
        f"/settings/members/{bob_id}/role",
        {"role": "emperor"},
        token_from="/settings/members",
    )
    assert bad.status_code == 422

    last = await post_form(
        client,
        f"/settings/members/{ada_id}/role",
        {"role": "admin"},
        token_from="/settings/members",
    )
    assert last.status_code == 409 and "needs an owner" in last.text
    leave = await post_form(
        client, f"/settings/members/{ada_id}/remove", token_from="/settings/members"
    )
    assert leave.status_code == 409 and "needs an owner" in leave.text

    response = await post_form(
        client, f"/settings/members/{bob_id}/remove", token_from="/settings/members"
    )
    assert response.status_code == 303
    assert "bob@example.com" not in await page(client, "/settings/members")
    assert "Acme" not in await page(bob, "/")  # back in bob's personal workspace

    missing = uuid.uuid4()
    assert (
        await post_form(client, f"/settings/members/{missing}/role", {"role": "viewer"})
    ).status_code == 404
    assert await without_csrf(client, f"/settings/members/{ada_id}/role") == 403


async def test_a_member_leaves(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, bob = await team_with(app, client, Role.VIEWER)
    html = await page(bob, "/settings/members")
    mine = re.search(r'action="/settings/members/([0-9a-f-]{36})/remove"', html)
    assert mine
    response = await post_form(bob, mine.group(0).split('"')[1], token_from="/settings/members")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "Acme" not in await page(bob, "/")


async def test_invitations_errors_and_revoke(app: FastAPI, client: httpx.AsyncClient) -> None:
    await sign_up(client)
    personal = await post_form(
        client,
        "/settings/members/invite",
        {"email": "bob@example.com", "role": "member"},
        token_from="/settings/members",
    )
    assert personal.status_code == 409 and "create a team workspace" in personal.text
    await new_team(client)
    bad = await post_form(
        client,
        "/settings/members/invite",
        {"email": "not an email", "role": "member"},
        token_from="/settings/members",
    )
    assert bad.status_code == 422 and _error_beside(bad.text, "email")
    assert 'value="not an email"' in bad.text
    response = await post_form(
        client,
        "/settings/members/invite",
        {"email": "bob@example.com", "role": "viewer"},
        token_from="/settings/members",
    )
    assert response.status_code == 200 and "invitation-link" in response.text
    html = await page(client, "/settings/members")
    assert "invitation-link" not in html
    revoke = re.search(r'action="(/settings/invitations/[0-9a-f-]{36}/revoke)"', html)
    assert revoke
    other = second_client(app)
    await sign_up(other, "eve@example.com")
    assert (await post_form(other, revoke.group(1))).status_code == 404  # not her workspace
    response = await post_form(client, revoke.group(1), token_from="/settings/members")
    assert response.status_code == 303
    assert "No pending invitation." in await page(client, "/settings/members?done=revoked")


# --- API keys -------------------------------------------------------------------------


async def test_a_key_is_shown_once_and_can_be_revoked(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    assert "No API key yet" in await page(client, "/settings/keys")
    bad = await post_form(client, "/settings/keys", {"name": "Looker"}, token_from="/settings/keys")
    assert bad.status_code == 422 and _error_beside(bad.text, "scopes")
    assert 'value="Looker"' in bad.text
    blank = await post_form(
        client, "/settings/keys", {"name": " ", "scopes": "read"}, token_from="/settings/keys"
    )
    assert blank.status_code == 422 and _error_beside(blank.text, "name")

    response = await post_form(
        client,
        "/settings/keys",
        {"name": "Looker", "scopes": "read", "expires_in_days": "30"},
        token_from="/settings/keys",
    )
    # Post/Redirect/Get: the key is not in the answer nor in the URL, only on the page
    # the redirect leads to, once.
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/keys?done=created"
    assert "echo_live_" not in response.text + response.headers["location"]
    shown = await page(client, response.headers["location"])
    found = re.search(r'id="new-key" type="text" readonly value="(echo_live_[0-9A-Za-z]+)"', shown)
    assert found and 'data-copy="new-key"' in shown and "will not be shown again" in shown
    assert "The key was created." in shown
    token = found.group(1)
    assert (await client.get("/v1/experiments", headers=bearer(token))).status_code == 200

    reloaded = await page(client, "/settings/keys?done=created")
    assert token not in reloaded and "will not be shown again" not in reloaded
    html = await page(client, "/settings/keys")
    assert token not in html and "will not be shown again" not in html
    assert html.count("/revoke") == 1  # one key, made once
    row = text_of(html[html.index("<tbody>") : html.index("</tbody>")])
    assert "Looker" in row and f"echo_live_…{token[-4:]}" in row and "read" in row
    assert "ada@example.com" in row and "never" not in row  # used once, expires in 30 days

    revoke = re.search(r'action="(/settings/keys/[0-9a-f-]{36}/revoke)"', html)
    assert revoke
    other = second_client(app)
    await sign_up(other, "eve@example.com")
    assert (await post_form(other, revoke.group(1))).status_code == 404
    assert await without_csrf(client, revoke.group(1)) == 403
    response = await post_form(client, revoke.group(1), token_from="/settings/keys")
    assert response.status_code == 303
    html = await page(client, "/settings/keys?done=revoked")
    assert "The key was revoked." in html and "revoked</span>" in html
    assert (await client.get("/v1/experiments", headers=bearer(token))).status_code == 401


# --- audit log ------------------------------------------------------------------------


async def test_audit_log_filters_and_pages(app: FastAPI, client: httpx.AsyncClient) -> None:
    await sign_up(client)
    workspace_id = await personal_workspace(app, "ada@example.com")
    html = await page(client, "/settings/audit")
    assert "<code>user.registered</code>" in html
    async with transaction(app_runtime(app).session_factory) as session:
        for _ in range(AUDIT_PAGE_SIZE + 5):
            await audit.record(
                session, Action.EXPORTED, actor=Actor.cli(), workspace_id=workspace_id
            )
        old = await audit.record(
            session, Action.WORKSPACE_PLAN_CHANGED, actor=Actor.cli(), workspace_id=workspace_id
        )
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.id == old.id)
            .values(created_at=utcnow() - timedelta(days=40))
        )
    first = await page(client, "/settings/audit?action=experiment.exported")
    assert first.count("<code>experiment.exported</code>") == AUDIT_PAGE_SIZE
    older = re.search(r'href="/settings/audit\?([^"]+)"', first)
    assert older and "cursor=" in older.group(1) and "action=experiment.exported" in older.group(1)
    second = await page(client, "/settings/audit?" + older.group(1).replace("&amp;", "&"))
    assert second.count("<code>experiment.exported</code>") == 5
    assert 'href="/settings/audit">Newest events</a>' in second and "Older events" not in second
    assert "Newest events" not in first and 'aria-label="More events"' in first
    assert "<code>user.registered</code>" not in second

    recent = (utcnow() - timedelta(days=10)).date().isoformat()
    dated = await page(client, f"/settings/audit?from={recent}&action=workspace.plan_changed")
    assert "<code>workspace.plan_changed</code>" not in dated and "No event matches" in dated
    registered = await page(client, f"/settings/audit?from={recent}&action=user.registered")
    assert "<code>user.registered</code>" in registered
    until = (utcnow() - timedelta(days=20)).date().isoformat()
    assert "<code>workspace.plan_changed</code>" in await page(
        client, f"/settings/audit?to={until}"
    )

    mine = await page(client, "/settings/audit")
    ada = re.search(r'<option value="([0-9a-f-]{36})">ada@example.com</option>', mine)
    assert ada
    by_ada = await page(client, f"/settings/audit?actor={ada.group(1)}")
    assert (
        "<code>user.registered</code>" in by_ada
        and "<code>experiment.exported</code>" not in by_ada
    )

    bad = await client.get("/settings/audit?from=yesterday&action=nope", headers=HTML)
    assert bad.status_code == 422
    assert _error_beside(bad.text, "from") and _error_beside(bad.text, "action")
    assert 'value="yesterday"' in bad.text


async def test_audit_dates_out_of_range_are_field_errors(client: httpx.AsyncClient) -> None:
    """Days near datetime's limits cannot become UTC times: a 422 with the message beside
    the field, not a 500 (the end day's midnight after 9999-12-31, the start day's
    midnight of 0001-01-01 east of UTC)."""
    await sign_up(client)
    client.cookies.set("echo_tz", "Asia/Tokyo")
    for query, name in (
        ("to=9999-12-31", "to"),
        ("from=0001-01-01", "from"),
        ("from=1969-12-31", "from"),
        ("from=2026-01-01&to=9999-12-31", "to"),
    ):
        response = await client.get(f"/settings/audit?{query}", headers=HTML)
        assert response.status_code == 422, (query, response.status_code)
        assert _error_beside(response.text, name) == "Give a date from 1970-01-01 to 9998-12-31."
    edges = await page(client, "/settings/audit?from=1970-01-01&to=9998-12-31")
    assert "<code>user.registered</code>" in edges
    client.cookies.set("echo_tz", "America/Los_Angeles")
    assert "<code>user.registered</code>" in await page(client, "/settings/audit?to=9998-12-31")
