"""Provider specs and building adapters from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from echo_ai.config import Settings
from echo_ai.providers.base import CompletionRequest, Provider, ProviderNotConfigured
from echo_ai.providers.registry import (
    MAX_MODEL_LENGTH,
    MAX_SPEC_LENGTH,
    VENDORS,
    ProviderSpec,
    build_provider,
    credentials,
)
from echo_ai.testing.fake_llm import FakeLLMServer


@pytest.mark.parametrize(
    ("text", "vendor", "model"),
    [
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("demo", "demo", "demo-synthetic-1"),
        ("anthropic", "anthropic", VENDORS["anthropic"].default_model),
        (" Perplexity : sonar-pro ", "perplexity", "sonar-pro"),
        ("openai_compatible:llama3.1:8b", "openai_compatible", "llama3.1:8b"),
        ("openai_compatible:meta/llama-3-70b", "openai_compatible", "meta/llama-3-70b"),
    ],
)
def test_parse(text: str, vendor: str, model: str) -> None:
    spec = ProviderSpec.parse(text)
    assert (spec.vendor, spec.model) == (vendor, model)
    assert ProviderSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chatgpt:gpt-4o", "unknown provider 'chatgpt'"),
        ("", "unknown provider ''"),
        ("openai:", "empty model"),
        ("openai_compatible", "needs a model"),
    ],
)
def test_parse_errors_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        ProviderSpec.parse(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-mini-search-preview",
        "gpt-4o-2024-08-06",
        "claude-3-5-sonnet-latest",
        "claude-3-5-sonnet@20240620",
        "gemini-2.0-flash",
        "models/gemini-1.5-pro",
        "sonar-pro",
        "accounts/fireworks/models/llama-v3p1-70b-instruct",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "@cf/meta/llama-3.1-8b-instruct",
        "anthropic/claude-3.5-sonnet:beta",
        "mistral-7b-instruct-v0.2.Q4_K_M.gguf",
        "m" * MAX_MODEL_LENGTH,
    ],
)
def test_real_model_names_are_accepted(model: str) -> None:
    for vendor in ("openai", "openai_compatible"):
        assert ProviderSpec.parse(f"{vendor}:{model}").model == model


@pytest.mark.parametrize(
    "model",
    [
        "../../etc/passwd",
        "demo-../x",
        "a..b",
        "/etc/passwd",
        "models/",
        "models//x",
        "models/./x",
        ".hidden",
        "-rf",
        "gpt 4o",
        "gpt-4o\x00",
        "gpt\x00-4o",
        "gpt\n4o",
        "gpt\t4o",
        "gpt-4o?x=1",
        "gpt#4o",
        "gpt%2F..",
        "gpt-4o\u202e",
        "gpt-4\u043e",  # a Cyrillic o
    ],
)
def test_model_names_outside_the_vendors_character_set_are_refused(model: str) -> None:
    with pytest.raises(ValueError, match="model name") as caught:
        ProviderSpec.parse(f"openai_compatible:{model}")
    assert "\n" not in str(caught.value)


def test_model_names_are_bounded() -> None:
    with pytest.raises(ValueError, match=f"longer than {MAX_MODEL_LENGTH} characters"):
        ProviderSpec.parse("openai:" + "m" * (MAX_MODEL_LENGTH + 1))


def test_a_provider_longer_than_any_is_refused_before_it_is_read() -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_SPEC_LENGTH} characters"):
        ProviderSpec.parse("openai:" + "m" * 200_000)


def test_every_vendor_but_compatible_has_a_default_model() -> None:
    for vendor, info in VENDORS.items():
        if vendor != "openai_compatible":
            assert ProviderSpec.parse(vendor).model == info.default_model


async def test_demo_needs_no_key() -> None:
    provider = build_provider(
        ProviderSpec.parse("demo"),
        api_key=None,
        base_url=None,
        timeout_seconds=5,
        demo_brands=[("Solo", 1.0)],
        demo_seed=4,
    )
    completion = await provider.complete(CompletionRequest(prompt="best?", model="demo"))
    assert provider.name == "demo"
    assert completion.synthetic
    assert "Solo" in completion.text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("openai", "OPENAI_API_KEY is not set"),
        ("anthropic", "ANTHROPIC_API_KEY is not set"),
        ("perplexity", "PERPLEXITY_API_KEY is not set"),
        ("gemini", "GEMINI_API_KEY or GOOGLE_API_KEY is not set"),
        ("openai_compatible:m", "OPENAI_COMPATIBLE_BASE_URL is not set"),
    ],
)
def test_missing_settings_are_named(spec: str, message: str) -> None:
    with pytest.raises(ProviderNotConfigured) as caught:
        build_provider(ProviderSpec.parse(spec), api_key=None, base_url=None, timeout_seconds=5)
    assert caught.value.message == f"{message} (needed for {ProviderSpec.parse(spec)})"


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "perplexity", "gemini"])
async def test_keyed_vendors_build_their_adapter(vendor: str) -> None:
    provider = build_provider(
        ProviderSpec.parse(vendor),
        api_key="key",
        base_url="http://127.0.0.1:9",
        timeout_seconds=5,
    )
    try:
        assert isinstance(provider, Provider)
        assert provider.name == vendor
    finally:
        await provider.aclose()


async def test_built_provider_talks_to_the_configured_base_url(fake_llm: FakeLLMServer) -> None:
    provider = build_provider(
        ProviderSpec.parse("openai_compatible:qwen2.5"),
        api_key=None,
        base_url=f"{fake_llm.base_url}/v1",
        timeout_seconds=5,
    )
    try:
        completion = await provider.complete(CompletionRequest(prompt="best?", model="qwen2.5"))
    finally:
        await provider.aclose()
    assert completion.model_version == "qwen2.5"
    assert fake_llm.request_count == 1


def test_keys_and_base_urls_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "g")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://proxy/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert credentials(Settings(), "gemini") == ("g", None)
    assert credentials(Settings(), "openai") == (None, "http://proxy/v1")
    assert credentials(Settings(), "demo") == (None, None)
    monkeypatch.setenv("GEMINI_API_KEY", "a")
    assert credentials(Settings(), "gemini")[0] == "a"
    key_file = tmp_path / "openai-key"
    key_file.write_text("sk-file\n", encoding="utf-8")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    settings = Settings()
    assert credentials(settings, "openai")[0] == "sk-file"
    assert "sk-file" not in repr(settings)  # never in a log line
