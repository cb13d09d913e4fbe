"""Static assets of the web pages: fingerprinted, immutable, precompressed (PERF-06/07).

Every file under ``static/`` with a served suffix gets a URL that names its content,
``/static/<dir>/<stem>.<sha256 prefix><suffix>`` (templates ask :meth:`Assets.url` for
it), so browsers keep it for a year (``immutable``) and a changed file has a new URL. The
vendored libraries' licences and manifests are not served.

Each asset is compressed once per process, with gzip and brotli at their highest levels,
the first time it is asked for; the response is the smallest encoding the browser
accepts (``Vary: Accept-Encoding``). A URL is looked up in a table built from the files at
start-up: nothing in a URL reaches the file system.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import brotli
from fastapi import APIRouter, Request, Response

from echo_ai.errors import NotFound

STATIC_DIR = Path(__file__).with_name("static")
STATIC_URL = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
COMPRESSED = frozenset({".css", ".js", ".svg"})
"""Suffixes worth compressing (PNG and ICO are compressed already)."""
_FINGERPRINT = 12


@dataclass(frozen=True)
class Asset:
    path: Path
    url: str
    media_type: str
    digest: str

    @cached_property
    def identity(self) -> bytes:
        return self.path.read_bytes()

    @cached_property
    def gzip(self) -> bytes:
        return gzip.compress(self.identity, compresslevel=9, mtime=0)

    @cached_property
    def brotli(self) -> bytes:
        data: bytes = brotli.compress(self.identity, quality=11)
        return data

    def encoded(self, accept_encoding: str) -> tuple[bytes, str | None]:
        """The body to send and its ``Content-Encoding`` (None: as stored)."""
        if Path(self.url).suffix not in COMPRESSED:
            return self.identity, None
        accepted = _accepted_encodings(accept_encoding)
        if "br" in accepted:
            return self.brotli, "br"
        if "gzip" in accepted:
            return self.gzip, "gzip"
        return self.identity, None


def _accepted_encodings(header: str) -> set[str]:
    """The codings an ``Accept-Encoding`` header accepts (``q=0`` refuses one)."""
    accepted = set()
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        quality = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
        try:
            if float(quality) > 0:
                accepted.add(coding.strip().lower())
        except ValueError:
            continue
    return accepted


class Assets:
    """The served files of a static directory, by relative path and by URL."""

    def __init__(self, directory: Path) -> None:
        self._by_name: dict[str, Asset] = {}
        self._by_url: dict[str, Asset] = {}
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or path.suffix not in MEDIA_TYPES:
                continue
            name = path.relative_to(directory).as_posix()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            stem = name.removesuffix(path.suffix)
            url = f"{STATIC_URL}/{stem}.{digest[:_FINGERPRINT]}{path.suffix}"
            asset = Asset(path=path, url=url, media_type=MEDIA_TYPES[path.suffix], digest=digest)
            self._by_name[name] = asset
            self._by_url[url] = asset

    def url(self, name: str) -> str:
        """The fingerprinted URL of ``static/<name>`` (KeyError for a file not served)."""
        return self._by_name[name].url

    def by_url(self, url: str) -> Asset | None:
        return self._by_url.get(url)

    def names(self) -> list[str]:
        return list(self._by_name)


@cache
def assets() -> Assets:
    """The package's assets (read once per process)."""
    return Assets(STATIC_DIR)


def assets_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.api_route(STATIC_URL + "/{path:path}", methods=["GET", "HEAD"])
    async def static_asset(path: str, request: Request) -> Response:
        asset = assets().by_url(f"{STATIC_URL}/{path}")
        if asset is None:
            raise NotFound("no such asset")
        body, encoding = asset.encoded(request.headers.get("accept-encoding", ""))
        etag = f'"{asset.digest[:32]}{"." + encoding if encoding else ""}"'
        headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
        if Path(asset.url).suffix in COMPRESSED:
            headers["Vary"] = "Accept-Encoding"
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=asset.media_type, headers=headers)

    return router
