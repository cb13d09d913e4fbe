"""Cost of a batch with the part request and search fees make, per run and per answer."""

from __future__ import annotations

from decimal import Decimal

from echo_ai.analysis.metrics import BatchMetrics, IterationFacts, compute_metrics
from echo_ai.analysis.scoring import facts_from


def fact(
    cost: Decimal | None,
    fee: Decimal | None,
    *,
    success: bool = True,
    answer_class: str = "complete",
) -> IterationFacts:
    return IterationFacts(
        success=success,
        brands=("acme",),
        target_cited=False,
        cost_usd=cost,
        latency_ms=10.0,
        answer_class=answer_class,
        fee_usd=fee,
    )


def cost_of(facts: list[IterationFacts]) -> BatchMetrics:
    return compute_metrics(facts, target="acme", brands=("globex",))


def test_fees_their_share_and_per_answer() -> None:
    # Four Perplexity answers at $0.00501 each, $0.005 of it the request fee; one truncated
    # answer billed the same; one call rejected (unbilled).
    answers = [fact(Decimal("0.00501"), Decimal("0.005")) for _ in range(4)]
    truncated = fact(Decimal("0.00501"), Decimal("0.005"), answer_class="truncated")
    rejected = fact(None, None, success=False)
    cost = cost_of([*answers, truncated, rejected]).cost

    assert cost.total_usd == Decimal("0.02505")
    assert cost.fees_usd == Decimal("0.025")
    assert cost.fee_share is not None
    assert abs(cost.fee_share - 0.025 / 0.02505) < 1e-12
    # Per complete answer: the truncated answer's spend is shared by the four that count.
    assert cost.per_iteration_usd == Decimal("0.0062625000")
    assert cost.fees_per_iteration_usd == Decimal("0.0062500000")


def test_unknown_fees_of_a_billed_answer_make_the_fees_unknown_not_zero() -> None:
    cost = cost_of([fact(Decimal("0.01"), Decimal("0.005")), fact(Decimal("0.02"), None)]).cost
    assert cost.total_usd == Decimal("0.03")  # the total is still known
    assert (cost.fees_usd, cost.fee_share, cost.fees_per_iteration_usd) == (None, None, None)
    # A failed call with a known cost was billed too: its unknown fees count.
    failed = fact(Decimal("0.01"), None, success=False)
    assert cost_of([fact(Decimal("0.01"), Decimal(0)), failed]).cost.fees_usd is None


def test_free_answers_have_no_fee_share() -> None:
    cost = cost_of([fact(Decimal(0), Decimal(0))]).cost
    assert (cost.total_usd, cost.fees_usd, cost.fee_share) == (0, 0, None)


def test_metrics_stored_before_fees_still_load() -> None:
    stored = cost_of([fact(Decimal("0.01"), Decimal("0.002"))]).model_dump(mode="json")
    for name in ("fees_usd", "fees_per_iteration_usd", "fee_share"):
        del stored["cost"][name]
    loaded = BatchMetrics.model_validate(stored)
    assert loaded.cost.total_usd == Decimal("0.01")
    assert loaded.cost.fees_usd is None and loaded.cost.fee_share is None


def test_stored_fee_reaches_the_metrics() -> None:
    facts = facts_from(
        success=True,
        extraction=None,
        target="acme",
        cost=Decimal("0.00501"),
        latency_ms=1.0,
        input_tokens=5,
        output_tokens=2,
        fee=Decimal("0.005"),
    )
    assert facts.fee_usd == Decimal("0.005")
    assert cost_of([facts]).cost.fees_usd == Decimal("0.005")
