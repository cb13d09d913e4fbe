"""What a second outside probe found after issue 9's fixes, over real HTTP as it did it."""

from __future__ import annotations

import httpx
import pytest

from tests.accounts_http import api_key, create_team, register_and_login

pytestmark = pytest.mark.usefixtures("backend")

BRANDS = {"target": {"name": "HubSpot"}}


def _create(http: httpx.Client, headers: dict[str, str], **fields: object) -> httpx.Response:
    body = {"prompt": "Best CRM?", "brands": BRANDS, "iterations": 5, **fields}
    return http.post("/v1/experiments", headers=headers, json=body)


def test_a_name_taken_from_the_prompt_is_one_line(http: httpx.Client) -> None:
    ada = register_and_login(http, "ada@example.com")
    created = _create(http, ada, prompt="Line one\r\nline two\tthree  ")
    assert created.status_code == 202, created.text
    assert created.json()["name"] == "Line one line two three"


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("brand", "A\u202eB"),  # right-to-left override: displays as another name
        ("brand", "A\u2028B"),  # a line separator in a single-line name
        ("prompt", "Best \u2066CRM\u2069?"),  # isolates reorder a prompt too
        ("timezone", "../../etc/localtime"),
    ],
)
def test_invisible_reordering_and_unknown_time_zones_are_refused(
    http: httpx.Client, where: str, value: str
) -> None:
    ada = register_and_login(http, "ada@example.com")
    fields: dict[str, object] = {
        "brand": {"brands": {"target": {"name": value}}},
        "prompt": {"prompt": value},
        "timezone": {"user_location": {"timezone": value}},
    }[where]
    refused = _create(http, ada, **fields)
    assert refused.status_code == 422, refused.text
    assert http.get("/v1/experiments", headers=ada).json()["items"] == []


def test_a_key_refuses_to_act_in_a_workspace_it_does_not_belong_to(http: httpx.Client) -> None:
    team = create_team(http, ())
    key = api_key(http, team.as_["owner"], ["read"])  # a key of the team workspace
    headers = {"Authorization": f"Bearer {key['key']}"}
    personal_headers = {k: v for k, v in team.as_["owner"].items() if k != "X-Workspace-ID"}
    personal = http.get("/v1/whoami", headers=personal_headers).json()["workspace_id"]
    assert personal != team.workspace_id
    assert http.get("/v1/whoami", headers=headers).json()["workspace_id"] == team.workspace_id
    other = http.get("/v1/whoami", headers={**headers, "X-Workspace-ID": personal})
    assert other.status_code == 404
    assert "own workspace" in other.json()["error"]["message"]
    same = http.get("/v1/whoami", headers={**headers, "X-Workspace-ID": team.workspace_id.upper()})
    assert same.status_code == 200


def test_health_answers_head_as_probes_send_it(http: httpx.Client) -> None:
    for path in ("/health", "/health/ready"):
        response = http.head(path)
        assert response.status_code == 200, path
        assert response.content == b""
