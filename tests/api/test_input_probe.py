"""The outside probe's bad input, sent as it sent it: over HTTP to a running app, on SQLite
and PostgreSQL (issue 9, findings 2 and 7).

A NUL byte was a 500 on PostgreSQL (before sign-in too) and stored on SQLite; ``true``
was stored as 1 iteration; a 200,000-character model name was stored and echoed; a model
name walking up a path was accepted. Each is now a 422 in the documented error shape,
naming the field, and nothing is stored.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from tests.kit import PASSWORD, bearer

pytestmark = pytest.mark.usefixtures("backend")

NUL_EMAIL = "a\u0000b@x.test"
EXPERIMENT: dict[str, Any] = {
    "name": "CRM watch",
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {
        "target": {
            "name": "HubSpot",
            "aliases": ["HubSpot CRM"],
            "domains": ["hubspot.com"],
            "exclude_terms": ["hub spot welding"],
        },
        "competitors": [{"name": "Salesforce"}],
    },
    "providers": ["demo"],
    "iterations": 3,
    "user_location": {"country": "US", "city": "Boston"},
}


def _refused(response: httpx.Response, field: str, kind: str | None = None) -> None:
    """A 422 in the documented shape that names ``field`` (and the error ``kind``)."""
    case = f"{response.request.method} {response.request.url.path} ({field})"
    assert response.status_code == 422, f"{case}: {response.text}"
    error = response.json()["error"]
    assert error["code"] == "validation_error", case
    named = {(item["field"], item["type"]) for item in error["details"]}
    assert any(name == field and kind in (None, type_) for name, type_ in named), (case, named)


def _signed_in(http: httpx.Client, email: str = "probe@example.com") -> dict[str, str]:
    registered = http.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "accept_terms": True}
    )
    assert registered.status_code == 201, registered.text
    login = http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return bearer(login.json()["access_token"])


def _experiments(http: httpx.Client, auth: dict[str, str]) -> list[dict[str, Any]]:
    listed = http.get("/v1/experiments", headers=auth)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def test_a_nul_in_an_email_is_refused_before_sign_in(http: httpx.Client) -> None:
    for path in ("/auth/register", "/auth/login", "/auth/session"):
        response = http.post(path, json={"email": NUL_EMAIL, "password": PASSWORD})
        _refused(response, "email", "control_character")
        assert "\u0000" not in response.text and "\\u0000" not in response.text  # not echoed
    # A lone surrogate ("\\ud800" in the JSON) is not text either.
    body = json.dumps({"email": "a\ud800b@x.test", "password": PASSWORD})  # ASCII, escaped
    headers = {"Content-Type": "application/json"}
    response = http.post("/auth/register", content=body, headers=headers)
    _refused(response, "email", "string_unicode")
    # The same address without the NUL was not registered on the way.
    login = http.post("/auth/login", json={"email": "ab@x.test", "password": PASSWORD})
    assert login.status_code == 401


def test_a_nul_in_a_display_name_is_refused(http: httpx.Client) -> None:
    body = {
        "email": "dn@example.com",
        "password": PASSWORD,
        "display_name": "Ada\u0000",
        "accept_terms": True,
    }
    _refused(http.post("/auth/register", json=body), "display_name", "control_character")
    login = http.post("/auth/login", json={"email": "dn@example.com", "password": PASSWORD})
    assert login.status_code == 401  # no account was made


def _with(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    here: Any = changed
    for step in path[:-1]:
        here = here[step]
    here[path[-1]] = value
    return changed


EXPERIMENT_CONTROLS: list[tuple[tuple[str | int, ...], Any, str]] = [
    (("prompt",), "best\u0000 CRM?", "prompt"),
    (("name",), "CRM\u0000", "name"),
    (("brands", "target", "name"), "Hub\u0000Spot", "brands.target.name"),
    (("brands", "target", "aliases", 0), "HubSpot\u0000CRM", "brands.target.aliases.0.text"),
    (("brands", "target", "exclude_terms", 0), "hub\u0000", "brands.target.exclude_terms.0"),
    (("brands", "target", "domains", 0), "hubspot.com\u0000", "brands.target.domains.0"),
    (("brands", "competitors", 0, "name"), "Sales\u0001force", "brands.competitors.0.name"),
    (("user_location", "city"), "Bos\u0000ton", "user_location.city"),
    (("providers", 0), "openai:gpt-4o\u0000", "providers.0"),
    (("demo_probabilities",), {"Hub\u0000Spot": 0.5}, "demo_probabilities.Hub\u0000Spot.[key]"),
    (("name",), "tab\tin a name", "name"),
    (("prompt",), "a form feed\u000c in a prompt", "prompt"),
    (("prompt",), "a C1 control\u0085 in a prompt", "prompt"),
]


def test_control_characters_in_an_experiment_are_refused(http: httpx.Client) -> None:
    auth = _signed_in(http)
    for path, value, field in EXPERIMENT_CONTROLS:
        response = http.post("/v1/experiments", json=_with(EXPERIMENT, path, value), headers=auth)
        _refused(response, field, "control_character")
    assert _experiments(http, auth) == []


def test_control_characters_elsewhere_are_refused(http: httpx.Client) -> None:
    auth = _signed_in(http)
    brand = {"name": "HubSpot"}
    new_password = "x\u0000" * 8
    for path, body, field in [
        ("/v1/api-keys", {"name": "ci\u0000"}, "name"),
        ("/v1/workspaces", {"name": "Team\u0000"}, "name"),
        ("/v1/invitations", {"email": NUL_EMAIL}, "email"),
        ("/v1/invitations/accept", {"token": "tok\u0000en"}, "token"),
        ("/v1/brands", {"brand": brand, "description": "x\u0000"}, "description"),
        ("/v1/brands", {"brand": brand, "target_keywords": ["\u0000"]}, "target_keywords.0"),
        ("/auth/refresh", {"refresh_token": "\u0000"}, "refresh_token"),
        (
            "/auth/password",
            {"current_password": PASSWORD, "new_password": new_password},
            "new_password",
        ),
    ]:
        _refused(http.post(path, json=body, headers=auth), field, "control_character")
    assert http.get("/v1/api-keys", headers=auth).json() == []
    assert [w["personal"] for w in http.get("/v1/workspaces", headers=auth).json()] == [True]
    assert http.get("/v1/brands", headers=auth).json()["items"] == []
    assert http.get("/v1/invitations", headers=auth).json() == []
    response = http.get("/v1/experiments", params={"cursor": "abc\u0000"}, headers=auth)
    _refused(response, "cursor", "control_character")


def test_a_prompt_pasted_from_windows_and_a_whole_temperature_are_fine(http: httpx.Client) -> None:
    auth = _signed_in(http)
    prompt = "Which CRM?\r\nFor a startup,\rplease.\tThanks"
    body = {**EXPERIMENT, "prompt": prompt, "temperature": 1}
    response = http.post("/v1/experiments", json=body, headers=auth)
    assert response.status_code == 202, response.text
    assert response.json()["prompt"] == "Which CRM?\nFor a startup,\nplease.\tThanks"
    assert response.json()["temperature"] == 1.0


def test_wrong_json_types_are_refused_not_converted(http: httpx.Client) -> None:
    auth = _signed_in(http)
    for field, value in [
        ("iterations", True),
        ("iterations", 3.0),
        ("iterations", "3"),
        ("temperature", "1.0"),
        ("temperature", False),
        ("grounding", 1),
        ("grounding", "true"),
    ]:
        response = http.post("/v1/experiments", json={**EXPERIMENT, field: value}, headers=auth)
        _refused(response, field)
    assert _experiments(http, auth) == []


def test_a_200000_character_model_name_is_refused(http: httpx.Client) -> None:
    auth = _signed_in(http)
    huge = {**EXPERIMENT, "providers": ["openai_compatible:" + "m" * 200_000]}
    response = http.post("/v1/experiments", json=huge, headers=auth)
    _refused(response, "providers.0", "string_too_long")
    assert len(response.content) < 2_000  # the value is not echoed back
    assert _experiments(http, auth) == []


def test_a_model_name_outside_the_vendors_character_set_is_refused(http: httpx.Client) -> None:
    auth = _signed_in(http)
    for provider in ["demo:../../etc/passwd", "openai_compatible:/etc/passwd", "openai:gpt 4o"]:
        body = {**EXPERIMENT, "providers": [provider]}
        response = http.post("/v1/experiments", json=body, headers=auth)
        _refused(response, "providers")
        assert "model name" in response.json()["error"]["details"][0]["message"]
    assert _experiments(http, auth) == []
