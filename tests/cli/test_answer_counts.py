"""`echo-ai experiments show`: the counts line puts answers that are not samples beside
the failed calls."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

from echo_ai.analysis.metrics import IterationFacts, compute_metrics
from echo_ai.cli.render import metrics_table


def _fact(answer_class: str = "complete", *, success: bool = True) -> IterationFacts:
    return IterationFacts(
        success=success,
        answer_class=answer_class,
        brands=("HubSpot",) if answer_class in ("complete", "truncated") else (),
        target_cited=False,
        cost_usd=Decimal("0.001"),
        latency_ms=50.0,
    )


def _rendered(facts: list[IterationFacts]) -> str:
    metrics = compute_metrics(facts, target="HubSpot", brands=["HubSpot", "Salesforce"])
    console = Console(record=True, width=160)
    console.print(metrics_table("openai:gpt-4o-mini", metrics))
    return console.export_text()


def test_the_counts_line_shows_each_kind_that_is_not_a_sample() -> None:
    facts = [
        *(_fact() for _ in range(3)),
        _fact("truncated"),
        _fact("truncated"),
        _fact("refused"),
        _fact(success=False),
    ]
    out = _rendered(facts)
    (line,) = [row for row in out.splitlines() if "complete answers" in row]
    assert line.split("│")[2].strip() == "3"
    assert line.split("│")[4].strip() == "1 failed, 2 truncated, 1 refused"
    # Visibility counts the complete answers only: 3 of 3, not 5 of 6.
    (visibility,) = [row for row in out.splitlines() if "visibility rate" in row]
    assert "3/3" in visibility


def test_kinds_that_did_not_happen_are_left_out() -> None:
    out = _rendered([_fact(), _fact()])
    (line,) = [row for row in out.splitlines() if "complete answers" in row]
    assert line.split("│")[4].strip() == "0 failed"
    assert "truncated" not in out and "refused" not in out and "empty" not in out
