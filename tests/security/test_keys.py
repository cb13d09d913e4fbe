from __future__ import annotations

import stat
from pathlib import Path

import pytest

from echo_ai.config import Settings
from echo_ai.security.keys import SECRET_FILE_NAME, KeyRing, load_key_ring

STRONG = "Zq3xV9pL2mN7wR5tY8uI1oP4aS6dF0gH"
OLDER = "Kp5Xr8Tb3Hm6Jd1Gs9Lq2Vz7Wc4Ne0Ry"


@pytest.fixture(autouse=True)
def _no_configured_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ECHO_AI_SECRET_KEY", "ECHO_AI_SECRET_KEY_FILE", "ECHO_AI_PREVIOUS_SECRET_KEYS"):
        monkeypatch.delenv(name, raising=False)


def test_development_generates_a_key_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_key_ring(settings)
    assert load_key_ring(settings) == first
    mode = (tmp_path / SECRET_FILE_NAME).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_production_requires_a_configured_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ECHO_AI_SECRET_KEY"):
        load_key_ring(Settings(data_dir=tmp_path, environment="production"))


def test_weak_keys_are_refused_in_every_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_AI_SECRET_KEY", "changeme")
    with pytest.raises(ValueError, match="too short"):
        load_key_ring(Settings(data_dir=tmp_path))
    monkeypatch.setenv("ECHO_AI_SECRET_KEY", STRONG)
    monkeypatch.setenv("ECHO_AI_PREVIOUS_SECRET_KEYS", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    with pytest.raises(ValueError, match="too little entropy"):
        load_key_ring(Settings(data_dir=tmp_path, environment="production"))


def test_previous_keys_verify_but_only_the_current_one_signs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_AI_SECRET_KEY", STRONG)
    monkeypatch.setenv("ECHO_AI_PREVIOUS_SECRET_KEYS", f" {OLDER} ,")
    ring = load_key_ring(Settings(data_dir=tmp_path, environment="production"))
    assert ring == KeyRing(current=STRONG, previous=(OLDER,))
    keys = ring.signing_keys()
    assert len(keys) == 2 and keys[0].kid != keys[1].kid
    assert ring.peppers()[0] != ring.peppers()[1] != ring.csrf_secret
    assert KeyRing(current=OLDER).signing_keys()[0].kid == keys[1].kid
