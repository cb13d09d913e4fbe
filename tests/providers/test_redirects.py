"""The grounding-redirect resolver against a local HTTP server that answers like Google's
redirect links: 302 with a ``Location`` (and a cookie), a stalled one, one that does not
redirect, one that refuses HEAD."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.citations import attributable_url
from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.config import Settings
from echo_ai.providers.base import CompletionRequest
from echo_ai.providers.gemini import GeminiProvider
from echo_ai.providers.redirects import (
    GROUNDING_REDIRECT_HOSTS,
    RedirectCache,
    RedirectResolver,
    is_redirect_link,
    process_cache,
)
from echo_ai.providers.registry import ProviderSpec, build_provider, redirect_resolver
from echo_ai.testing.fake_llm import FakeLLMServer

LOCAL = frozenset({"127.0.0.1"})
TARGET = "https://www.hubspot.com/products/crm/agencies"


@dataclass
class RedirectServer:
    base: str
    hits: Counter[str] = field(default_factory=Counter)
    """Requests per ``METHOD path``."""
    cookies_seen: list[str] = field(default_factory=list)
    """``Cookie`` headers that came in (none may)."""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to let the stalled handler answer (at teardown)."""
    outage: bool = True
    """While set, ``/status/{code}`` answers with that status; then it redirects."""
    head_stall: float = 0.0
    """How long ``/slow-head`` holds a HEAD (unless released) before answering 200."""

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture
async def server() -> AsyncIterator[RedirectServer]:
    state = RedirectServer(base="")

    async def seen(request: web.Request) -> None:
        state.hits[f"{request.method} {request.path}"] += 1
        if "Cookie" in request.headers:
            state.cookies_seen.append(request.headers["Cookie"])

    async def redirect(request: web.Request) -> web.StreamResponse:
        await seen(request)
        response = web.Response(status=302, headers={"Location": TARGET})
        response.set_cookie("NID", "511=tracking", path="/", domain="127.0.0.1")
        return response

    async def relative(request: web.Request) -> web.StreamResponse:
        await seen(request)
        return web.Response(status=301, headers={"Location": "/landing?x=1"})

    async def plain(request: web.Request) -> web.StreamResponse:
        await seen(request)
        return web.Response(text="no redirect here")

    async def stalled(request: web.Request) -> web.StreamResponse:
        await seen(request)
        await state.release.wait()
        return web.Response(status=302, headers={"Location": TARGET})

    async def head_refused(request: web.Request) -> web.StreamResponse:
        await seen(request)
        if request.method == "HEAD":
            return web.Response(status=405)
        return web.Response(status=302, headers={"Location": "https://pipedrive.com/"})

    async def status(request: web.Request) -> web.StreamResponse:
        await seen(request)
        if state.outage:
            return web.Response(status=int(request.match_info["code"]))
        return web.Response(status=302, headers={"Location": TARGET})

    async def slow_head(request: web.Request) -> web.StreamResponse:
        await seen(request)
        if request.method == "HEAD":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.release.wait(), state.head_stall)
            return web.Response(status=200)
        await state.release.wait()  # the GET stalls until teardown
        return web.Response(status=302, headers={"Location": TARGET})

    app = web.Application()
    app.router.add_get("/status/{code}", status)
    app.router.add_route("*", "/slow-head", slow_head)
    app.router.add_get("/grounding-api-redirect/{token}", redirect)
    app.router.add_get("/relative", relative)
    app.router.add_get("/plain", plain)
    app.router.add_get("/stalled", stalled)
    app.router.add_route("*", "/head-refused", head_refused)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base = f"http://{host}:{port}"
    try:
        yield state
    finally:
        state.release.set()
        await runner.cleanup()


def resolver(cache: RedirectCache | None = None, timeout: float = 5.0) -> RedirectResolver:
    return RedirectResolver(
        timeout_seconds=timeout,
        cache=RedirectCache(100) if cache is None else cache,
        hosts=LOCAL,
    )


async def test_reads_only_the_location_and_caches_it(server: RedirectServer) -> None:
    link = server.url("/grounding-api-redirect/AUZIYQ1")
    cache = RedirectCache(100)
    links = resolver(cache)

    first = await links.resolve_all([link, link])
    second = await links.resolve_all([link])

    assert first == second == {link: TARGET}
    assert server.hits == Counter({"HEAD /grounding-api-redirect/AUZIYQ1": 1})
    assert cache.get(link) == (True, TARGET)


async def test_cookies_set_by_a_redirect_are_never_sent_back(server: RedirectServer) -> None:
    links = resolver()
    await links.resolve_all([server.url("/grounding-api-redirect/one")])
    await links.resolve_all([server.url("/grounding-api-redirect/two")])
    await links.resolve_all([server.url("/relative")])

    assert server.hits["HEAD /grounding-api-redirect/two"] == 1
    assert server.cookies_seen == []


