"""The API docs page, ``/docs``: Swagger UI served from the package, never from a CDN.

The Swagger UI release is vendored in ``swagger_ui/`` beside this module, with its licences
and a ``manifest.json`` (the release and each file's SHA-256) that
``scripts/vendor.py`` writes when it refreshes them from the npm registry.

- The assets live under a URL that names the release, ``/docs/assets/<version>/<name>``,
  so browsers may keep them for a year (``immutable``): a new release has new URLs.
- The page is FastAPI's Swagger UI page pointed at those URLs. Its CSP is the strict one
  of every response plus what Swagger UI needs: FastAPI's one inline start-up script,
  allowed by its hash (not ``'unsafe-inline'``); inline styles, which Swagger UI's
  components set; ``data:`` images (its icons are inline SVG in the CSS). No other origin
  is allowed, so an injected script from elsewhere does not run and ``/docs`` works
  offline. ReDoc is not served.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from echo_ai.errors import NotFound

DOCS_URL = "/docs"
OPENAPI_URL = "/openapi.json"
ASSETS_URL = "/docs/assets"
ASSET_DIR = Path(__file__).with_name("swagger_ui")
MANIFEST = ASSET_DIR / "manifest.json"

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class SwaggerUI:
    """The vendored release: its version and the files the page may load."""

    version: str
    served: frozenset[str]

    def url(self, name: str) -> str:
        return f"{ASSETS_URL}/{self.version}/{name}"


@cache
def swagger_ui() -> SwaggerUI:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return SwaggerUI(version=manifest["version"], served=frozenset(manifest["served"]))


def _script_hashes(html: str) -> str:
    """CSP sources for the page's inline scripts, each by its SHA-256."""
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    )


@cache
def docs_page(title: str) -> tuple[str, str]:
    """The page's HTML and its CSP (the same for every request: built once)."""
    assets = swagger_ui()
    page = get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=title,
        swagger_js_url=assets.url("swagger-ui-bundle.js"),
        swagger_css_url=assets.url("swagger-ui.css"),
        swagger_favicon_url=assets.url("favicon-32x32.png"),
        # No badge fetched from validator.swagger.io (the CSP would refuse it anyway).
        swagger_ui_parameters={"validatorUrl": None},
    )
    html = bytes(page.body).decode("utf-8")
    csp = "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {_script_hashes(html)}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )
    return html, csp


def docs_router(title: str) -> APIRouter:
    """``/docs`` and its assets (not in the OpenAPI schema)."""
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS_URL)
    async def docs() -> HTMLResponse:
        html, csp = docs_page(title)
        return HTMLResponse(html, headers={"Content-Security-Policy": csp})

    @router.get(ASSETS_URL + "/{version}/{name}")
    async def docs_asset(version: str, name: str) -> FileResponse:
        assets = swagger_ui()
        # Only the listed names: a path from the URL never reaches the file system.
        if version != assets.version or name not in assets.served:
            raise NotFound("no such docs asset")
        return FileResponse(
            ASSET_DIR / name,
            media_type=MEDIA_TYPES[Path(name).suffix],
            headers={"Cache-Control": IMMUTABLE},
        )

    return router
