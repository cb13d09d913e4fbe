"""Static assets (issue 10, PERF-06/07): fingerprinted URLs, immutable caching, gzip and
brotli precompressed, nothing served that is not in the table, JavaScript per page under
150 KB compressed."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import httpx
import pytest

from echo_ai.web.assets import STATIC_DIR, Assets, assets

JS_BUDGET_BYTES = 150 * 1024


def test_every_url_names_its_content() -> None:
    table = assets()
    for name in table.names():
        url = table.url(name)
        stem = name.rsplit(".", 1)[0]
        assert re.fullmatch(rf"/static/{re.escape(stem)}\.[0-9a-f]{{12}}\.\w+", url), url
    assert "vendor/htmx/htmx.min.js" in table.names()
    assert "vendor/chartjs/chart.umd.min.js" in table.names()
    # Licences and manifests travel with the files but are not served.
    assert not [name for name in table.names() if "LICENSE" in name or name.endswith(".json")]


def test_a_changed_file_gets_a_new_url(tmp_path: Path) -> None:
    (tmp_path / "app.css").write_text("body { color: black }")
    before = Assets(tmp_path).url("app.css")
    (tmp_path / "app.css").write_text("body { color: navy }")
    assert Assets(tmp_path).url("app.css") != before


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [("gzip, deflate, br", "br"), ("gzip", "gzip"), ("br;q=0, gzip", "gzip"), ("", None)],
)
async def test_assets_are_served_compressed_immutable_and_exact(
    client: httpx.AsyncClient, accept: str, encoding: str | None
) -> None:
    url = assets().url("vendor/htmx/htmx.min.js")
    response = await client.get(url, headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers.get("content-encoding") == encoding
    original = (STATIC_DIR / "vendor/htmx/htmx.min.js").read_bytes()
    # httpx decodes br and gzip itself: the bytes the browser ends up with are the file's.
    assert response.content == original
    if encoding is not None:
        assert int(response.headers["content-length"]) < len(original) / 2
    revalidated = await client.get(
        url,
        headers={"Accept-Encoding": accept, "If-None-Match": response.headers["etag"]},
    )
    assert revalidated.status_code == 304 and revalidated.content == b""


async def test_signed_in_browsers_may_cache_assets_too(client: httpx.AsyncClient) -> None:
    client.cookies.set("echo_session", "anything")
    response = await client.get(assets().url("app.css"))
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_nothing_outside_the_table_is_served(client: httpx.AsyncClient) -> None:
    real = assets().url("app.css")
    for path in (
        "/static/app.css",  # no fingerprint
        real.replace(real.split(".")[-2], "0" * 12),  # a wrong fingerprint
        "/static/vendor/htmx/LICENSE",
        "/static/vendor/htmx/manifest.json",
        "/static/../../pyproject.toml",
        "/static/%2e%2e/rendering.py",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_the_compressed_bodies_decompress_to_the_file() -> None:
    asset = assets().by_url(assets().url("app.js"))
    assert asset is not None
    assert brotli.decompress(asset.brotli) == asset.identity
    assert gzip.decompress(asset.gzip) == asset.identity


def test_javascript_of_a_page_with_charts_stays_under_budget() -> None:
    """The heaviest page loads htmx, Chart.js and our own scripts: brotli sizes summed."""
    table = assets()
    scripts = [name for name in table.names() if name.endswith(".js")]
    total = 0
    for name in scripts:
        asset = table.by_url(table.url(name))
        assert asset is not None
        total += len(asset.brotli)
    assert total < JS_BUDGET_BYTES, f"all JavaScript together is {total} bytes compressed"