async def test_a_relative_location_is_read_against_the_link(server: RedirectServer) -> None:
    link = server.url("/relative")
    assert await resolver().resolve_all([link]) == {link: server.url("/landing?x=1")}
    assert server.hits["GET /landing"] == 0, "the target itself is never requested"


async def test_get_is_tried_when_head_gives_no_redirect(server: RedirectServer) -> None:
    link = server.url("/head-refused")
    assert await resolver().resolve_all([link]) == {link: "https://pipedrive.com/"}
    assert server.hits == Counter({"HEAD /head-refused": 1, "GET /head-refused": 1})


async def test_a_link_that_does_not_redirect_is_remembered_as_unresolved(
    server: RedirectServer,
) -> None:
    link = server.url("/plain")
    cache = RedirectCache(100)

    assert await resolver(cache).resolve_all([link]) == {}
    assert await resolver(cache).resolve_all([link]) == {}

    assert cache.get(link) == (True, None)
    assert server.hits == Counter({"HEAD /plain": 1, "GET /plain": 1})


async def test_a_stalled_link_times_out_and_is_asked_again_later(server: RedirectServer) -> None:
    link = server.url("/stalled")
    cache = RedirectCache(100)

    assert await resolver(cache, timeout=0.2).resolve_all([link]) == {}
    assert link not in cache  # a timeout may pass: not remembered

    server.release.set()
    assert await resolver(cache, timeout=5.0).resolve_all([link]) == {link: TARGET}
    assert server.hits["HEAD /stalled"] == 2


@pytest.mark.parametrize("code", [429, 503])
async def test_a_rate_limit_or_server_error_is_not_remembered(
    server: RedirectServer, code: int
) -> None:
    """The first citation meets a 429 (or 503) and stays unresolved; the next citation of
    the same link, after the outage, is resolved: the failure was not cached."""
    link = server.url(f"/status/{code}")
    cache = RedirectCache(100)

    assert await resolver(cache).resolve_all([link]) == {}
    assert link not in cache

    server.outage = False
    assert await resolver(cache).resolve_all([link]) == {link: TARGET}
    assert cache.get(link) == (True, TARGET)


@pytest.mark.parametrize("code", [404, 410])
async def test_a_link_that_is_gone_is_remembered_as_unresolved(
    server: RedirectServer, code: int
) -> None:
    link = server.url(f"/status/{code}")
    cache = RedirectCache(100)

    assert await resolver(cache).resolve_all([link]) == {}
    server.outage = False
    assert await resolver(cache).resolve_all([link]) == {}

    assert cache.get(link) == (True, None)
    assert server.hits == Counter({f"HEAD /status/{code}": 1, f"GET /status/{code}": 1})


async def test_head_and_get_share_one_timeout(server: RedirectServer) -> None:
    """A HEAD that takes most of the timeout leaves the GET only the rest: the link is
    given up after one timeout, not two."""
    timeout = 1.0
    server.head_stall = 0.6 * timeout
    link = server.url("/slow-head")
    cache = RedirectCache(100)

    started = time.monotonic()
    assert await resolver(cache, timeout=timeout).resolve_all([link]) == {}
    elapsed = time.monotonic() - started

    assert server.hits == Counter({"HEAD /slow-head": 1, "GET /slow-head": 1})
    # Separate timeouts would take 0.6 + 1.0 seconds; one shared deadline takes 1.0.
    assert 0.6 * timeout <= elapsed < 1.4 * timeout
    assert link not in cache


async def test_links_on_other_hosts_are_never_requested(server: RedirectServer) -> None:
    google_only = RedirectResolver(timeout_seconds=1.0, cache=RedirectCache(10))
    link = server.url("/grounding-api-redirect/x")

    assert await google_only.resolve_all([link, "https://hubspot.com/"]) == {}
    assert server.hits == Counter()


def test_the_cache_forgets_the_least_recently_used_link() -> None:
    cache = RedirectCache(2)
    cache.put("a", "https://a.com/")
    cache.put("b", None)
    assert cache.get("a") == (True, "https://a.com/")  # a is now the most recent
    cache.put("c", "https://c.com/")

    assert len(cache) == 2
    assert "b" not in cache
    assert cache.get("a") == (True, "https://a.com/")
    assert cache.get("c") == (True, "https://c.com/")
    with pytest.raises(ValueError, match="at least one"):
        RedirectCache(0)


def test_only_http_links_on_the_redirect_hosts_are_redirect_links() -> None:
    assert {"vertexaisearch.cloud.google.com"} == GROUNDING_REDIRECT_HOSTS
    assert is_redirect_link("https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQ")
    assert not is_redirect_link("https://google.com/grounding-api-redirect/AUZIYQ")
    assert not is_redirect_link("ftp://vertexaisearch.cloud.google.com/x")
    assert not is_redirect_link("http://[bad")


