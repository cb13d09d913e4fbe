"""``/docs`` serves Swagger UI from the package: nothing from another origin (issue 9, 8b).

Checked as a browser would meet it, over real HTTP: the page references only our own
URLs, its CSP names no other host and allows its one inline script by hash, and every
asset it references answers with the right type, long caching and the vendored bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser

import httpx
import pytest

from echo_ai.api.docs import MANIFEST, swagger_ui


class References(HTMLParser):
    """The URLs a page makes the browser load (``src`` and ``href``) and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        self._in_inline_script = tag == "script" and "src" not in values

    def handle_endtag(self, tag: str) -> None:
        self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts.append(data)


def directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def page(http: httpx.Client) -> tuple[httpx.Response, References]:
    response = http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    references = References()
    references.feed(response.text)
    return response, references


def test_the_docs_page_loads_nothing_from_another_origin(http: httpx.Client) -> None:
    response, references = page(http)
    assert "swagger-ui" in response.text
    assert not re.search(r"https?:|//[a-z]", response.text, flags=re.IGNORECASE)
    assert references.urls and all(url.startswith("/") for url in references.urls)

    csp = directives(response.headers["content-security-policy"])
    for name, sources in csp.items():
        # Keywords ('self', 'sha256-...', 'none'...) and data: only: no host, no scheme.
        assert all(s.startswith("'") or s == "data:" for s in sources), (name, sources)
    assert csp["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    # The one inline start-up script is allowed exactly by its hash, as a browser checks it.
    assert len(references.inline_scripts) == 1
    digest = hashlib.sha256(references.inline_scripts[0].encode()).digest()
    assert csp["script-src"] == ["'self'", f"'sha256-{base64.b64encode(digest).decode()}'"]


def test_every_asset_the_page_references_is_served_from_the_package(
    http: httpx.Client,
) -> None:
    _, references = page(http)
    manifest = json.loads(MANIFEST.read_text())
    expected_types = {
        "swagger-ui-bundle.js": "text/javascript",
        "swagger-ui.css": "text/css",
        "favicon-32x32.png": "image/png",
    }
    assert sorted(url.rsplit("/", 1)[1] for url in references.urls) == sorted(expected_types)
    for url in references.urls:
        name = url.rsplit("/", 1)[1]
        assert url == f"/docs/assets/{manifest['version']}/{name}"
        asset = http.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] == expected_types[name]
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert hashlib.sha256(asset.content).hexdigest() == manifest["files"][name]


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/{version}/manifest.json",  # in the directory, not an asset
        "/docs/assets/{version}/LICENSE",
        "/docs/assets/{version}/..%2F..%2Fdocs.py",
        "/docs/assets/{version}/%2E%2E/docs.py",
        "/docs/assets/0.0.1/swagger-ui-bundle.js",  # another release
    ],
)
def test_nothing_else_is_served_from_the_asset_path(http: httpx.Client, path: str) -> None:
    response = http.get(path.format(version=swagger_ui().version))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_redoc_is_not_served(http: httpx.Client) -> None:
    assert http.get("/redoc").status_code == 404
