"""The new-experiment form (``/experiments/new``): providers as configured, the live
estimate and schedule preview fragments, creating an experiment that runs, brands typed in
the brand editor (another competitor added without losing what was typed), errors beside
the fields, quota refusals, roles, CSRF, and "edit and run as new" (the brands come back
as stored)."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.sampling import answers_for_half_width, answers_to_detect, detectable_change
from echo_ai.analysis.statistics import wilson_half_width, wilson_interval
from echo_ai.billing.estimate import ASSUMED_OUTPUT_TOKENS
from echo_ai.db import utcnow
from echo_ai.experiments import planning
from echo_ai.providers.pricing import price_for
from echo_ai.providers.synthetic import approximate_tokens
from echo_ai.schedules.cron import next_runs
from echo_ai.web.brand_fields import BrandFields, BrandsForm
from echo_ai.web.format import local_time, points, usd
from echo_ai.web.pages.experiment_form import ExperimentFields, validate_experiment
from tests.kit import create_team, wait_finished
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
        "name": "Note apps",
        "brand.name": "Notion",
        "brand.aliases": "Notion AI",
        "brand.domains": "notion.so",
        "competitors.0.name": "Evernote",
        "competitors.0.domains": "evernote.com",
        "competitors.1.name": "Obsidian",
        "competitors.1.aliases": "Obsidian.md",
        "competitors.2.name": "",
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


def token_cost(vendor: str, model: str, tokens: int) -> Decimal:
    price = price_for(vendor, model)
    assert price is not None and price.input_per_million is not None
    assert price.output_per_million is not None
    return (
        tokens * price.input_per_million + ASSUMED_OUTPUT_TOKENS * price.output_per_million
    ) / Decimal(1_000_000)


async def test_a_grounded_experiment_is_estimated_with_one_search_per_answer(
    client: httpx.AsyncClient, no_vendor_keys: dict[str, str]
) -> None:
    await sign_up(client)
    query = {"providers": ["openai"], "iterations": "100", "prompt": PROMPT}
    plain = unescape((await client.get("/experiments/new/estimate", params=query)).text)
    grounded = unescape(
        (await client.get("/experiments/new/estimate", params={**query, "grounding": "on"})).text
    )
    mini = token_cost("openai", "gpt-4o-mini", approximate_tokens(PROMPT))
    price = price_for("openai", "gpt-4o-mini")
    assert price is not None and price.search_per_thousand is not None
    assert usd(mini * 100) in plain
    assert usd((mini + price.search_per_thousand / 1000) * 100) in grounded
    assert "one web search or grounded prompt per answer" in grounded
    assert "searches more than once costs more" in grounded
    assert "not included" not in grounded


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
    mini = token_cost("openai", "gpt-4o-mini", tokens)
    sonnet = token_cost("anthropic", "claude-sonnet-4-6", tokens)
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


BRAND_INPUTS = [
    f"{prefix}.{name}"
    for prefix in ("brand", "competitors.0", "competitors.1", "competitors.2")
    for name in ("name", "aliases", "case_aliases", "any_case_aliases", "domains", "exclude_terms")
]


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
    # Brands typed in place are folded away while a profile can be chosen instead.
    assert '<details class="typed-brands">' in html
    assert 'name="brand.name"' in html and 'name="competitors.2.name"' in html
    response = await post_form(
        client,
        "/experiments/new",
        form(brand_profile_id=created.json()["id"], **dict.fromkeys(BRAND_INPUTS, "")),
        token_from="/experiments/new",
    )
    assert response.status_code == 303, response.text
    detail = await wait_finished(client, response.headers["location"].rsplit("/", 1)[1], {})
    assert detail["brands"]["target"]["name"] == "Linear"
    assert detail["brand_profile_id"] == created.json()["id"]

    # Brands typed, and something wrong: they show (unfolded) with the error beside them.
    response = await post_form(
        client,
        "/experiments/new",
        form(prompt=" ", **{"competitors.0.domains": "nope"}),
        token_from="/experiments/new",
    )
    assert response.status_code == 422
    assert '<details class="typed-brands" open>' in response.text
    assert "not a valid domain" in error_beside(response.text, "competitors.0.domains")


async def test_invalid_input_is_shown_beside_the_fields_and_what_was_typed_stays(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    sent = form(
        prompt="   ",
        name="Kept name",
        iterations="lots",
        schedule="custom",
        cron="* * * * *",
        country="France",
        **{
            "brand.domains": "not a domain!",
            # Obsidian's third alias (the second matched as written): one letter.
            "competitors.1.case_aliases": "Obsidian\nx",
        },
    )
    response = await post_form(client, "/experiments/new", sent, token_from="/experiments/new")
    assert response.status_code == 422
    html = response.text
    assert field_error(html, "iterations") == "Enter a whole number from 1 to 10,000."
    assert field_error(html, "prompt") == "prompt must not be blank"
    assert "is not a valid domain name" in error_beside(html, "brand.domains")
    assert "too short" in error_beside(html, "competitors.1.case_aliases")
    assert field_error(html, "cron") == "runs must be at least 5 minutes apart"
    assert field_error(html, "country")
    assert 'value="Kept name"' in html and 'value="lots"' in html
    assert ">not a domain!</textarea>" in html and ">Obsidian\nx</textarea>" in html
    assert 'aria-invalid="true"' in html
    # Three competitor fieldsets were sent, two filled: the empty one is kept, no more.
    assert 'name="competitors.2.name"' in html and 'name="competitors.3.name"' not in html

    nothing = await post_form(
        client,
        "/experiments/new",
        form(providers=[], **dict.fromkeys(BRAND_INPUTS, "")),
        token_from="/experiments/new",
    )
    assert nothing.status_code == 422
    assert "Choose a brand profile" in error_beside(nothing.text, "brand.name")
    assert field_error(nothing.text, "providers") == "Choose at least one provider."

    twice = await post_form(
        client,
        "/experiments/new",
        form(**{"competitors.1.name": " notion "}),
        token_from="/experiments/new",
    )
    assert twice.status_code == 422
    assert "listed twice" in error_beside(twice.text, "competitors.1.name")

    short = await post_form(
        client, "/experiments/new", form(**{"brand.name": "HP"}), token_from="/experiments/new"
    )
    assert short.status_code == 422
    assert "shorter than 3" in error_beside(short.text, "brand.name")
    as_written = form(**{"brand.name": "HP", "brand.case_sensitive": "1"})
    assert (
        await post_form(client, "/experiments/new", as_written, token_from="/experiments/new")
    ).status_code == 303

    unconfigured = await post_form(
        client,
        "/experiments/new",
        form(providers=["demo", "openai"]),
        token_from="/experiments/new",
    )
    assert unconfigured.status_code == 422
    assert "OPENAI_API_KEY is not set" in field_error(unconfigured.text, "providers")


async def test_another_competitor_is_added_without_losing_what_was_typed(
    client: httpx.AsyncClient,
) -> None:
    """Without JavaScript: the button posts the whole form back to its page, which shows
    it again with one more empty competitor; nothing is created until it is sent."""
    await sign_up(client)
    html = await page(client, "/experiments/new")
    assert html.count('class="brand-fieldset"') == 4  # the brand and three competitors
    assert '<details class="typed-brands"' not in html  # no profile: nothing folded
    sent = form(
        action="add_competitor",
        iterations="33",
        grounding="on",
        schedule="weekly",
        timezone="Europe/Paris",
        city="Paris",
        **{"competitors.0.case_sensitive": "0", "competitors.1.any_case_aliases": "obsidian"},
    )
    response = await post_form(client, "/experiments/new", sent, token_from="/experiments/new")
    assert response.status_code == 200
    html = unescape(response.text)
    assert html.count('class="brand-fieldset"') == 5
    assert 'name="competitors.3.name"' in html and 'name="competitors.4.name"' not in html
    assert 'formaction="/experiments/new#competitor-5"' in html
    assert f">{PROMPT}</textarea>" in html and 'value="Note apps"' in html
    assert 'value="33"' in html and 'value="Paris"' in html
    assert re.search(r'name="grounding" checked', html)
    assert re.search(r'name="schedule" value="weekly" checked', html)
    assert 'value="Europe/Paris"' in html
    assert ">evernote.com</textarea>" in html and ">obsidian</textarea>" in html
    assert case_rule(html, "competitors.0.case_sensitive") == "0"
    assert (await client.get("/v1/experiments")).json()["items"] == []

    data = form_data(response.text, "/experiments/new")
    data["competitors.3.name"] = "Bear"
    created = await client.post("/experiments/new", data=data, headers=origin(client))
    assert created.status_code == 303, created.text
    detail = await wait_finished(client, created.headers["location"].rsplit("/", 1)[1], {})
    brands = BrandSet.model_validate(detail["brands"])
    assert brands.names == ["Notion", "Evernote", "Obsidian", "Bear"]
    assert brands.competitors[0].case_sensitive is False
    assert [(a.text, a.case_sensitive) for a in brands.competitors[1].aliases] == [
        ("Obsidian.md", None),
        ("obsidian", False),
    ]
    assert detail["iterations"] == 33 and detail["grounding"] is True
    assert detail["schedule"]["cron"] == "0 9 * * 1"


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
    assert response.status_code == 402
    message = field_error(response.text, "iterations")
    assert "20,000" in message and "2,000" in message
    assert 'value="10000"' in response.text
    listed = await client.get("/v1/experiments")
    assert listed.json()["items"] == []


async def test_viewers_cannot_create_and_csrf_is_required(client: httpx.AsyncClient) -> None:
    team = await create_team(client, ["viewer"])
    await sign_in(client, "viewer@example.com")
    client.cookies.set("echo_workspace", team.workspace_id)
    html = await page(client, "/experiments/new")
    assert "read-only" in html and "Run experiment</button>" not in html
    assert "Add another competitor" not in html
    added = await post_form(
        client,
        "/experiments/new",
        form(action="add_competitor"),
        token_from="/experiments/new",
    )
    assert added.status_code == 403
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
            iterations="7",
            country="de",
            region="Berlin",
            **{
                "brand.exclude_terms": "notion of\nvague notion",
                "competitors.0.case_aliases": "EN",
                "competitors.1.case_sensitive": "1",
                "competitors.2.name": "HP",
                "competitors.2.case_sensitive": "1",
            },
        ),
        token_from="/experiments/new",
    )
    assert created.status_code == 303, created.text
    experiment_id = created.headers["location"].rsplit("/", 1)[1]
    original = await wait_finished(client, experiment_id, {})
    source = f"/experiments/new?from={experiment_id}"
    html = unescape(await page(client, source))
    assert "Filled in from an earlier experiment" in html
    assert f">{PROMPT}</textarea>" in html
    assert 'name="competitors.2.name" type="text" value="HP"' in html
    assert case_rule(html, "competitors.2.case_sensitive") == "1"
    assert ">notion of\nvague notion</textarea>" in html and ">EN</textarea>" in html
    assert 'name="competitors.4.name"' in html  # two empty competitors to add
    assert 'name="iterations" type="number" value="7"' in html
    assert 'value="DE"' in html and 'value="Berlin"' in html
    assert re.search(r'id="p-demo"[^>]*checked', html)

    # Run as new, unchanged: the same brands, setting for setting.
    again = await client.post(
        "/experiments/new",
        data=form_data(await page(client, source), "/experiments/new"),
        headers=origin(client),
    )
    assert again.status_code == 303, again.text
    copy = await wait_finished(client, again.headers["location"].rsplit("/", 1)[1], {})
    assert copy["brands"] == original["brands"]

    other = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    async with other:
        await sign_up(other, "mallory@example.com")
        await page(other, f"/experiments/new?from={experiment_id}", status=404)


def test_brands_round_trip_through_the_form() -> None:
    brands = BrandSet.model_validate(
        {
            "target": {
                "name": "Notion",
                "aliases": [
                    "notion.so",
                    {"text": "Notion AI", "case_sensitive": True},
                    {"text": "notion app", "case_sensitive": False},
                ],
                "domains": ["notion.so"],
                "exclude_terms": ["notion of"],
            },
            "competitors": [
                {"name": "HP", "case_sensitive": True, "domains": ["hp.com", "hp.co.uk"]},
                {"name": "Bear", "case_sensitive": False, "aliases": ["Bear Notes"]},
                {"name": "Close", "exclude_terms": ["close the deal", "up close"]},
            ],
        }
    )
    typed = BrandsForm.of(brands)
    assert typed.brand == BrandFields(
        name="Notion",
        aliases="notion.so",
        case_aliases="Notion AI",
        any_case_aliases="notion app",
        domains="notion.so",
        exclude_terms="notion of",
    )
    assert [c.case_sensitive for c in typed.competitors] == ["1", "0", ""]
    assert typed.competitors[0].domains == "hp.com\nhp.co.uk"
    assert BrandSet.model_validate(typed.brand_set_input()) == brands
    # The stored JSON reads the same; empty fieldsets change nothing.
    stored = BrandsForm.of(brands.model_dump()).padded(3)
    assert len(stored.competitors) == 6
    assert BrandSet.model_validate(stored.brand_set_input()) == brands


def test_schema_errors_go_beside_their_input() -> None:
    typed = BrandsForm(
        brand=BrandFields(name="Notion", aliases="a\nb", case_aliases="c", any_case_aliases="d"),
        competitors=[BrandFields(), BrandFields(name="Bear"), BrandFields(name="bear")],
    )
    assert typed.input_of(("target", "aliases", 1)) == "brand.aliases"
    assert typed.input_of(("target", "aliases", 2)) == "brand.case_aliases"
    assert typed.input_of(("target", "aliases", 3)) == "brand.any_case_aliases"
    assert typed.input_of(("target", "aliases")) == "brand.aliases"
    assert typed.input_of(("brand", "case_sensitive")) == "brand.name"
    # The second competitor given is the third fieldset (the first is empty).
    assert typed.input_of(("competitors", 1, "domains")) == "competitors.2.domains"
    assert typed.input_of(("competitors", 5, "name")) == "brands"
    assert typed.input_of(("competitors",)) == "brands"
    assert typed.input_of(()) == "competitors.2.name"  # "bear" is "Bear" again
    assert BrandsForm(brand=BrandFields(name="A")).input_of(()) == "brands"
    assert typed.errors(
        {"brands.competitors.0.name": "x", "prompt": "y", "form": "z"}, within="brands"
    ) == {"competitors.1.name": "x", "prompt": "y", "form": "z"}


def test_models_typed_become_provider_specs() -> None:
    values = ExperimentFields(
        providers=["demo", "openai"], models={"openai": "gpt-4o, gpt-4o-mini", "demo": ""}
    )
    assert values.provider_specs() == ["demo", "openai:gpt-4o", "openai:gpt-4o-mini"]
    checked = validate_experiment(
        ExperimentFields(
            prompt="p", brands=BrandsForm(brand=BrandFields(name="Acme")), temperature="x"
        )
    )
    assert checked == {"temperature": "Enter a number from 0 to 2, e.g. 1.0."}


async def test_the_planner_says_what_the_answers_buy_and_what_adaptive_sampling_costs(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    fixed = await client.get(
        "/experiments/new/estimate",
        params={"providers": "demo", "iterations": "388", "sampling": "fixed"},
    )
    html = unescape(fixed.text)
    # 388 answers a run: a change from 50% of 10 points (to 60%) is seen 80% of the time.
    assert answers_to_detect(0.5, 0.6) == 388
    assert f'id="plan-change">{points(detectable_change(388))}' in html
    assert points(detectable_change(388)) == "±10.0 pts"

    adaptive = await client.get(
        "/experiments/new/estimate",
        params={
            "providers": "demo",
            "iterations": "1000",
            "sampling": "adaptive",
            "precision_points": "5",
            "min_answers": "30",
        },
    )
    html = unescape(adaptive.text)
    assert "Estimated cost (at most)" in html
    assert f'id="plan-fixed">{answers_for_half_width(0.05)}' in html  # 385
    expected = planning.plan(half_width=0.05, max_answers=1_000).precision
    assert expected is not None
    assert f'id="plan-adaptive">≈ {round(expected.adaptive_answers):,}' in html

    short = await client.get(
        "/experiments/new/estimate",
        params={"providers": "demo", "iterations": "100", "sampling": "adaptive",
                "precision_points": "5"},
    )  # fmt: skip
    assert "raise the iterations" in unescape(short.text)
    unreadable = await client.get(
        "/experiments/new/estimate",
        params={"providers": "demo", "iterations": "100", "sampling": "adaptive",
                "precision_points": "five"},
    )  # fmt: skip
    assert "Enter the points" in unescape(unreadable.text)
    for points_typed, iterations, minimum, said in (
        ("0.05", "100", "30", "Enter the points, from 0.1 to 25"),
        ("5", "100", "5000", "The minimum (5,000) must be at least 30 and at most the"),
        ("0.1", "10000", "30", "ask for a wider precision (the iterations are at their most)"),
    ):
        planned = await client.get(
            "/experiments/new/estimate",
            params={"providers": "demo", "iterations": iterations, "sampling": "adaptive",
                    "precision_points": points_typed, "min_answers": minimum},
        )  # fmt: skip
        assert said in unescape(planned.text), points_typed


async def test_an_adaptive_experiment_from_the_form_stops_each_provider_at_its_precision(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    bad = await post_form(
        client,
        "/experiments/new",
        form(sampling="adaptive", iterations="500", precision_points="30", min_answers="10"),
        token_from="/experiments/new",
    )
    assert bad.status_code == 422
    assert "from 0.1 to 25, e.g. 5" in field_error(bad.text, "precision_points")
    assert field_error(bad.text, "min_answers") == "At least 30."

    response = await post_form(
        client,
        "/experiments/new",
        form(sampling="adaptive", iterations="500", precision_points="8", min_answers="30"),
        token_from="/experiments/new",
    )
    assert response.status_code == 303, response.text
    experiment_id = response.headers["location"].rsplit("/", 1)[1]
    detail = await wait_finished(client, experiment_id, {})
    assert detail["precision"] == {"metric": "visibility", "half_width": 0.08, "min_answers": 30}
    (batch,) = detail["providers"]
    adaptive = batch["adaptive"]
    assert adaptive["max_answers"] == 500 and adaptive["half_width"] == 0.08
    assert batch["iterations_requested"] == batch["stored"] <= 500
    if adaptive["stopped_early"]:
        assert adaptive["reached"] and adaptive["half_width_now"] <= 0.08
    page_html = unescape((await client.get(f"/experiments/{experiment_id}", headers=HTML)).text)
    assert "adaptive, at most 500 per provider" in page_html
    assert adaptive["summary"] in page_html

    again = await client.get(f"/experiments/new?from={experiment_id}", headers=HTML)
    html = again.text
    assert re.search(r'name="sampling" value="adaptive" checked', html)
    assert 'name="precision_points" type="number" value="8"' in html


async def test_experiments_asked_as_two_personas_are_compared_from_the_experiment_page(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    ids = []
    for name, persona, city, target in (
        ("Agency", "I run a design agency.", "", "Notion"),
        ("Craft's", "", "", "Craft"),
        ("Bank", "", "Paris", "Notion"),
    ):
        response = await post_form(
            client,
            "/experiments/new",
            form(name=name, persona=persona, city=city, **{"brand.name": target}),
            token_from="/experiments/new",
        )
        assert response.status_code == 303, response.text
        ids.append(response.headers["location"].rsplit("/", 1)[1])
        await wait_finished(client, ids[-1], {})
    agency, other_target, bank = ids
    assert (await client.get(f"/v1/experiments/{agency}")).json()["persona"] == (
        "I run a design agency."
    )
    detail = unescape((await client.get(f"/experiments/{bank}", headers=HTML)).text)
    assert "Persona" not in detail.split("Target brand")[0]  # none: no persona row
    assert f'<option value="{agency}">Agency · persona: I run a design agency.' in detail
    assert other_target not in detail  # another target brand: not comparable, not offered
    chosen = await client.get(f"/experiments/{bank}/versus", params={"other": agency})
    assert chosen.status_code == 303
    assert chosen.headers["location"].endswith(f"/experiments/{bank}/versus/{agency}")

    several = await client.get(
        "/experiments/side-by-side", params=[("id", bank), ("id", agency)], headers=HTML
    )
    assert several.status_code == 200
    assert "2 experiments side by side" in unescape(several.text)
    assert "differs from A in: persona: none → I run a design agency." in unescape(several.text)
    for params, message in (
        ([("id", bank), ("id", other_target)], "different target brands"),
        ([("id", bank)], "from 2 to 8 experiments"),
        ([("id", "nonsense")], "id"),
    ):
        refused = await client.get("/experiments/side-by-side", params=params, headers=HTML)
        assert refused.status_code in (400, 422), params
        assert "<!doctype html>" in refused.text and message in unescape(refused.text)

    page = unescape((await client.get(f"/experiments/{bank}/versus/{agency}", headers=HTML)).text)
    assert "Bank (A) vs Agency (B)" in page
    assert "persona: none → I run a design agency." in page
    assert "place: Paris → none" in page
    assert "Visibility of Notion" in page and "Mention rate of every brand" in page
    assert page.count('data-label="A: Bank"') >= 2  # per provider and pooled
