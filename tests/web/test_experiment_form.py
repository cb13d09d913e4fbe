"""The new-experiment form (``/experiments/new``): providers as configured, the live
estimate and schedule preview fragments, creating an experiment that runs, errors beside
the fields, quota refusals, roles, CSRF, and "edit and run as new"."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.statistics import wilson_half_width, wilson_interval
from echo_ai.db import utcnow
from echo_ai.experiments.estimate import ASSUMED_OUTPUT_TOKENS
from echo_ai.providers.pricing import cost_usd
from echo_ai.providers.synthetic import approximate_tokens
from echo_ai.schedules.cron import next_runs
from echo_ai.web.brand_fields import BrandFields
from echo_ai.web.format import local_time, points, usd
from echo_ai.web.pages.experiment_form import ExperimentFields, validate_experiment
from tests.kit import create_team, wait_finished
from tests.web.pages import HTML, origin, page, post_form, sign_in, sign_up

PROMPT = "What is the best note-taking app for a small team?"


def form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "prompt": PROMPT,
        "name": "Note apps",
        "target_name": "Notion",
        "target_aliases": "Notion AI",
        "target_domains": "notion.so",
        "competitors": "Evernote\nObsidian = Obsidian.md",
        "competitor_domains": "Evernote = evernote.com",
        "providers": ["demo"],
        "iterations": "20",
        "temperature": "1.0",
        "schedule": "none",
        "timezone": "UTC",
    }
    data.update(changes)
    return data


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="error" id="e-{name}">([^<]*)</p>', html)
    assert found, f"no error beside {name}"
    return unescape(found.group(1))


async def test_the_form_offers_configured_providers_and_says_which_key_the_others_lack(
    client: httpx.AsyncClient, no_vendor_keys: dict[str, str]
) -> None:
    await sign_up(client)
    client.cookies.set("echo_tz", "Europe/Paris")
    html = await page(client, "/experiments/new")
    assert re.search(r'id="p-demo"[^>]*checked', html)
    assert "made-up answers" in html and "badge synthetic" in html
    assert re.search(r'id="p-openai"[^>]*disabled', html)
    assert "set OPENAI_API_KEY on the server" in html
    assert "set GEMINI_API_KEY or GOOGLE_API_KEY on the server" in html
    assert "set OPENAI_COMPATIBLE_BASE_URL on the server" in html
    assert 'id="f-model_openai"' not in html  # a model only for a provider that can run
    assert 'id="f-timezone" name="timezone" type="text" value="Europe/Paris"' in html
    assert "<label" in html and 'for="f-prompt"' in html
    # The estimate is in the page, without JavaScript: 50 demo answers by default.
    assert points(wilson_half_width(50)) in html and "$0.00" in html

    no_vendor_keys["OPENAI_API_KEY"] = "sk-test"
    html = await page(client, "/experiments/new")
    assert not re.search(r'id="p-openai"[^>]*disabled', html)
    assert "set OPENAI_API_KEY" not in html
    assert re.search(r'id="f-model_openai"[^>]*placeholder="gpt-4o-mini"', html)


async def test_the_estimate_states_cost_precision_and_its_assumptions(
    client: httpx.AsyncClient, no_vendor_keys: dict[str, str]
) -> None:
    await sign_up(client)
    query = {
        "providers": ["demo", "openai", "anthropic"],
        "model_openai": "gpt-4o-mini, my-own-model",
        "iterations": "200",
        "prompt": PROMPT,
    }
    response = await client.get("/experiments/new/estimate", params=query, headers=HTML)
    assert response.status_code == 200
    html = unescape(response.text)
    assert "<html" not in html  # a fragment
    # ±6.9 pts at 50%: the Wilson interval of 100 of 200, half its width.
    low, high = wilson_interval(100, 200)
    assert points((high - low) / 2) == points(wilson_half_width(200)) == "±6.9 pts"
    assert "±6.9 pts</span> at 50%" in html and "n&nbsp;=&nbsp;200 per provider" in response.text
    tokens = approximate_tokens(PROMPT)
    mini = cost_usd("openai", "gpt-4o-mini", tokens, ASSUMED_OUTPUT_TOKENS)
    sonnet = cost_usd("anthropic", "claude-sonnet-4-6", tokens, ASSUMED_OUTPUT_TOKENS)
    assert mini is not None and sonnet is not None
    assert usd(mini * 200) in html and usd(sonnet * 200) in html
    assert usd(mini * 200 + sonnet * 200) in html
    assert "unknown price for openai:my-own-model" in html
    assert f"about {tokens} tokens in" in html and f"{ASSUMED_OUTPUT_TOKENS} tokens out" in html
    assert "800 (200 × 4 providers)" in html

    for iterations in ("", "0", "many", "10001"):
        note = await client.get(
            "/experiments/new/estimate", params={"providers": "demo", "iterations": iterations}
        )
        assert "Enter from 1 to 10,000 iterations" in note.text
    nothing = await client.get("/experiments/new/estimate", params={"iterations": "5"})
    assert "Choose a provider to see the estimate." in nothing.text


async def test_the_schedule_preview_shows_the_next_five_runs_in_the_zone_or_why_not(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    query = {"schedule": "custom", "cron": "30 8 * * 1-5", "timezone": "America/New_York"}
    before = utcnow()
    response = await client.get("/experiments/new/schedule-preview", params=query)
    assert response.status_code == 200
    shown = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', response.text)
    assert len(shown) == 5
    expected = next_runs("30 8 * * 1-5", "America/New_York", after=before)
    zone = ZoneInfo("America/New_York")
    assert [text for _, text in shown] == [local_time(t, zone) for t in expected]
    assert all(text.split()[1] == "08:30" for _, text in shown)
    assert "It runs now, then next in America/New_York" in response.text

    weekly = await client.get(
        "/experiments/new/schedule-preview", params={"schedule": "weekly", "timezone": "UTC"}
    )
    assert len(re.findall("<time ", weekly.text)) == 5
    often = await client.get(
        "/experiments/new/schedule-preview", params={"schedule": "custom", "cron": "* * * * *"}
    )
    assert "runs must be at least 5 minutes apart" in often.text
    zone_error = await client.get(
        "/experiments/new/schedule-preview",
        params={"schedule": "daily", "timezone": "Mars/Olympus"},
    )
    assert "unknown time zone" in unescape(zone_error.text)
    bad = await client.get(
        "/experiments/new/schedule-preview", params={"schedule": "custom", "cron": "every day"}
    )
    assert "cron must have five fields" in unescape(bad.text)
    none = await client.get("/experiments/new/schedule-preview", params={"schedule": "none"})
    assert "No schedule" in none.text


async def test_an_experiment_created_from_the_form_runs_to_completion(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    response = await post_form(
        client,
        "/experiments/new",
        form(schedule="weekly", timezone="Europe/Paris", country="fr", city="Paris"),
        token_from="/experiments/new",
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/experiments/[0-9a-f-]{36}", location)
    detail = await wait_finished(client, location.rsplit("/", 1)[1], {})
    assert detail["status"] == "completed"
    assert detail["name"] == "Note apps" and detail["prompt"] == PROMPT
    assert detail["synthetic"] is True and detail["iterations"] == 20
    brands = BrandSet.model_validate(detail["brands"])
    assert brands.target.name == "Notion" and [a.text for a in brands.target.aliases] == [
        "Notion AI"
    ]
    assert brands.target.domains == ["notion.so"]
    assert [(c.name, [a.text for a in c.aliases], c.domains) for c in brands.competitors] == [
        ("Evernote", [], ["evernote.com"]),
        ("Obsidian", ["Obsidian.md"], []),
    ]
    assert detail["schedule"]["cron"] == "0 9 * * 1"
    assert detail["schedule"]["timezone"] == "Europe/Paris"
    assert detail["providers"][0]["succeeded"] == 20


async def test_an_experiment_from_a_brand_profile(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    created = await client.post(
        "/v1/brands",
        json={"brand": {"name": "Linear"}, "competitors": [{"name": "Jira"}]},
        headers={"X-CSRF-Token": client.cookies["echo_csrf"], **origin(client)},
    )
    assert created.status_code == 201, created.text
    html = await page(client, "/experiments/new")
    assert f'<option value="{created.json()["id"]}">Linear</option>' in html
    blank = dict.fromkeys(
        ("target_name", "target_aliases", "target_domains", "competitors", "competitor_domains"), ""
    )
    response = await post_form(
        client,
        "/experiments/new",
        form(brand_profile_id=created.json()["id"], **blank),
        token_from="/experiments/new",
    )
    assert response.status_code == 303, response.text
    detail = await wait_finished(client, response.headers["location"].rsplit("/", 1)[1], {})
    assert detail["brands"]["target"]["name"] == "Linear"
    assert detail["brand_profile_id"] == created.json()["id"]


async def test_invalid_input_is_shown_beside_the_fields_and_what_was_typed_stays(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    sent = form(
        prompt="   ",
        name="Kept name",
        iterations="lots",
        target_domains="not a domain!",
        competitors="Evernote\n = nameless",
        competitor_domains="Bear = bear.app",
        schedule="custom",
        cron="* * * * *",
        country="France",
    )
    response = await post_form(client, "/experiments/new", sent, token_from="/experiments/new")
    assert response.status_code == 422
    html = response.text
    assert field_error(html, "iterations") == "Enter a whole number from 1 to 10,000."
    assert field_error(html, "competitors") == "line 2: give the competitor's name"
    assert "with the name of a competitor listed above" in field_error(html, "competitor_domains")
    assert 'value="Kept name"' in html and 'value="lots"' in html
    assert ">Evernote\n = nameless</textarea>" in html
    assert 'aria-invalid="true"' in html

    # Once the text reads, the schema's own rules speak.
    response = await post_form(
        client,
        "/experiments/new",
        form(
            prompt="  ",
            target_domains="not a domain!",
            schedule="custom",
            cron="* * * * *",
            country="France",
        ),
        token_from="/experiments/new",
    )
    assert response.status_code == 422
    html = response.text
    assert field_error(html, "prompt") == "prompt must not be blank"
    assert "is not a valid domain name" in field_error(html, "target_domains")
    assert field_error(html, "cron") == "runs must be at least 5 minutes apart"
    assert field_error(html, "country")
    assert 'value="not a domain!"' in html

    nothing = await post_form(
        client,
        "/experiments/new",
        form(
            target_name="",
            target_aliases="",
            target_domains="",
            competitors="",
            competitor_domains="",
            providers=[],
        ),
        token_from="/experiments/new",
    )
    assert nothing.status_code == 422
    assert "Choose a brand profile" in field_error(nothing.text, "target_name")
    assert field_error(nothing.text, "providers") == "Choose at least one provider."

    twice = await post_form(
        client, "/experiments/new", form(competitors="Notion"), token_from="/experiments/new"
    )
    assert twice.status_code == 422
    assert "listed twice" in field_error(twice.text, "competitors")

    unconfigured = await post_form(
        client,
        "/experiments/new",
        form(providers=["demo", "openai"]),
        token_from="/experiments/new",
    )
    assert unconfigured.status_code == 422
    assert "OPENAI_API_KEY is not set" in field_error(unconfigured.text, "providers")


async def test_a_quota_refusal_is_shown_in_the_form(
    client: httpx.AsyncClient, no_vendor_keys: dict[str, str]
) -> None:
    await sign_up(client)
    no_vendor_keys["OPENAI_API_KEY"] = "sk-test"
    response = await post_form(
        client,
        "/experiments/new",
        form(providers=["demo", "openai"], iterations="10000"),
        token_from="/experiments/new",
    )
    assert response.status_code == 403
    message = field_error(response.text, "iterations")
    assert "10,000" in message or "10000" in message
    assert 'value="10000"' in response.text
    listed = await client.get("/v1/experiments")
    assert listed.json()["items"] == []


async def test_viewers_cannot_create_and_csrf_is_required(client: httpx.AsyncClient) -> None:
    team = await create_team(client, ["viewer"])
    await sign_in(client, "viewer@example.com")
    client.cookies.set("echo_workspace", team.workspace_id)
    html = await page(client, "/experiments/new")
    assert "read-only" in html and "Run experiment</button>" not in html
    refused = await post_form(client, "/experiments/new", form(), token_from="/experiments/new")
    assert refused.status_code == 403

    await sign_up(client, "eve@example.com")
    forged = await client.post("/experiments/new", data=form(), headers=origin(client))
    assert forged.status_code == 403
    assert (await client.get("/v1/experiments")).json()["items"] == []


async def test_edit_and_run_as_new_fills_the_form_from_an_experiment(
    client: httpx.AsyncClient, no_vendor_keys: dict[str, str]
) -> None:
    await sign_up(client)
    no_vendor_keys["OPENAI_API_KEY"] = "sk-test"
    created = await post_form(
        client,
        "/experiments/new",
        form(
            competitors='"Bear" = Bear Notes\nHP',
            competitor_domains="",
            iterations="7",
            country="de",
            region="Berlin",
        ),
        token_from="/experiments/new",
    )
    assert created.status_code == 303, created.text
    experiment_id = created.headers["location"].rsplit("/", 1)[1]
    await wait_finished(client, experiment_id, {})
    html = unescape(await page(client, f"/experiments/new?from={experiment_id}"))
    assert "Filled in from an earlier experiment" in html
    assert f">{PROMPT}</textarea>" in html
    assert '>"Bear" = Bear Notes\nHP</textarea>' in html
    assert 'name="iterations" type="number" value="7"' in html
    assert 'value="DE"' in html and 'value="Berlin"' in html
    assert re.search(r'id="p-demo"[^>]*checked', html)

    other = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    async with other:
        await sign_up(other, "mallory@example.com")
        await page(other, f"/experiments/new?from={experiment_id}", status=404)


def test_brand_text_round_trips_through_the_form() -> None:
    brands = BrandSet.model_validate(
        {
            "target": {
                "name": "Notion",
                "aliases": [{"text": "Notion AI", "case_sensitive": True}, "notion.so"],
                "domains": ["notion.so"],
                "exclude_terms": ["notion of"],
            },
            "competitors": [
                {"name": "HP", "case_sensitive": True, "domains": ["hp.com", "hp.co.uk"]},
                {"name": "Bear", "aliases": ["Bear Notes"], "exclude_terms": ["teddy bear"]},
            ],
        }
    )
    typed = BrandFields.of(brands)
    assert typed.target_aliases == '"Notion AI", notion.so'
    assert typed.competitors == "HP\nBear = Bear Notes"
    assert typed.competitor_domains == "HP = hp.com, hp.co.uk"
    data, errors = typed.brand_set_input()
    assert errors == {}
    assert BrandSet.model_validate(data) == brands


def test_models_typed_become_provider_specs() -> None:
    values = ExperimentFields(
        providers=["demo", "openai"], models={"openai": "gpt-4o, gpt-4o-mini", "demo": ""}
    )
    assert values.provider_specs() == ["demo", "openai:gpt-4o", "openai:gpt-4o-mini"]
    checked = validate_experiment(
        ExperimentFields(prompt="p", brands=BrandFields(target_name="Acme"), temperature="x")
    )
    assert checked == {"temperature": "Enter a number from 0 to 2, e.g. 1.0."}
