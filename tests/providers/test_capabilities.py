"""The model-capabilities table: which family a model falls in, what it takes, the limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from echo_ai.config import Settings
from echo_ai.providers.capabilities import (
    CAPABILITIES,
    CHAT_OUTPUT_TOKENS,
    CHAT_RETRY_OUTPUT_TOKENS,
    ModelCapabilities,
    capabilities_for,
)


@pytest.mark.parametrize(
    ("vendor", "model", "family"),
    [
        # Dated snapshots and variants find their family.
        ("openai", "gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("openai", "gpt-5-2025-08-07", "gpt-5"),
        ("openai", "o3-mini-2025-01-31", "o3-mini"),
        ("openai", "o4-mini", "o4-mini"),
        ("openai", "gpt-4o-search-preview-2025-03-11", "gpt-4o-search-preview"),
        ("openai", "gpt-4o-mini-search-preview", "gpt-4o-mini-search-preview"),
        ("openai", "GPT-5", "gpt-5"),
        # A family is a prefix only up to a separator: o30 is not o3, gpt-4o-mini not gpt-4o.
        ("openai", "o30", ""),
        ("openai", "gpt-4o-mini-2024-07-18", ""),
        ("openai", "gpt-4.1", ""),
        ("anthropic", "claude-sonnet-4-6", ""),
        ("anthropic", "claude-3-haiku-20240307", "claude-3-haiku"),
        ("perplexity", "sonar-reasoning-pro", "sonar-reasoning-pro"),
        ("perplexity", "sonar-pro", ""),
        ("gemini", "models/gemini-2.5-flash-001", "gemini-2.5-flash"),
        ("gemini", "gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
    ],
)
def test_models_find_their_family(vendor: str, model: str, family: str) -> None:
    found = capabilities_for(vendor, model)
    assert (found.vendor, found.family) == (vendor, family)


def test_reasoning_models_take_no_temperature_and_get_room_to_reason() -> None:
    gpt5 = capabilities_for("openai", "gpt-5-mini-2025-08-07")
    assert gpt5.reasoning
    assert gpt5.temperature_sent(0.2) is None
    assert gpt5.temperature_used(0.2) == 1.0  # reasoning models sample at the default only
    # The real answer used 3,773 output tokens; the limit leaves room for it.
    assert gpt5.output_tokens == 16_384
    assert gpt5.retry_output_tokens == 32_768
    assert gpt5.search_endpoint == "responses"


def test_chat_models_take_temperature_up_to_the_vendors_maximum() -> None:
    chat = capabilities_for("openai", "gpt-4o-mini")
    assert not chat.reasoning
    assert chat.temperature_sent(0.7) == 0.7
    assert chat.temperature_sent(2.5) == 2.0
    assert chat.temperature_sent(-1.0) == 0.0
    assert chat.temperature_used(2.5) == 2.0
    assert (chat.output_tokens, chat.retry_output_tokens) == (
        CHAT_OUTPUT_TOKENS,
        CHAT_RETRY_OUTPUT_TOKENS,
    )


def test_search_preview_models_search_through_chat_and_take_no_temperature() -> None:
    for model in ("gpt-4o-search-preview", "gpt-4o-mini-search-preview-2025-03-11"):
        found = capabilities_for("openai", model)
        assert found.search_endpoint == "chat"
        assert found.temperature_sent(1.0) is None
        assert found.temperature_used(1.0) is None, "OpenAI documents no default for them"


def test_claude_takes_no_temperature_and_samples_at_one() -> None:
    claude = capabilities_for("anthropic", "claude-sonnet-4-6")
    assert claude.temperature_sent(1.5) is None
    assert claude.temperature_used(0.2) == 1.0
    assert claude.max_temperature == 1.0


def test_a_small_output_model_is_never_retried_above_what_it_can_write() -> None:
    assert capabilities_for("anthropic", "claude-3-haiku-20240307").retry_output_tokens == 4_096


def test_unknown_vendor_gets_defaults() -> None:
    found = capabilities_for("mistral", "mistral-large")
    assert found == ModelCapabilities("mistral", "")


def test_output_limits_overridden_by_family_then_vendor() -> None:
    overrides = {"openai:gpt-5": 40_000, "openai": 4_000, "anthropic:claude-3-haiku": 1_000}
    gpt5 = capabilities_for("openai", "gpt-5-2025-08-07", output_tokens=overrides)
    assert (gpt5.output_tokens, gpt5.retry_output_tokens) == (40_000, 40_000)
    mini = capabilities_for("openai", "gpt-5-mini", output_tokens=overrides)
    assert (mini.output_tokens, mini.retry_output_tokens) == (4_000, 32_768)
    plain = capabilities_for("openai", "gpt-4o", output_tokens=overrides)
    assert (plain.output_tokens, plain.retry_output_tokens) == (4_000, CHAT_RETRY_OUTPUT_TOKENS)
    haiku = capabilities_for("anthropic", "claude-3-haiku", output_tokens=overrides)
    assert (haiku.output_tokens, haiku.retry_output_tokens) == (1_000, 4_096)
    # Everything else about the family stays.
    assert not gpt5.temperature
    assert gpt5.search_endpoint == "responses"


def test_a_model_never_retried_stays_never_retried_when_its_limit_is_overridden() -> None:
    demo = capabilities_for("demo", "demo-1", output_tokens={"demo": 500})
    assert (demo.output_tokens, demo.retry_output_tokens) == (500, None)


def test_operator_overrides_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ECHO_AI_RUNNER__OUTPUT_TOKENS", '{"openai:o3": 64000, "gemini": 3000}')
    settings = Settings(data_dir=tmp_path)
    overrides = settings.runner.output_tokens
    assert capabilities_for("openai", "o3-2025-04-16", output_tokens=overrides).output_tokens == (
        64_000
    )
    assert capabilities_for("gemini", "gemini-2.5-pro", output_tokens=overrides).output_tokens == (
        3_000
    )
    assert capabilities_for("openai", "o4-mini", output_tokens=overrides).output_tokens == 16_384


def test_every_entry_is_keyed_by_its_own_family_and_retries_above_its_limit() -> None:
    for vendor, table in CAPABILITIES.items():
        assert "" in table, f"{vendor} has no entry for models not listed"
        for family, found in table.items():
            assert (found.vendor, found.family) == (vendor, family)
            retry = found.retry_output_tokens
            assert retry is None or retry > found.output_tokens


@given(vendor=st.sampled_from([*CAPABILITIES, "other"]), model=st.text(max_size=40))
def test_any_model_name_finds_an_entry(vendor: str, model: str) -> None:
    found = capabilities_for(vendor, model)
    assert found.vendor == vendor
    assert found.output_tokens > 0


def _documented_rows() -> dict[tuple[str, str], list[str]]:
    """The capabilities table of docs/providers.md by (vendor, family)."""
    doc = Path(__file__).parents[2] / "docs" / "providers.md"
    rows: dict[tuple[str, str], list[str]] = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 7 or cells[0] not in CAPABILITIES:
            continue
        vendor, families = cells[0], cells[1]
        named = [] if families.startswith(("any", "synthetic")) else families.split("`")[1::2]
        for family in named or [""]:
            rows[(vendor, family)] = cells
    return rows


def test_docs_table_says_what_the_code_does() -> None:
    rows = _documented_rows()
    entries = {(vendor, family) for vendor, table in CAPABILITIES.items() for family in table}
    assert set(rows) == entries
    for (vendor, family), cells in rows.items():
        found = CAPABILITIES[vendor][family]
        temperature, output, retry = cells[2], cells[3], cells[4]
        assert temperature.startswith("yes" if found.temperature else "no"), (vendor, family)
        assert int(output.replace(",", "")) == found.output_tokens, (vendor, family)
        documented_retry = None if retry == "never retried" else int(retry.replace(",", ""))
        assert documented_retry == found.retry_output_tokens, (vendor, family)
        assert cells[5].startswith("yes" if found.reasoning else "no"), (vendor, family)
