"""An operator's price file (``ECHO_AI_PRICES_FILE``) over the shipped table, and how a file
that cannot be used stops start-up with where it is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echo_ai.cli import app
from echo_ai.config import Settings, get_settings
from echo_ai.execution.runtime import open_runtime
from echo_ai.providers.base import Completion
from echo_ai.providers.pricing import (
    PriceFileError,
    price_for,
    total_cost,
    use_price_file,
)


@pytest.fixture(autouse=True)
def _shipped_table_after() -> Iterator[None]:
    yield
    use_price_file(None)


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _answer(**fields: object) -> Completion:
    base: dict[str, object] = {
        "text": "Acme.",
        "model_version": None,
        "input_tokens": 1_000_000,
        "output_tokens": 0,
        "latency_ms": 1.0,
    }
    return Completion(**{**base, **fields})  # type: ignore[arg-type]


def test_a_file_replaces_fields_of_a_family_and_adds_families(tmp_path: Path) -> None:
    use_price_file(
        _file(
            tmp_path,
            """
            # Our contract with Perplexity: a cheaper request fee at low context.
            [perplexity.sonar]
            request_per_thousand = { low = "4.00", medium = "7.00", high = "11.00" }
            read = "2026-11-20 (contract)"

            [openai."gpt-6"]
            input_per_million = 3
            output_per_million = "12.5"
            search_per_thousand = "10"
            read = "2026-11-25"
            """,
        )
    )
    sonar = price_for("perplexity", "sonar")
    assert sonar is not None
    assert sonar.input_per_million == Decimal("1.00")  # kept from the shipped table
    assert sonar.read == "2026-11-20 (contract)"
    assert total_cost("perplexity", "sonar", [_answer(input_tokens=0)]).fee_usd == Decimal("0.004")

    added = total_cost("openai", "gpt-6-2026-11-01", [_answer(searched=True)])
    assert added.total_usd == Decimal("3.01")  # a million input tokens and one search
    assert added.fee_usd == Decimal("0.01")

    # Back to the shipped table: the file's entries are gone.
    use_price_file(None)
    assert price_for("openai", "gpt-6") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[openai.gpt-6\ninput_per_million = 1", "not valid TOML"),
        ('[openai."gpt-4o"]\ninput_per_million = -1', "openai.gpt-4o.input_per_million"),
        ('[openai."gpt-4o"]\ninput_per_million = "cheap"', "'cheap' is not a number"),
        ('[openai."gpt-4o"]\ninput_per_mllion = 1', "unknown field 'input_per_mllion'"),
        ("[mistral.large]\ninput_per_million = 1", "mistral: not a vendor"),
        (
            '[openai."gpt-6"]\ninput_per_million = 1\nread = "2026-11-26"',
            "openai.gpt-6: a family not in the shipped table needs output_per_million",
        ),
        (
            "[perplexity.sonar]\nrequest_per_thousand = { huge = 20 }",
            "'huge' is not a search context size",
        ),
        ('[perplexity.sonar]\ndefault_context = "max"', "sonar.default_context"),
    ],
)
def test_a_file_that_cannot_be_used_is_refused_with_where_it_is_wrong(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(PriceFileError) as error:
        use_price_file(path)
    assert str(error.value).startswith(f"price file {path}: ")
    assert message in str(error.value)
    # The table in use is still the shipped one.
    gpt4o = price_for("openai", "gpt-4o")
    assert gpt4o is not None and gpt4o.input_per_million == Decimal("2.50")


def test_a_toml_error_names_its_line(tmp_path: Path) -> None:
    path = _file(tmp_path, '[openai."gpt-4o"]\ninput_per_million = 2.5\n\noutput = = 3\n')
    with pytest.raises(PriceFileError, match=r"line 4"):
        use_price_file(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError, match="cannot be read"):
        use_price_file(tmp_path / "nowhere.toml")


def test_the_setting_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_AI_PRICES_FILE", str(tmp_path / "ours.toml"))
    assert Settings().prices_file == tmp_path / "ours.toml"


async def test_start_up_installs_the_file_and_stops_on_a_bad_one(tmp_path: Path) -> None:
    good = _file(tmp_path, '[anthropic."claude-sonnet-4"]\nsearch_per_thousand = "12"\n')
    settings = Settings(data_dir=tmp_path, database_url="sqlite:///:memory:", prices_file=good)
    async with open_runtime(settings, executor="local"):
        claude = price_for("anthropic", "claude-sonnet-4-5")
        assert claude is not None and claude.search_per_thousand == Decimal("12")

    bad = tmp_path / "bad.toml"
    bad.write_text('[anthropic."claude-sonnet-4"]\nsearch_per_thousand = []\n', encoding="utf-8")
    with pytest.raises(PriceFileError, match=r"anthropic\.claude-sonnet-4\.search_per_thousand"):
        async with open_runtime(settings.model_copy(update={"prices_file": bad})):
            pass


@pytest.mark.usefixtures("cli_env")
def test_a_command_stops_with_one_line_naming_the_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _file(tmp_path, '[gemini."gemini-2.5-flash"]\ngrounded_answer_per_thousand = "n/a"\n')
    monkeypatch.setenv("ECHO_AI_PRICES_FILE", str(bad))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["experiments", "list"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: price file {bad}: ")
    assert "gemini.gemini-2.5-flash.grounded_answer_per_thousand: 'n/a' is not a number" in (
        result.stderr
    )
    assert result.stderr.count("\n") == 1