def test_resolving_is_off_unless_the_operator_turns_it_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert redirect_resolver(Settings()) is None

    monkeypatch.setenv("ECHO_AI_RUNNER__RESOLVE_REDIRECTS", "true")
    monkeypatch.setenv("ECHO_AI_RUNNER__REDIRECT_TIMEOUT_SECONDS", "1.5")
    made = redirect_resolver(Settings())

    assert made is not None
    assert made.timeout_seconds == 1.5
    assert made.hosts == GROUNDING_REDIRECT_HOSTS
    # One cache per process, whichever resolver asks.
    again = redirect_resolver(Settings())
    assert again is not None
    assert again.cache is made.cache is process_cache()


async def test_other_vendors_are_built_as_before_when_resolving_is_on() -> None:
    """The Gemini adapter is given the resolver (used in the test below); the others,
    which link to pages directly, are not."""
    links = resolver()
    gemini = build_provider(
        ProviderSpec("gemini", "gemini-2.5-flash"),
        api_key="k",
        base_url=None,
        timeout_seconds=5,
        redirects=links,
    )
    perplexity = build_provider(
        ProviderSpec("perplexity", "sonar"), api_key="k", base_url=None,
        timeout_seconds=5, redirects=links,
    )  # fmt: skip
    try:
        assert isinstance(gemini, GeminiProvider)
        assert perplexity.name == "perplexity"
    finally:
        await gemini.aclose()
        await perplexity.aclose()


async def test_gemini_keeps_the_resolved_target_beside_the_redirect(
    server: RedirectServer, fake_llm: FakeLLMServer
) -> None:
    """Through google-genai: only the chunk whose site is unknown (a page title, no
    domain) is resolved; the credit then goes to its target's site."""
    raw: dict[str, Any] = json.loads(
        (
            Path(__file__).parent / "bodies" / "gemini" / "grounding_titles_and_domains.json"
        ).read_text()
    )
    chunks = raw["candidates"][0]["groundingMetadata"]["groundingChunks"]
    for index, chunk in enumerate(chunks):  # the same links, served by the local server
        chunk["web"]["uri"] = server.url(f"/grounding-api-redirect/chunk{index}")
    fake_llm.config.bodies = [raw]
    adapter = build_provider(
        ProviderSpec("gemini", "gemini-2.5-flash"),
        api_key="k",
        base_url=fake_llm.base_url,
        timeout_seconds=5,
        redirects=resolver(),
    )
    assert isinstance(adapter, GeminiProvider)
    try:
        completion = await adapter.complete(
            CompletionRequest(prompt="best CRM?", model="gemini-2.5-flash", grounding=True)
        )
    finally:
        await adapter.aclose()

    # chunk0 is titled "hubspot.com", chunk2 has a domain: neither was asked about.
    assert set(server.hits) == {
        "HEAD /grounding-api-redirect/chunk1",
        "HEAD /grounding-api-redirect/chunk3",
    }
    by_url = {c.url: c for c in (*completion.citations, *completion.sources)}
    page = by_url[server.url("/grounding-api-redirect/chunk1")]
    assert page.resolved_url == TARGET
    assert attributable_url(page) == TARGET
    assert by_url[server.url("/grounding-api-redirect/chunk0")].resolved_url is None
    brands = BrandSet.model_validate({"target": {"name": "HubSpot", "domains": ["hubspot.com"]}})
    extraction = BrandMatcher(brands).extract(
        completion.text, citations=completion.citations, sources=completion.sources
    )
    assert extraction.brand_citations["HubSpot"] == (TARGET,)


async def test_gemini_resolves_a_title_that_only_looks_like_a_domain(
    server: RedirectServer, fake_llm: FakeLLMServer
) -> None:
    """One rule decides what is resolved and what is credited: a title such as "Node.js",
    "Vue.js", "Inc." or "U.S." is no site, so the link is asked about and credited to where
    it leads (before, it was neither resolved nor credited)."""
    raw: dict[str, Any] = json.loads(
        (
            Path(__file__).parent / "bodies" / "gemini" / "grounding_titles_and_domains.json"
        ).read_text()
    )
    chunks = raw["candidates"][0]["groundingMetadata"]["groundingChunks"]
    titles = ["Node.js", "Vue.js", "Inc.", "U.S."]
    for index, chunk in enumerate(chunks):
        chunk["web"] = {
            "uri": server.url(f"/grounding-api-redirect/t{index}"),
            "title": titles[index],
        }
    fake_llm.config.bodies = [raw]
    adapter = build_provider(
        ProviderSpec("gemini", "gemini-2.5-flash"),
        api_key="k",
        base_url=fake_llm.base_url,
        timeout_seconds=5,
        redirects=resolver(),
    )
    assert isinstance(adapter, GeminiProvider)
    try:
        completion = await adapter.complete(
            CompletionRequest(prompt="best CRM?", model="gemini-2.5-flash", grounding=True)
        )
    finally:
        await adapter.aclose()

    assert set(server.hits) == {f"HEAD /grounding-api-redirect/t{index}" for index in range(4)}
    pages = (*completion.citations, *completion.sources)
    assert {page.title for page in pages} == set(titles)
    assert {attributable_url(page) for page in pages} == {TARGET}
