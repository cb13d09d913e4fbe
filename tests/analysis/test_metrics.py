"""Batch metrics: hand-computed examples and hypothesis properties."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echo_ai.analysis.metrics import (
    Average,
    BatchMetrics,
    IterationFacts,
    Mean,
    Rate,
    compute_metrics,
    equal_weight,
)
from echo_ai.analysis.statistics import average_interval, wilson_interval

TARGET = "acme"
COMPETITORS = ("globex", "initech", "umbrella")
TRACKED = (TARGET, *COMPETITORS)


def fact(
    *brands: str,
    success: bool = True,
    cited: bool = False,
    cost: Decimal | None = Decimal("0.01"),
    latency: float | None = 100.0,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> IterationFacts:
    return IterationFacts(
        success=success,
        brands=brands,
        target_cited=cited,
        cost_usd=cost,
        latency_ms=latency,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


def metrics(facts: list[IterationFacts]) -> BatchMetrics:
    return compute_metrics(facts, target=TARGET, brands=COMPETITORS)


facts_strategy = st.builds(
    IterationFacts,
    success=st.booleans(),
    brands=st.lists(st.sampled_from([*TRACKED, "untracked"]), max_size=6).map(tuple),
    target_cited=st.booleans(),
    cost_usd=st.one_of(st.none(), st.decimals(min_value=0, max_value=1, places=6, allow_nan=False)),
    latency_ms=st.one_of(st.none(), st.floats(min_value=0, max_value=60_000)),
    input_tokens=st.one_of(st.none(), st.integers(0, 10_000)),
    output_tokens=st.one_of(st.none(), st.integers(0, 10_000)),
)
batches = st.lists(facts_strategy, max_size=40)


def all_rates(result: BatchMetrics) -> list[Rate]:
    return [
        result.visibility,
        result.top1,
        result.top3,
        result.citation_rate,
        *result.mention_rates.values(),
    ]


# --- hand-computed example --------------------------------------------------------------


def test_worked_example() -> None:
    facts = [
        fact("acme", "globex", cited=True, latency=100.0),  # rank 1
        fact("globex", "initech", "umbrella", "acme", latency=300.0),  # rank 4
        fact("globex", "acme", "acme", "globex", latency=200.0),  # rank 2, repeats ignored
        fact("initech", latency=400.0),  # target absent
        fact("acme", success=False, cost=None, latency=9_000.0),  # failure: no rates
    ]
    result = metrics(facts)

    assert (result.iterations, result.succeeded, result.failed) == (5, 4, 1)
    assert (result.visibility.numerator, result.visibility.denominator) == (3, 4)
    assert result.visibility.value == 0.75
    assert (result.visibility.ci_low, result.visibility.ci_high) == wilson_interval(3, 4)
    assert {brand: rate.numerator for brand, rate in result.mention_rates.items()} == {
        "acme": 3,
        "globex": 3,
        "initech": 2,
        "umbrella": 1,
    }
    # 3 target mentions among 2 + 4 + 2 + 1 = 9 distinct brand mentions.
    assert (result.share_of_voice.target_mentions, result.share_of_voice.all_mentions) == (3, 9)
    assert result.share_of_voice.value == pytest.approx(1 / 3)
    assert result.average_position == Mean(total=7.0, n=3, value=7 / 3)
    assert (result.top1.numerator, result.top3.numerator) == (1, 2)
    assert result.top1.denominator == result.top3.denominator == 4
    assert result.position_weighted_visibility.value == pytest.approx((1 + 0.9**3 + 0.9) / 4)
    # Sets: {a,g}, {a,g,i,u}, {a,g}, {i}: pairs 1/2, 1, 0, 1/2, 1/4, 0 -> 2.25 / 6.
    assert result.consistency == pytest.approx(2.25 / 6)
    assert (result.citation_rate.numerator, result.citation_rate.denominator) == (1, 4)
    assert result.latency.n == 4
    assert result.latency.p50_ms == 250.0
    assert result.latency.mean_ms == 250.0
    assert result.latency.p95_ms == pytest.approx(385.0)
    assert result.cost.total_usd == Decimal("0.04")
    assert result.cost.per_iteration_usd == Decimal("0.01")


def test_empty_batch_has_no_values() -> None:
    result = metrics([])
    for rate in all_rates(result):
        assert rate.denominator == 0
        assert rate.value is rate.ci_low is rate.ci_high is None
    assert result.share_of_voice.value is None
    assert result.average_position.value is None
    assert result.position_weighted_visibility.value is None
    assert result.consistency is None
    assert result.latency.p50_ms is None
    assert result.latency.n == 0
    assert result.cost.total_usd == Decimal(0)
    assert result.cost.known_total_usd is None
    assert result.cost.per_iteration_usd is None


def test_all_failed_batch_counts_failures_only() -> None:
    result = metrics([fact("acme", success=False, cost=None)] * 3)
    assert (result.iterations, result.succeeded, result.failed) == (3, 0, 3)
    assert result.visibility.denominator == 0
    assert result.visibility.value is None


def test_target_is_tracked_even_when_not_listed() -> None:
    result = compute_metrics(
        [fact("acme", "globex"), fact("globex")], target="acme", brands=["globex", "globex"]
    )
    assert list(result.mention_rates) == ["acme", "globex"]
    assert result.visibility.numerator == 1


def test_untracked_names_are_ignored_for_rank_and_share() -> None:
    result = metrics([fact("someone else", "acme", "globex")])
    assert result.average_position.value == 1.0
    assert result.share_of_voice.all_mentions == 2


def test_empty_target_is_rejected() -> None:
    with pytest.raises(ValueError, match="target brand"):
        compute_metrics([], target="", brands=COMPETITORS)


def test_zero_mentions_leave_share_of_voice_unknown() -> None:
    result = metrics([fact(), fact("untracked")])
    assert result.share_of_voice.all_mentions == 0
    assert result.share_of_voice.value is None
    assert result.visibility.value == 0.0
    assert result.consistency == 1.0


# --- cost, tokens, serialisation --------------------------------------------------------


def test_unknown_cost_of_a_success_makes_total_unknown() -> None:
    result = metrics([fact("acme", cost=Decimal("0.02")), fact("acme", cost=None)])
    assert result.cost.total_usd is None
    assert result.cost.per_iteration_usd is None
    assert result.cost.known_total_usd == Decimal("0.02")
    assert (result.cost.priced_iterations, result.cost.unpriced_iterations) == (1, 1)


def test_failed_iterations_add_known_cost_and_tokens() -> None:
    result = metrics(
        [
            fact("acme", cost=Decimal("0.03"), input_tokens=10, output_tokens=20),
            fact(success=False, cost=Decimal("0.01"), input_tokens=5),
            fact(success=False, cost=None),
        ]
    )
    assert result.cost.total_usd == Decimal("0.04")
    assert result.cost.per_iteration_usd == Decimal("0.04")
    assert (result.cost.priced_iterations, result.cost.unpriced_iterations) == (2, 0)
    assert (result.input_tokens, result.output_tokens) == (15, 20)


def test_per_iteration_cost_is_rounded_to_ten_decimals() -> None:
    result = metrics([fact(cost=Decimal("0.01")), fact(cost=Decimal(0)), fact(cost=Decimal(0))])
    assert result.cost.total_usd == Decimal("0.01")
    assert str(result.cost.per_iteration_usd) == "0.0033333333"


def test_json_round_trip_keeps_decimals_as_strings() -> None:
    result = metrics(
        [fact("acme", "globex", cost=Decimal("0.0123")), fact("globex", cost=Decimal("0.0123"))]
    )
    payload = result.model_dump_json()
    data = json.loads(payload)
    assert data["cost"]["total_usd"] == "0.0246"
    assert data["visibility"]["numerator"] == 1
    assert BatchMetrics.model_validate_json(payload) == result


def test_models_are_frozen_and_validated() -> None:
    rate = Rate.of(1, 2)
    with pytest.raises(ValueError, match="frozen"):
        rate.numerator = 2  # type: ignore[misc]
    with pytest.raises(ValueError, match="cannot exceed"):
        Rate(numerator=3, denominator=2, value=None, ci_low=None, ci_high=None)


# --- pooling ---------------------------------------------------------------------------


def test_rate_and_mean_pooling_sum_counts() -> None:
    assert Rate.pool([Rate.of(1, 4), Rate.of(3, 6), Rate.of(0, 0)]) == Rate.of(4, 10)
    assert Rate.pool([]) == Rate.of(0, 0)
    assert Mean.pool([Mean.of(3.0, 2), Mean.of(9.0, 4)]) == Mean.of(12.0, 6)


@given(batches, batches)
@settings(max_examples=60)
def test_pooling_equals_computing_on_the_concatenation(
    first: list[IterationFacts], second: list[IterationFacts]
) -> None:
    a, b, both = metrics(first), metrics(second), metrics(first + second)
    for name in ("visibility", "top1", "top3", "citation_rate"):
        assert Rate.pool([getattr(a, name), getattr(b, name)]) == getattr(both, name)
    for brand in TRACKED:
        assert (
            Rate.pool([a.mention_rates[brand], b.mention_rates[brand]])
            == (both.mention_rates[brand])
        )
    for name in ("average_position", "position_weighted_visibility"):
        pooled = Mean.pool([getattr(a, name), getattr(b, name)])
        combined = getattr(both, name)
        assert pooled.n == combined.n
        assert pooled.total == pytest.approx(combined.total)


# --- properties -------------------------------------------------------------------------


@given(batches)
def test_rates_are_proportions_inside_their_intervals(facts: list[IterationFacts]) -> None:
    result = metrics(facts)
    succeeded = sum(f.success for f in facts)
    assert result.succeeded == succeeded
    assert result.failed == len(facts) - succeeded
    for rate in all_rates(result):
        assert rate.denominator == succeeded
        if rate.value is not None:
            assert rate.ci_low is not None
            assert rate.ci_high is not None
            assert 0.0 <= rate.ci_low <= rate.value <= rate.ci_high <= 1.0
    share = result.share_of_voice
    if share.value is not None:
        assert share.ci_low is not None
        assert share.ci_high is not None
        assert 0.0 <= share.ci_low <= share.value <= share.ci_high <= 1.0
    for mean in (result.position_weighted_visibility,):
        assert mean.value is None or 0.0 <= mean.value <= 1.0
    if result.average_position.value is not None:
        assert 1.0 <= result.average_position.value <= len(TRACKED)
    assert result.consistency is None or 0.0 <= result.consistency <= 1.0
    assert result.top1.numerator <= result.top3.numerator <= result.visibility.numerator


@given(batches)
def test_visibility_counts_successful_answers_naming_the_target(
    facts: list[IterationFacts],
) -> None:
    expected = sum(1 for f in facts if f.success and TARGET in f.brands)
    assert metrics(facts).visibility.numerator == expected
    assert metrics(facts).average_position.n == expected


@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_share_of_voice_of_a_lone_brand_is_one(named: list[bool]) -> None:
    facts = [fact(*(("acme", "acme") if flag else ())) for flag in named]
    share = compute_metrics(facts, target=TARGET, brands=[]).share_of_voice
    if any(named):
        assert (share.value, share.ci_low, share.ci_high) == (1.0, 1.0, 1.0)
    else:
        assert share.value is None


@given(
    st.frozensets(st.sampled_from(TRACKED)),
    st.lists(st.permutations(TRACKED), min_size=2, max_size=20),
)
def test_consistency_is_one_when_all_sets_are_equal(
    brand_set: frozenset[str], orders: list[list[str]]
) -> None:
    # Same set in a different order each time: consistency ignores order.
    facts = [fact(*(b for b in order if b in brand_set)) for order in orders]
    assert metrics(facts).consistency == 1.0


@given(batches, st.randoms(use_true_random=False))
@settings(max_examples=60)
def test_permuting_facts_changes_nothing(
    facts: list[IterationFacts], shuffler: random.Random
) -> None:
    shuffled = list(facts)
    shuffler.shuffle(shuffled)
    original, permuted = metrics(facts), metrics(shuffled)
    assert all_rates(original) == all_rates(permuted)
    assert original.mention_rates == permuted.mention_rates
    assert original.cost == permuted.cost
    assert original.average_position.n == permuted.average_position.n
    assert original.average_position.total == permuted.average_position.total
    assert original.position_weighted_visibility.value == pytest.approx(
        permuted.position_weighted_visibility.value
    )
    assert original.consistency == pytest.approx(permuted.consistency)
    assert original.latency.p50_ms == permuted.latency.p50_ms
    assert original.latency.p95_ms == permuted.latency.p95_ms
    share, share_permuted = original.share_of_voice, permuted.share_of_voice
    assert (share.target_mentions, share.all_mentions) == (
        share_permuted.target_mentions,
        share_permuted.all_mentions,
    )
    if share.ci_low is not None:
        assert share.ci_low == pytest.approx(share_permuted.ci_low, abs=0.05)
        assert share.ci_high == pytest.approx(share_permuted.ci_high, abs=0.05)


@given(batches, st.lists(facts_strategy, max_size=10))
@settings(max_examples=60)
def test_failures_do_not_change_rates(
    facts: list[IterationFacts], extra: list[IterationFacts]
) -> None:
    failures = [
        IterationFacts(
            success=False,
            brands=f.brands,
            target_cited=f.target_cited,
            cost_usd=f.cost_usd,
            latency_ms=f.latency_ms,
        )
        for f in extra
    ]
    base, with_failures = metrics(facts), metrics(facts + failures)
    assert all_rates(base) == all_rates(with_failures)
    assert base.share_of_voice == with_failures.share_of_voice
    assert base.consistency == with_failures.consistency
    assert base.latency == with_failures.latency
    assert with_failures.failed == base.failed + len(failures)


@given(batches)
def test_unknown_cost_of_any_success_means_unknown_total(
    facts: list[IterationFacts],
) -> None:
    cost = metrics(facts).cost
    unknown = any(f.success and f.cost_usd is None for f in facts)
    assert (cost.total_usd is None) == unknown
    known = [f.cost_usd for f in facts if f.cost_usd is not None]
    assert cost.priced_iterations == len(known)
    assert cost.known_total_usd == (sum(known, Decimal(0)) if known else None)


# --- scale -----------------------------------------------------------------------------


def test_ten_thousand_facts_are_all_counted() -> None:
    rng = random.Random(1)
    facts = [
        fact(
            *rng.sample(TRACKED, rng.randint(0, 4)),
            success=rng.random() > 0.05,
            cited=rng.random() < 0.3,
            latency=rng.uniform(200, 5_000),
        )
        for _ in range(10_000)
    ]
    result = metrics(facts)
    assert result.iterations == 10_000


def test_positions_sources_and_queries_are_counted_once_per_successful_answer() -> None:
    from dataclasses import replace

    answers = [
        replace(
            fact(TARGET, COMPETITORS[0]),
            cited_domains=("hubspot.com", "g2.com"),
            cited_urls=("https://hubspot.com/a", "https://hubspot.com/a"),
            retrieved_urls=("https://g2.com/x",),
            retrieved_domains=("g2.com", "capterra.com"),
            search_queries=("best  crm", "best crm", " "),
        ),
        replace(fact(COMPETITORS[0], TARGET), search_queries=("crm for startups",)),
        replace(fact(COMPETITORS[0]), retrieved_urls=("https://g2.com/x",)),
        replace(fact(success=False), cited_urls=("https://ignored.example",)),
    ]
    m = metrics(answers)

    assert m.target_positions == {1: 1, 2: 1}
    assert m.sources is not None and m.search_queries is not None
    domains = {d.name: (d.cited, d.retrieved) for d in m.sources.domains}
    # g2.com cited in the first answer, so only its retrieval without a citation counts.
    assert domains == {"hubspot.com": (1, 0), "g2.com": (1, 0), "capterra.com": (0, 1)}
    urls = {u.name: (u.cited, u.retrieved) for u in m.sources.urls}
    assert urls == {"https://hubspot.com/a": (1, 0), "https://g2.com/x": (0, 2)}
    assert (m.sources.answers_citing, m.sources.answers_retrieving) == (1, 2)
    assert [(q.query, q.answers) for q in m.search_queries.top] == [
        ("best crm", 1),
        ("crm for startups", 1),
    ]
    assert (m.search_queries.answers_searching, m.search_queries.distinct) == (2, 2)
    # Stored before these were kept: they read back as unknown, not as zero.
    old = m.model_dump(mode="json", exclude={"target_positions", "sources", "search_queries"})
    restored = BatchMetrics.model_validate(old)
    assert restored.target_positions is None and restored.sources is None
    assert BatchMetrics.model_validate(m.model_dump(mode="json")) == m


# --- equal-weight average over providers -----------------------------------------------


def test_the_equal_weight_average_counts_each_provider_once() -> None:
    # One provider names the target in 9 of 10 answers, the other in 10 of 100: pooled,
    # the big one dominates (19/110); averaged, each counts once ((0.9 + 0.1) / 2).
    small = metrics([fact(TARGET, "globex")] * 9 + [fact("globex")])
    large = metrics([fact(TARGET)] * 10 + [fact("globex")] * 90)
    pooled = Rate.pool([small.visibility, large.visibility])
    average = equal_weight({"a:small": small, "b:large": large})
    assert pooled.value == pytest.approx(19 / 110)
    assert average.providers == ["a:small", "b:large"]
    assert average.visibility.value == pytest.approx(0.5)
    assert average.visibility.providers == 2
    expected = average_interval(
        [
            (r.value or 0.0, r.ci_low or 0.0, r.ci_high or 0.0)
            for r in (small.visibility, large.visibility)
        ]
    )
    assert (average.visibility.value, average.visibility.ci_low, average.visibility.ci_high) == (
        pytest.approx(expected[0]),
        pytest.approx(expected[1]),
        pytest.approx(expected[2]),
    )
    assert set(average.mention_rates) == set(small.mention_rates)
    assert average.share_of_voice.providers == 2


def test_a_provider_without_complete_answers_is_left_out_of_the_average() -> None:
    answered = metrics([fact(TARGET)] * 5 + [fact()] * 5)
    failed = metrics([fact(success=False)] * 10)
    average = equal_weight({"a:answered": answered, "b:failed": failed})
    assert average.visibility.providers == 1
    assert average.visibility.value == pytest.approx(0.5)
    assert Average.over([failed.visibility]) == Average(
        value=None, ci_low=None, ci_high=None, providers=0
    )
