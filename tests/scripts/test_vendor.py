"""``scripts/vendor.py`` and what it vendored: every browser library we serve or test with
is the release its manifest records, with its licences beside it."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import re
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "vendor.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendor", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


SCRIPT_MODULE = load_script()


def npm_tarball(files: dict[str, bytes]) -> bytes:
    """A tarball laid out as npm packs one (everything under ``package/``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("name", sorted(SCRIPT_MODULE.PACKAGES))
def test_the_vendored_files_are_the_ones_the_manifest_records(name: str) -> None:
    package = SCRIPT_MODULE.PACKAGES[name]
    manifest = json.loads((package.target / "manifest.json").read_text())
    assert manifest["package"] == package.npm
    assert re.fullmatch(rf"{package.major}\.\d+\.\d+", manifest["version"])
    assert manifest["tarball"].startswith(f"https://registry.npmjs.org/{package.npm}/-/")
    on_disk = {path.name for path in package.target.iterdir()} - {"manifest.json"}
    assert on_disk == set(manifest["files"]) == {*package.served, *package.licences}
    assert manifest["served"] == list(package.served)
    for file, sha256 in manifest["files"].items():
        assert hashlib.sha256((package.target / file).read_bytes()).hexdigest() == sha256, file


def test_the_script_copies_the_release_and_writes_its_manifest(tmp_path: Path) -> None:
    package = SCRIPT_MODULE.PACKAGES["htmx"]
    files = {"dist/htmx.min.js": b"the library", "LICENSE": b"the licence"}
    tarball = npm_tarball({**files, "dist/htmx.js": b"unused", "README.md": b"unused"})
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    metadata: dict[str, Any] = {
        "version": "2.9.7",
        "license": "0BSD",
        "dist": {"tarball": "https://registry.npmjs.org/x.tgz", "integrity": integrity},
    }
    into = tmp_path / "htmx"
    into.mkdir()
    (into / "htmx.old.js").write_text("from an older release")

    SCRIPT_MODULE.check_integrity(tarball, integrity)
    manifest = SCRIPT_MODULE.unpack(tarball, metadata, package, into)

    assert json.loads((into / "manifest.json").read_text()) == manifest
    assert manifest["version"] == "2.9.7" and manifest["integrity"] == integrity
    assert manifest["served"] == ["htmx.min.js"]
    assert {path.name for path in into.iterdir()} == {"htmx.min.js", "LICENSE", "manifest.json"}
    assert (into / "htmx.min.js").read_bytes() == b"the library"
    assert manifest["files"]["LICENSE"] == hashlib.sha256(b"the licence").hexdigest()


def test_the_script_refuses_a_tarball_that_is_not_the_published_one() -> None:
    tarball = npm_tarball({"LICENSE": b"x"})
    published = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    with pytest.raises(SystemExit, match="integrity"):
        SCRIPT_MODULE.check_integrity(tarball + b"\0", published)
    with pytest.raises(SystemExit, match="sha512"):
        SCRIPT_MODULE.check_integrity(tarball, "sha1-" + hashlib.sha1(tarball).hexdigest())


def test_latest_means_the_newest_final_release_of_the_pinned_major() -> None:
    versions = ["2.0.9", "2.0.11", "2.0.10", "4.0.1", "2.1.0-beta.1", "1.9.12"]
    assert SCRIPT_MODULE.newest_of_major(versions, 2) == "2.0.11"
    with pytest.raises(SystemExit, match="major version 3"):
        SCRIPT_MODULE.newest_of_major(versions, 3)
