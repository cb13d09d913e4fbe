#!/usr/bin/env python3
"""Vendor Swagger UI (npm's ``swagger-ui-dist``) into the package, so ``/docs`` needs no CDN.

    uv run python scripts/update-swagger-ui.py            # the latest release
    uv run python scripts/update-swagger-ui.py 5.35.0     # a given release

It reads the release's metadata from the npm registry, downloads its tarball, checks the
tarball against the registry's SHA-512 integrity digest, and copies the files the docs
page serves, with the licences that cover them, into ``src/echo_ai/api/swagger_ui/``
(files of an earlier release that are no longer needed are removed). It then writes
``manifest.json`` there: the release, where it came from and the SHA-256 of every file.
The app takes the version for its asset URLs from the manifest, and
``tests/api/test_docs.py`` checks the files against it.

Afterwards: read the release notes, run ``uv run pytest tests/api/test_docs.py``, open
``/docs`` of ``echo-ai serve`` in a browser (the console must show no CSP error), commit.
Standard library only, so it runs before ``uv sync``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

PACKAGE = "swagger-ui-dist"
REGISTRY = "https://registry.npmjs.org"
TARGET = Path(__file__).resolve().parent.parent / "src" / "echo_ai" / "api" / "swagger_ui"
MANIFEST = "manifest.json"

SERVED = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
"""What the docs page loads (FastAPI's page needs the bundle, the CSS and a favicon)."""
LICENCES = ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")
"""Swagger UI's Apache-2.0 licence and notice, and the licences of what its bundle contains:
they travel with the files."""

_VERSION = re.compile(r"\d+\.\d+\.\d+")


def _get(url: str) -> bytes:
    if not url.startswith(REGISTRY + "/"):
        raise SystemExit(f"refusing to download from {url}: not the npm registry")
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - https, checked above
        data: bytes = response.read()
    return data


def release(version: str) -> dict[str, Any]:
    """The registry's metadata of one release (``latest`` for the newest)."""
    if version != "latest" and not _VERSION.fullmatch(version):
        raise SystemExit(f"not a release version: {version!r} (e.g. 5.35.0, or latest)")
    metadata: dict[str, Any] = json.loads(_get(f"{REGISTRY}/{PACKAGE}/{version}"))
    return metadata


def check_integrity(tarball: bytes, integrity: str) -> None:
    """Refuse a tarball whose SHA-512 is not the one the registry published."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"unexpected integrity algorithm {algorithm!r} (want sha512)")
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode("ascii")
    if actual != expected:
        raise SystemExit("the downloaded tarball does not match the registry's integrity digest")


def unpack(tarball: bytes, metadata: dict[str, Any], into: Path) -> dict[str, Any]:
    """Copy the served files and licences out of ``tarball`` into ``into`` (read from the
    archive by name, nothing else is extracted) and write the manifest; return it."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in (*SERVED, *LICENCES):
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise SystemExit(f"{PACKAGE} {metadata['version']} has no {name}")
            files[name] = member.read()
    into.mkdir(parents=True, exist_ok=True)
    for stale in into.iterdir():
        if stale.is_file() and stale.name not in files and stale.name != MANIFEST:
            stale.unlink()
    for name, data in files.items():
        (into / name).write_bytes(data)
    manifest = {
        "package": PACKAGE,
        "version": metadata["version"],
        "license": metadata.get("license"),
        "tarball": metadata["dist"]["tarball"],
        "integrity": metadata["dist"]["integrity"],
        "served": list(SERVED),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    (into / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Vendor swagger-ui-dist into the package.")
    parser.add_argument("version", nargs="?", default="latest", help="e.g. 5.35.0 (latest)")
    parser.add_argument("--into", type=Path, default=TARGET, help="target directory")
    args = parser.parse_args(argv)
    metadata = release(args.version)
    tarball = _get(metadata["dist"]["tarball"])
    check_integrity(tarball, metadata["dist"]["integrity"])
    manifest = unpack(tarball, metadata, args.into)
    print(f"{PACKAGE} {manifest['version']} vendored into {args.into}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
