#!/usr/bin/env python3
"""Vendor the browser libraries we serve (or test with) from the npm registry: no CDN.

    uv run python scripts/vendor.py htmx              # newest release of the pinned major
    uv run python scripts/vendor.py chartjs 4.6.1     # a given release
    uv run python scripts/vendor.py --all             # every package, newest of its major

=============  ===============  =========================================  ==============
name           npm package      copied into                                used by
=============  ===============  =========================================  ==============
swagger-ui     swagger-ui-dist  ``src/echo_ai/api/swagger_ui/``            ``/docs``
htmx           htmx.org         ``src/echo_ai/web/static/vendor/htmx/``    every page
chartjs        chart.js         ``src/echo_ai/web/static/vendor/chartjs/`` charts
axe            axe-core         ``tests/web/vendor/axe/``                  browser tests
=============  ===============  =========================================  ==============

For each it reads the release's metadata from the registry, downloads its tarball, checks
it against the registry's SHA-512 integrity digest, and copies the files we use, with the
licences that cover them, into the target (files of an earlier release that are no longer
needed are removed). It then writes ``manifest.json`` there: the release, where it came
from and the SHA-256 of every file. The code takes versions from the manifests, and the
tests check the files against them.

Afterwards: read the release notes, run the tests (``./dev test``; the browser tests load
every page), commit. Standard library only, so it runs before ``uv sync``.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGISTRY = "https://registry.npmjs.org"
ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Package:
    npm: str
    major: int
    """``latest`` means the newest release of this major version: a new major is a
    decision (htmx 4 changed its attributes), not a refresh."""
    target: Path
    served: dict[str, str]
    """Name in the target directory -> path inside the tarball: what is loaded."""
    licences: dict[str, str]
    """The same for the licence files, which travel with the code they cover."""


PACKAGES = {
    "swagger-ui": Package(
        npm="swagger-ui-dist",
        major=5,
        target=ROOT / "src/echo_ai/api/swagger_ui",
        served={
            name: name for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
        },
        licences={name: name for name in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")},
    ),
    "htmx": Package(
        npm="htmx.org",
        major=2,
        target=ROOT / "src/echo_ai/web/static/vendor/htmx",
        served={"htmx.min.js": "dist/htmx.min.js"},
        licences={"LICENSE": "LICENSE"},
    ),
    "chartjs": Package(
        npm="chart.js",
        major=4,
        target=ROOT / "src/echo_ai/web/static/vendor/chartjs",
        served={"chart.umd.min.js": "dist/chart.umd.min.js"},
        licences={"LICENSE.md": "LICENSE.md"},
    ),
    "axe": Package(
        npm="axe-core",
        major=4,
        target=ROOT / "tests/web/vendor/axe",
        served={"axe.min.js": "axe.min.js"},
        licences={"LICENSE": "LICENSE", "LICENSE-3RD-PARTY.txt": "LICENSE-3RD-PARTY.txt"},
    ),
}

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def _get(url: str) -> bytes:
    if not url.startswith(REGISTRY + "/"):
        raise SystemExit(f"refusing to download from {url}: not the npm registry")
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - https, checked above
        data: bytes = response.read()
    return data


def newest_of_major(versions: list[str], major: int) -> str:
    """The newest final release (no pre-release suffix) of ``major``."""
    finals = [
        tuple(int(part) for part in match.groups())
        for version in versions
        if (match := _VERSION.fullmatch(version)) and int(match.group(1)) == major
    ]
    if not finals:
        raise SystemExit(f"no release of major version {major}")
    return ".".join(str(part) for part in max(finals))


def release(package: Package, version: str) -> dict[str, Any]:
    """The registry's metadata of one release (``latest``: the newest of its major)."""
    if version == "latest":
        document = json.loads(_get(f"{REGISTRY}/{package.npm}"))
        version = newest_of_major(list(document["versions"]), package.major)
    elif not _VERSION.fullmatch(version):
        raise SystemExit(f"not a release version: {version!r} (e.g. 2.0.11, or latest)")
    metadata: dict[str, Any] = json.loads(_get(f"{REGISTRY}/{package.npm}/{version}"))
    return metadata


def check_integrity(tarball: bytes, integrity: str) -> None:
    """Refuse a tarball whose SHA-512 is not the one the registry published."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"unexpected integrity algorithm {algorithm!r} (want sha512)")
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode("ascii")
    if actual != expected:
        raise SystemExit("the downloaded tarball does not match the registry's integrity digest")


def unpack(
    tarball: bytes, metadata: dict[str, Any], package: Package, into: Path
) -> dict[str, Any]:
    """Copy the served files and licences out of ``tarball`` into ``into`` (read from the
    archive by name, nothing else is extracted) and write the manifest; return it."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name, path in {**package.served, **package.licences}.items():
            member = archive.extractfile(f"package/{path}")
            if member is None:
                raise SystemExit(f"{package.npm} {metadata['version']} has no {path}")
            files[name] = member.read()
    into.mkdir(parents=True, exist_ok=True)
    for stale in into.iterdir():
        if stale.is_file() and stale.name not in files and stale.name != MANIFEST:
            stale.unlink()
    for name, data in files.items():
        (into / name).write_bytes(data)
    manifest = {
        "package": package.npm,
        "version": metadata["version"],
        "license": metadata.get("license"),
        "tarball": metadata["dist"]["tarball"],
        "integrity": metadata["dist"]["integrity"],
        "served": list(package.served),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    (into / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def vendor(name: str, version: str) -> None:
    package = PACKAGES[name]
    metadata = release(package, version)
    tarball = _get(metadata["dist"]["tarball"])
    check_integrity(tarball, metadata["dist"]["integrity"])
    manifest = unpack(tarball, metadata, package, package.target)
    target = package.target.relative_to(ROOT)
    print(f"{package.npm} {manifest['version']} vendored into {target}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Vendor browser libraries from npm.")
    parser.add_argument("name", nargs="?", choices=sorted(PACKAGES), help="which package")
    parser.add_argument("version", nargs="?", default="latest", help="e.g. 2.0.11 (latest)")
    parser.add_argument("--all", action="store_true", help="every package, newest of its major")
    args = parser.parse_args(argv)
    if args.all == (args.name is not None):
        parser.error("name one package, or --all")
    for name in sorted(PACKAGES) if args.all else [args.name]:
        vendor(name, "latest" if args.all else args.version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
