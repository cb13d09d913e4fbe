"""Friendly error pages for browsers, with the request id; the API keeps its JSON errors."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.web.pages import HTML, origin


async def test_an_unknown_page_is_a_friendly_404_with_the_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/no/such/page", headers={**HTML, "X-Request-ID": "req-42"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    assert "<code>req-42</code>" in response.text
    assert 'href="/"' in response.text


async def test_api_clients_still_get_the_json_error_shape(client: httpx.AsyncClient) -> None:
    for path, headers in (
        ("/no/such/page", {}),
        ("/v1/experiments/not-a-uuid", HTML),  # the API's paths, even asked for HTML
        ("/static/nothing.js", HTML),
    ):
        response = await client.get(path, headers=headers)
        assert response.headers["content-type"] == "application/json", path
        assert "error" in response.json()


async def test_an_unexpected_failure_is_a_friendly_500_that_says_nothing_of_the_cause(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail of the failure")

    response = await client.get("/boom", headers={**HTML, "X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "req-500" in response.text
    assert "secret detail" not in response.text
    assert response.headers["x-request-id"] == "req-500"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    plain = await client.get("/boom")
    assert plain.status_code == 500 and plain.json()["error"]["code"] == "internal_error"


async def test_a_page_method_not_allowed_is_a_page(client: httpx.AsyncClient) -> None:
    response = await client.delete("/login", headers=HTML)
    assert response.status_code == 405
    assert "That is not something this page does" in response.text


async def test_a_form_too_large_for_the_server_is_a_page_not_json(
    client: httpx.AsyncClient,
) -> None:
    big = {"email": "ada@example.com", "password": "x" * 2_000_000}
    response = await client.post("/login", data=big, headers={**origin(client)})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "more than this form accepts" in response.text
    api = await client.post("/auth/login", content=b"x" * 2_000_000)
    assert api.status_code == 413 and api.json()["error"]["code"] == "payload_too_large"
