"""Which vendors can be used with the settings, and which variable the others lack."""

from __future__ import annotations

from pathlib import Path

from echo_ai.config import Settings
from echo_ai.providers.base import ProviderNotConfigured
from echo_ai.providers.registry import ProviderSpec, credentials, require_settings, vendor_statuses


def _statuses(tmp_path: Path, environment: dict[str, str]) -> dict[str, str | None]:
    settings = Settings(data_dir=tmp_path, vendor_environment=environment)
    return {status.vendor: status.missing for status in vendor_statuses(settings)}


def test_each_vendor_says_what_it_lacks(tmp_path: Path) -> None:
    assert _statuses(tmp_path, {}) == {
        "openai": "OPENAI_API_KEY",
        "anthropic": "ANTHROPIC_API_KEY",
        "perplexity": "PERPLEXITY_API_KEY",
        "gemini": "GEMINI_API_KEY or GOOGLE_API_KEY",
        "openai_compatible": "OPENAI_COMPATIBLE_BASE_URL",
        "demo": None,
    }
    ready = _statuses(
        tmp_path,
        {
            "OPENAI_API_KEY": "sk",
            "GOOGLE_API_KEY": "g",
            "OPENAI_COMPATIBLE_BASE_URL": "http://127.0.0.1:11434/v1",
        },
    )
    assert ready["openai"] is None and ready["gemini"] is None
    assert ready["openai_compatible"] is None and ready["anthropic"] == "ANTHROPIC_API_KEY"


def test_the_statuses_agree_with_the_rule_runs_are_refused_by(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, vendor_environment={"PERPLEXITY_API_KEY": "p"})
    for status in vendor_statuses(settings):
        spec = ProviderSpec.parse(f"{status.vendor}:some-model")
        api_key, base_url = credentials(settings, status.vendor)
        try:
            require_settings(spec, api_key=api_key, base_url=base_url)
            refused = False
        except ProviderNotConfigured:
            refused = True
        assert refused == (not status.ready), status.vendor
        assert status.synthetic == (status.vendor == "demo")
