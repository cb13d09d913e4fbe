"""A workspace's privacy settings over the API and the settings page (retention of raw
answers, only shorter than the plan's; scrubbing), audited; the redacted answer as the
API, the answers page and a re-score show it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from echo_ai.accounts import retention
from echo_ai.db import transaction, utcnow
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import BatchRun, BatchStatus
from tests.kit import app_runtime, create_team
from tests.web.pages import page, post_form, text_of
from tests.web.test_answers import store_answers
from tests.web.workspace_pages import personal_workspace, queued_experiment, signed_in

pytestmark = pytest.mark.usefixtures("backend")


async def audit_actions(
    app: FastAPI, workspace_id: uuid.UUID
) -> list[tuple[str, dict[str, object]]]:
    async with app_runtime(app).session_factory() as session:
        found = await session.execute(
            select(AuditEvent.action, AuditEvent.details)
            .where(
                AuditEvent.workspace_id == workspace_id,
                AuditEvent.action.in_(
                    ["workspace.answer_retention_set", "workspace.scrubbing_set"]
                ),
            )
            .order_by(AuditEvent.created_at)
        )
        return [(action, details) for action, details in found]


async def test_owners_shorten_the_retention_and_turn_scrubbing_on_audited(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    headers = await signed_in(client)
    workspace_id = await personal_workspace(app, "ada@example.com")
    shown = await client.get("/v1/workspace/privacy", headers=headers)
    assert shown.status_code == 200
    assert shown.json() == {
        "answer_retention_days": None,
        "effective_answer_retention_days": 30,  # the free plan's
        "plan_answer_retention_days": 30,
        "scrub_personal_data": False,
    }

    longer = await client.put(
        "/v1/workspace/privacy", headers=headers, json={"answer_retention_days": 60}
    )
    assert longer.status_code == 422
    error = longer.json()["error"]
    assert error["code"] == "retention_too_long"
    assert error["details"] == {"requested_days": 60, "plan_days": 30, "plan": "free"}

    changed = await client.put(
        "/v1/workspace/privacy",
        headers=headers,
        json={"answer_retention_days": 7, "scrub_personal_data": True},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["effective_answer_retention_days"] == 7
    assert changed.json()["scrub_personal_data"] is True
    # Leaving a field out keeps it; null goes back to the plan's.
    unchanged = await client.put("/v1/workspace/privacy", headers=headers, json={})
    assert unchanged.json()["answer_retention_days"] == 7
    back = await client.put(
        "/v1/workspace/privacy", headers=headers, json={"answer_retention_days": None}
    )
    assert back.json()["answer_retention_days"] is None
    assert back.json()["scrub_personal_data"] is True

    assert await audit_actions(app, workspace_id) == [
        ("workspace.answer_retention_set", {"from": None, "to": 7}),
        ("workspace.scrubbing_set", {"from": False, "to": True}),
        ("workspace.answer_retention_set", {"from": 7, "to": None}),
    ]


async def test_members_read_but_cannot_change_the_privacy_settings(
    client: httpx.AsyncClient,
) -> None:
    team = await create_team(client, ("admin", "member"))
    assert (
        await client.get("/v1/workspace/privacy", headers=team.as_["member"])
    ).status_code == 200
    refused = await client.put(
        "/v1/workspace/privacy", headers=team.as_["member"], json={"scrub_personal_data": True}
    )
    assert refused.status_code == 403
    allowed = await client.put(
        "/v1/workspace/privacy", headers=team.as_["admin"], json={"answer_retention_days": 5}
    )
    assert allowed.status_code == 200 and allowed.json()["answer_retention_days"] == 5


async def test_the_settings_page_sets_both_and_refuses_a_longer_retention(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await signed_in(client)
    html = await page(client, "/settings/privacy")
    assert 'href="/settings/privacy" aria-current="page"' in html
    assert "30 days" in text_of(html)

    refused = await post_form(
        client, "/settings/privacy", {"answer_retention_days": "90"}, token_from="/settings/privacy"
    )
    assert refused.status_code == 422
    assert "only shorten" in refused.text

    saved = await post_form(
        client,
        "/settings/privacy",
        {"answer_retention_days": "12", "scrub_personal_data": "on"},
        token_from="/settings/privacy",
    )
    assert saved.status_code == 303
    text = text_of(await page(client, "/settings/privacy"))
    assert "Raw answers and reasoning kept 12 days" in text
    assert "removed before storage" in text


async def test_a_redacted_answer_says_so_and_its_experiment_cannot_be_rescored(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    headers = await signed_in(client)
    workspace_id = await personal_workspace(app, "ada@example.com")
    headers = {**headers, "X-Workspace-ID": str(workspace_id)}
    experiment_id = await queued_experiment(app, iterations=4)
    await store_answers(app, experiment_id, 4, failed_every=10)
    factory = app_runtime(app).session_factory
    async with transaction(factory) as session:
        await session.execute(
            update(BatchRun)
            .where(BatchRun.experiment_id == uuid.UUID(experiment_id))
            .values(status=BatchStatus.COMPLETED, finished_at=utcnow())
        )
    before = await client.get(f"/v1/experiments/{experiment_id}", headers=headers)

    now = utcnow() + timedelta(days=31)
    report = await retention.apply(factory, now=now, settings=app_runtime(app).settings)
    assert report.answers_redacted == 4

    listed = await client.get(f"/v1/experiments/{experiment_id}/iterations", headers=headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == 4
    assert all(item["answer"] is None and item["redacted_at"] for item in items)
    assert all(item["brands_in_order"] for item in items if item["index"] % 2 == 0)

    html = await page(client, f"/experiments/{experiment_id}/answers")
    assert html.count('class="redacted-sentence') == 4
    assert f"Redacted on {now:%Y-%m-%d} by the retention policy" in text_of(html)

    after = await client.get(f"/v1/experiments/{experiment_id}", headers=headers)
    assert after.json() == before.json()  # counters, metrics, everything shown: unchanged

    refused = await client.post(f"/v1/experiments/{experiment_id}/rescore", headers=headers)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "answers_redacted"
    assert "redacted by the retention policy" in error["message"]
    assert error["details"]["redacted"] == 4
