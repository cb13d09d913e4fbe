"""The write actions of one experiment's pages: cancel, re-run, resume, delete with its
confirmation, re-score with edited brands, and the schedule (set, pause, resume, remove);
role, workspace and CSRF refusals."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import httpx

from echo_ai.testing.fake_llm import FakeLLMServer
from tests.kit import create_team, wait_finished, wait_until
from tests.web.pages import (
    HTML,
    case_rule,
    error_beside,
    form_data,
    origin,
    page,
    post_form,
    sign_in,
    sign_up,
)

PROMPT = "What is the best note-taking app for a small team?"


def form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "prompt": PROMPT,
        "brand.name": "Notion",
        "competitors.0.name": "Evernote",
        "providers": ["demo"],
        "iterations": "12",
        "temperature": "1.0",
        "schedule": "none",
        "timezone": "UTC",
    }
    data.update(changes)
    return data


async def new_experiment(client: httpx.AsyncClient, **changes: Any) -> str:
    response = await post_form(
        client, "/experiments/new", form(**changes), token_from="/experiments/new"
    )
    assert response.status_code == 303, response.text[-2000:]
    return str(response.headers["location"].rsplit("/", 1)[1])


async def finished_experiment(client: httpx.AsyncClient, **changes: Any) -> str:
    experiment_id = await new_experiment(client, **changes)
    await wait_finished(client, experiment_id, {})
    return experiment_id


async def detail(client: httpx.AsyncClient, experiment_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/experiments/{experiment_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="error" id="e-{name}">([^<]*)</p>', html)
    assert found, f"no error beside {name}"
    return unescape(found.group(1))


def hanging_openai(keys: dict[str, str], fake_llm: FakeLLMServer) -> None:
    """OpenAI at the fake vendor, whose calls all hang: batches stay running."""
    keys["OPENAI_API_KEY"] = "sk-test"
    keys["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"
    fake_llm.config.hang_rate = 1.0
    fake_llm.config.hang_seconds = 120


async def test_cancel_a_running_experiment_and_a_finished_one_is_refused(
    client: httpx.AsyncClient, no_vendor_keys: dict[str, str], fake_llm: FakeLLMServer
) -> None:
    await sign_up(client)
    hanging_openai(no_vendor_keys, fake_llm)
    experiment_id = await new_experiment(client, providers=["openai"], iterations="3")
    page_of = f"/experiments/{experiment_id}"
    response = await post_form(client, f"{page_of}/cancel", token_from="/experiments/new")
    assert response.status_code == 303 and response.headers["location"] == page_of
    assert (await detail(client, experiment_id))["status"] == "cancelled"

    again = await post_form(client, f"{page_of}/cancel", token_from="/experiments/new")
    assert again.status_code == 409
    assert "already finished" in again.text and "<html" in again.text


async def test_rerun_queues_a_new_experiment_with_the_same_configuration(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    experiment_id = await finished_experiment(client)
    response = await post_form(
        client, f"/experiments/{experiment_id}/rerun", token_from="/experiments/new"
    )
    assert response.status_code == 303
    new_id = response.headers["location"].rsplit("/", 1)[1]
    assert new_id != experiment_id
    rerun = await wait_finished(client, new_id, {})
    original = await detail(client, experiment_id)
    assert rerun["status"] == "completed"
    assert (rerun["prompt"], rerun["brands"], rerun["iterations"]) == (
        original["prompt"],
        original["brands"],
        original["iterations"],
    )

    # htmx gets the redirect as HX-Redirect.
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page(client, "/experiments/new"))
    assert token
    htmx = await client.post(
        f"/experiments/{experiment_id}/rerun",
        headers={**origin(client), "HX-Request": "true", "X-CSRF-Token": unescape(token[1])},
    )
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/experiments/")
    await wait_finished(client, htmx.headers["HX-Redirect"].rsplit("/", 1)[1], {})


async def test_resume_runs_what_failed_and_says_when_there_is_nothing_to_run(
    client: httpx.AsyncClient, no_vendor_keys: dict[str, str], fake_llm: FakeLLMServer
) -> None:
    await sign_up(client)
    no_vendor_keys["OPENAI_API_KEY"] = "sk-test"
    no_vendor_keys["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"
    fake_llm.config.error_rate = 1.0
    experiment_id = await new_experiment(client, providers=["openai"], iterations="4")
    failed = await wait_finished(client, experiment_id, {})
    assert failed["providers"][0]["succeeded"] == 0

    fake_llm.config.error_rate = 0.0
    response = await post_form(
        client, f"/experiments/{experiment_id}/resume", token_from="/experiments/new"
    )
    assert response.status_code == 303, response.text[-1500:]

    async def all_answered() -> bool:
        found = await detail(client, experiment_id)
        return bool(found["providers"][0]["succeeded"] == 4 and found["status"] == "completed")

    await wait_until(all_answered)
    nothing = await post_form(
        client, f"/experiments/{experiment_id}/resume", token_from="/experiments/new"
    )
    assert nothing.status_code == 409
    assert "nothing to resume" in nothing.text


async def test_the_delete_confirmation_names_what_goes_then_deletes(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    experiment_id = await finished_experiment(
        client, name="Old test", schedule="daily", timezone="Europe/Paris"
    )
    html = unescape(await page(client, f"/experiments/{experiment_id}/delete"))
    assert "Delete “Old test”?" in html
    assert "1 run</strong> (1 provider batch)" in html
    assert "12 stored answers</strong>" in html
    assert "its schedule <code>0 9 * * *</code> (Europe/Paris)" in html
    assert f'action="/experiments/{experiment_id}/delete"' in html

    response = await post_form(
        client, f"/experiments/{experiment_id}/delete", token_from="/experiments/new"
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert (await client.get(f"/v1/experiments/{experiment_id}")).status_code == 404


async def test_a_running_experiment_is_neither_deleted_nor_rescored(
    client: httpx.AsyncClient, no_vendor_keys: dict[str, str], fake_llm: FakeLLMServer
) -> None:
    await sign_up(client)
    hanging_openai(no_vendor_keys, fake_llm)
    experiment_id = await new_experiment(client, providers=["openai"], iterations="2")
    html = await page(client, f"/experiments/{experiment_id}/delete")
    assert "no schedule" in html
    response = await post_form(
        client, f"/experiments/{experiment_id}/delete", token_from="/experiments/new"
    )
    assert response.status_code == 409
    assert "still running" in response.text and "Delete “" in unescape(response.text)
    rescore = await post_form(
        client,
        f"/experiments/{experiment_id}/rescore",
        {"brand.name": "Notion"},
        token_from="/experiments/new",
    )
    assert rescore.status_code == 409
    assert "re-score it once it has finished" in rescore.text
    assert "not scored yet" in rescore.text
    await post_form(client, f"/experiments/{experiment_id}/cancel", token_from="/experiments/new")


async def test_rescore_with_edited_brands_changes_the_stored_figures(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    experiment_id = await finished_experiment(client)
    before = await detail(client, experiment_id)
    metrics = before["providers"][0]["metrics"]
    assert set(metrics["mention_rates"]) == {"Notion", "Evernote"}
    rescore = f"/experiments/{experiment_id}/rescore"
    html = unescape(await page(client, rescore))
    assert 'name="brand.name" type="text" value="Notion"' in html
    assert 'name="competitors.0.name" type="text" value="Evernote"' in html
    assert 'name="competitors.2.name"' in html  # two empty competitors to fill
    assert "badge synthetic" in html and "n\xa0=\xa012" in html

    response = await post_form(
        client,
        rescore,
        {
            "brand.name": "Notion",
            "competitors.0.name": "Evernote",
            "competitors.1.name": "Obsidian",
            "competitors.1.aliases": "Obsidian.md",
            "competitors.2.name": "",
        },
        token_from="/experiments/new",
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/experiments/{experiment_id}"
    after = await detail(client, experiment_id)
    assert after["brands_revision"] == before["brands_revision"] + 1
    batch = after["providers"][0]
    assert set(batch["metrics"]["mention_rates"]) == {"Notion", "Evernote", "Obsidian"}
    assert batch["metrics_history"][-1]["metrics"] == metrics
    assert batch["succeeded"] == 12  # no new answers: the same ones scored again
    html = unescape(await page(client, rescore))
    assert ">Obsidian.md</textarea>" in html and "Obsidian</th>" in html

    bad = await post_form(
        client,
        rescore,
        {"brand.name": "Notion", "competitors.0.name": "Evernote", "brand.domains": "nope"},
        token_from="/experiments/new",
    )
    assert bad.status_code == 422
    assert "not a valid domain" in error_beside(bad.text, "brand.domains")
    assert ">nope</textarea>" in bad.text
    short = await post_form(
        client,
        rescore,
        {"brand.name": "N", "competitors.0.name": "Evernote"},
        token_from="/experiments/new",
    )
    assert short.status_code == 422
    assert "too short" in error_beside(short.text, "brand.name")
    twice = await post_form(
        client,
        rescore,
        {
            "brand.name": "Notion",
            "competitors.0.name": "Evernote",
            "competitors.1.name": "Evernote",
        },
        token_from="/experiments/new",
    )
    assert twice.status_code == 422
    assert "listed twice" in error_beside(twice.text, "competitors.1.name")
    assert (await detail(client, experiment_id))["brands_revision"] == after["brands_revision"]


async def test_rescore_keeps_every_brand_setting_and_adds_a_competitor_without_javascript(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    experiment_id = await finished_experiment(
        client,
        **{
            "brand.case_sensitive": "0",
            "brand.aliases": "Notion AI",
            "brand.case_aliases": "NOTION",
            "brand.any_case_aliases": "notion app",
            "brand.domains": "notion.so\nnotion.com",
            "brand.exclude_terms": "notion of",
            "competitors.0.case_sensitive": "1",
            "competitors.0.exclude_terms": "evernote me",
        },
    )
    stored = (await detail(client, experiment_id))["brands"]
    rescore = f"/experiments/{experiment_id}/rescore"
    html = await page(client, rescore)
    assert case_rule(html, "brand.case_sensitive") == "0"
    assert case_rule(html, "competitors.0.case_sensitive") == "1"
    assert ">notion.so\nnotion.com</textarea>" in html and ">notion app</textarea>" in html

    # "Add another competitor": the form again, what was typed kept, nothing re-scored.
    typed = form_data(html, rescore)
    typed["competitors.0.aliases"] = "Evernote Teams"
    added = await client.post(
        rescore, data={**typed, "action": "add_competitor"}, headers=origin(client)
    )
    assert added.status_code == 200
    assert 'name="competitors.3.name"' in added.text
    assert f'formaction="{rescore}#competitor-5"' in added.text
    assert ">Evernote Teams</textarea>" in added.text
    assert (await detail(client, experiment_id))["brands_revision"] == 1

    # Sent back unchanged, the brands are the same, setting for setting.
    response = await client.post(rescore, data=form_data(html, rescore), headers=origin(client))
    assert response.status_code == 303, response.text
    after = await detail(client, experiment_id)
    assert after["brands_revision"] == 2 and after["brands"] == stored


async def test_set_pause_resume_and_remove_a_schedule(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    experiment_id = await finished_experiment(client)
    base = f"/experiments/{experiment_id}/schedule"
    html = await page(client, base)
    assert (
        "Not scheduled" in html and 'hx-get="/experiments/new/schedule-preview?existing=1"' in html
    )
    assert len(re.findall("<time ", html)) == 5  # the daily preset's next runs, previewed

    bad = await post_form(
        client,
        base,
        {"schedule": "custom", "cron": "*/2 * * * *", "timezone": "Europe/Paris"},
        token_from="/experiments/new",
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "cron") == "runs must be at least 5 minutes apart"
    assert 'value="*/2 * * * *"' in bad.text
    zone = await post_form(
        client,
        base,
        {"schedule": "daily", "timezone": "Nowhere/City"},
        token_from="/experiments/new",
    )
    assert zone.status_code == 422 and "unknown time zone" in unescape(
        field_error(zone.text, "timezone")
    )

    saved = await post_form(
        client,
        base,
        {"schedule": "custom", "cron": "15 7 * * 2", "timezone": "Asia/Tokyo"},
        token_from="/experiments/new",
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/experiments/{experiment_id}"
    schedule = (await detail(client, experiment_id))["schedule"]
    assert (schedule["cron"], schedule["timezone"], schedule["paused"]) == (
        "15 7 * * 2",
        "Asia/Tokyo",
        False,
    )
    assert schedule["next_run_at"] is not None
    html = await page(client, base)
    assert "active" in html and 'value="15 7 * * 2"' in html and "Pause the schedule" in html

    assert (
        await post_form(client, f"{base}/pause", token_from="/experiments/new")
    ).status_code == 303
    schedule = (await detail(client, experiment_id))["schedule"]
    assert schedule["paused"] is True and schedule["next_run_at"] is None
    assert "Resume the schedule" in await page(client, base)

    assert (
        await post_form(client, f"{base}/resume", token_from="/experiments/new")
    ).status_code == 303
    schedule = (await detail(client, experiment_id))["schedule"]
    assert schedule["paused"] is False and schedule["next_run_at"] is not None

    preset = await post_form(
        client, base, {"schedule": "weekly", "timezone": "UTC"}, token_from="/experiments/new"
    )
    assert preset.status_code == 303
    assert (await detail(client, experiment_id))["schedule"]["cron"] == "0 9 * * 1"
    assert re.search(r'value="weekly" checked', await page(client, base))

    assert (
        await post_form(client, f"{base}/remove", token_from="/experiments/new")
    ).status_code == 303
    assert (await detail(client, experiment_id))["schedule"] is None
    again = await post_form(client, f"{base}/remove", token_from="/experiments/new")
    assert again.status_code == 409 and "has no schedule" in again.text


ACTIONS = [
    "cancel",
    "rerun",
    "resume",
    "delete",
    "rescore",
    "schedule",
    "schedule/pause",
    "schedule/resume",
    "schedule/remove",
]


async def test_viewers_are_refused_every_write_and_other_workspaces_see_nothing(
    client: httpx.AsyncClient,
) -> None:
    team = await create_team(client, ["viewer"])
    owner = team.as_["owner"]
    created = await client.post(
        "/v1/experiments",
        headers=owner,
        json={
            "prompt": PROMPT,
            "brands": {"target": {"name": "Notion"}},
            "providers": ["demo"],
            "iterations": 3,
        },
    )
    assert created.status_code == 202, created.text
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, owner)

    await sign_in(client, "viewer@example.com")
    client.cookies.set("echo_workspace", team.workspace_id)
    for action in ACTIONS:
        response = await post_form(
            client, f"/experiments/{experiment_id}/{action}", token_from="/experiments/new"
        )
        assert response.status_code == 403, action
    for action in ("delete", "rescore", "schedule"):
        await page(client, f"/experiments/{experiment_id}/{action}", status=403)
    assert (
        await client.get(
            f"/v1/experiments/{experiment_id}", headers={"X-Workspace-ID": team.workspace_id}
        )
    ).status_code == 200

    await sign_up(client, "mallory@example.com")  # another workspace, where she can write
    for action in ACTIONS:
        response = await post_form(
            client, f"/experiments/{experiment_id}/{action}", token_from="/experiments/new"
        )
        assert response.status_code == 404, action
        assert "<html" in response.text
    for action in ("delete", "rescore", "schedule"):
        await page(client, f"/experiments/{experiment_id}/{action}", status=404)
    await page(client, f"/experiments/new?from={experiment_id}", status=404)


async def test_writes_without_the_csrf_token_are_refused(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    experiment_id = await finished_experiment(client)
    for action in ACTIONS:
        response = await client.post(
            f"/experiments/{experiment_id}/{action}", data={}, headers=origin(client)
        )
        assert response.status_code == 403, action
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page(client, "/experiments/new"))
    assert token
    elsewhere = await client.post(
        f"/experiments/{experiment_id}/delete",
        data={"csrf_token": unescape(token[1])},
        headers={**HTML, "Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    assert (await detail(client, experiment_id))["status"] == "completed"
