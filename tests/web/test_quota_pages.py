"""Quota refusals on the dashboard's forms: said beside the field, nothing stored."""

from __future__ import annotations

import httpx

from echo_ai.config import PlanLimits, Settings
from tests.web.pages import page, post_form, sign_up
from tests.web.test_experiment_actions import detail, field_error, form, new_experiment
from tests.web.workspace_pages import new_team


async def test_a_schedule_past_the_plans_count_is_refused_beside_the_schedule(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.billing.free = PlanLimits(scheduled_experiments=1)
    await sign_up(client)
    scheduled = await new_experiment(client, schedule="daily")
    assert (await detail(client, scheduled))["schedule"] is not None
    plain = await new_experiment(client)

    refused = await post_form(
        client,
        f"/experiments/{plain}/schedule",
        {"schedule": "daily", "timezone": "UTC"},
        token_from="/experiments/new",
    )

    assert refused.status_code == 402
    assert "allows 1 experiment(s) with a schedule" in field_error(refused.text, "cron")
    assert (await detail(client, plain))["schedule"] is None
    # A new experiment with a schedule is refused too, as typed, nothing stored.
    again = await post_form(
        client, "/experiments/new", form(schedule="daily"), token_from="/experiments/new"
    )
    assert again.status_code == 402
    assert "allows 1 experiment(s) with a schedule" in again.text
    listed = (await client.get("/v1/experiments")).json()["items"]
    assert {item["id"] for item in listed} == {scheduled, plain}


async def test_an_invitation_past_the_members_limit_is_refused_on_the_members_page(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.billing.free = PlanLimits(members=1)
    await sign_up(client)
    await new_team(client)

    refused = await post_form(
        client,
        "/settings/members/invite",
        {"email": "bob@example.com", "role": "member"},
        token_from="/settings/members",
    )

    assert refused.status_code == 402
    assert "the free plan allows 1 members" in refused.text
    assert "bob@example.com" not in await page(client, "/settings/members")
