"""Batch metrics: what one run of N sampled answers says about a brand's visibility.

Definitions follow docs/metrics.md. Every rate keeps its numerator and denominator so
results pool across providers, runs and days by summing counts, never by averaging
averages. Metrics for several providers together are ``compute_metrics`` on the union of
their facts, which weighs every answer equally (a provider with more complete answers
weighs more); :func:`equal_weight` gives the other reading, the plain average over
providers, and :class:`Combination` keeps both with what they pool.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from echo_ai.analysis.discovery import tally
from echo_ai.analysis.statistics import (
    average_interval,
    mean_interval,
    mean_pairwise_jaccard,
    percentile,
    share_interval,
    wilson_interval,
)

# Each step down the list keeps 90% of the credit: being named first is worth most,
# yet the fifth of five recommendations is still worth well over half.
POSITION_DECAY = 0.9

TOP_SOURCES = 20
"""Cited or retrieved domains and URLs kept per batch (the most frequent ones)."""
TOP_QUERIES = 20
"""Web-search queries kept per batch (the most frequent ones)."""
TOP_DISCOVERED = 50
"""Untracked names kept per batch (those named in most answers)."""

# Per-iteration cost is a derived figure; ten decimals (a ten-billionth of a dollar)
# keeps token-level prices exact enough without 28-digit strings in the JSON.
_PER_ITERATION_QUANTUM = Decimal("1e-10")


@dataclass(frozen=True, slots=True)
class IterationFacts:
    """What the metrics need from one iteration, already extracted from its answer.

    ``brands`` lists tracked brands in order of first appearance; repeats and
    untracked names are ignored by ``compute_metrics``. ``cost_usd`` is None when the
    price is unknown, which is different from free.
    """

    success: bool
    """The vendor answered (False: the call failed)."""
    brands: tuple[str, ...]
    target_cited: bool
    cost_usd: Decimal | None
    latency_ms: float | None
    answer_class: str = "complete"
    """Only a ``complete`` answer is a sample; the others count apart (``truncated``...)."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cited_domains: tuple[str, ...] = ()
    """Registrable domains the answer cites (inline citations and links in its text)."""
    cited_urls: tuple[str, ...] = ()
    """URLs of the provider's inline citations."""
    retrieved_urls: tuple[str, ...] = ()
    """URLs the provider retrieved (searched) without citing them."""
    retrieved_domains: tuple[str, ...] = ()
    search_queries: tuple[str, ...] = ()
    """The web-search queries the assistant ran for this answer."""
    fee_usd: Decimal | None = None
    """Of ``cost_usd``, the request and search fees (None: unknown, or stored before fees
    were kept)."""
    candidates: tuple[str, ...] | None = None
    """Untracked names the answer gives (None: not looked for, in older extractions)."""
    sentiment: tuple[tuple[str, str, float, str], ...] | None = None
    """``(brand, label, score, scorer)`` for each brand the answer mentions (the scorer:
    ``lexicon-1``, or a judge ``judge:vendor:model``); None when its sentiment was not
    scored (an answer stored before sentiment was)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rate(_Frozen):
    """A proportion with its counts and 95% Wilson interval; all None when n is 0."""

    numerator: int = Field(ge=0)
    denominator: int = Field(ge=0)
    value: float | None
    ci_low: float | None
    ci_high: float | None

    @model_validator(mode="after")
    def _numerator_within_denominator(self) -> Self:
        if self.numerator > self.denominator:
            raise ValueError("numerator cannot exceed denominator")
        return self

    @classmethod
    def of(cls, numerator: int, denominator: int) -> Rate:
        """Rate from counts, with the Wilson interval (no value for an empty sample)."""
        if denominator == 0:
            return cls(numerator=numerator, denominator=0, value=None, ci_low=None, ci_high=None)
        low, high = wilson_interval(numerator, denominator)
        return cls(
            numerator=numerator,
            denominator=denominator,
            value=numerator / denominator,
            ci_low=low,
            ci_high=high,
        )

    @classmethod
    def pool(cls, rates: Iterable[Rate]) -> Rate:
        """Combine rates over disjoint samples by summing their counts."""
        numerator = 0
        denominator = 0
        for rate in rates:
            numerator += rate.numerator
            denominator += rate.denominator
        return cls.of(numerator, denominator)


class Mean(_Frozen):
    """An average kept as total and count so it pools exactly; value None when n is 0."""

    total: float
    n: int = Field(ge=0)
    value: float | None

    @classmethod
    def of(cls, total: float, n: int) -> Mean:
        return cls(total=total, n=n, value=total / n if n else None)

    @classmethod
    def pool(cls, means: Iterable[Mean]) -> Mean:
        """Combine means over disjoint samples by summing totals and counts."""
        total = 0.0
        n = 0
        for mean in means:
            total += mean.total
            n += mean.n
        return cls.of(total, n)


class ShareOfVoice(_Frozen):
    """Target mentions over mentions of all tracked brands, with a score interval over
    answers (:func:`echo_ai.analysis.statistics.share_interval`).

    Pooling needs the per-answer data for the interval, so combined figures come from
    ``compute_metrics`` over the union of facts rather than from summing these.
    """

    target_mentions: int = Field(ge=0)
    all_mentions: int = Field(ge=0)
    value: float | None
    ci_low: float | None
    ci_high: float | None

    @model_validator(mode="after")
    def _target_within_all(self) -> Self:
        if self.target_mentions > self.all_mentions:
            raise ValueError("target mentions cannot exceed all mentions")
        return self


class LatencyStats(_Frozen):
    """Latency of successful answers whose latency is known; all None when n is 0."""

    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None
    n: int = Field(ge=0)


class CostStats(_Frozen):
    """Spend of a batch, where an unknown price is never shown as zero.

    ``total_usd`` is None as soon as one successful iteration has no known cost;
    ``known_total_usd`` still shows what the priced iterations cost (None if none was
    priced). Failed iterations add their cost when known and are otherwise assumed
    unbilled, since a rejected request is not charged. ``fees_usd`` is the part of the
    total that request and search fees make (a vendor's bill shows them on lines of their
    own), None as soon as one billed iteration's fees are unknown; metrics stored before
    fees were kept read as None.
    """

    total_usd: Decimal | None
    known_total_usd: Decimal | None
    per_iteration_usd: Decimal | None
    """What one complete answer cost: the total (failures' spend included) over them."""
    priced_iterations: int = Field(ge=0)
    unpriced_iterations: int = Field(ge=0)
    fees_usd: Decimal | None = None
    fees_per_iteration_usd: Decimal | None = None
    fee_share: float | None = Field(default=None, ge=0)
    """``fees_usd`` / ``total_usd`` (None when either is unknown or the total is 0)."""


class SourceCount(_Frozen):
    """A domain or URL: in how many answers it was cited, and retrieved without a citation."""

    name: str
    cited: int = Field(ge=0)
    retrieved: int = Field(ge=0)


class Sources(_Frozen):
    """Where the answers' links point: the most frequent domains and URLs (at most
    ``TOP_SOURCES`` of each), each counted at most once per answer."""

    domains: list[SourceCount]
    urls: list[SourceCount]
    answers_citing: int = Field(ge=0)
    """Successful answers that cite at least one link."""
    answers_retrieving: int = Field(ge=0)
    """Successful answers with sources retrieved but not cited."""


class QueryCount(_Frozen):
    query: str
    answers: int = Field(ge=0)


class SearchQueries(_Frozen):
    """The web-search queries the assistants ran: the most frequent (at most
    ``TOP_QUERIES``), counted once per answer."""

    top: list[QueryCount]
    answers_searching: int = Field(ge=0)
    """Successful answers for which at least one query ran."""
    distinct: int = Field(ge=0)


class DiscoveredName(_Frozen):
    """An untracked name: in how many complete answers it appears, with its interval."""

    name: str
    """The commonest spelling."""
    key: str
    """Spelling-independent key (:func:`echo_ai.analysis.discovery.candidate_key`)."""
    spellings: list[str]
    mentions: Rate
    """Answers naming it over the complete answers examined (``Discovered.answers``)."""


class Discovered(_Frozen):
    """Names the answers give that are not tracked: the ``TOP_DISCOVERED`` named in most
    answers (each answer counts a name once), found as docs/metrics.md says."""

    names: list[DiscoveredName]
    answers: int = Field(ge=0)
    """Complete answers whose untracked names were looked for: the denominator."""
    distinct: int = Field(ge=0)
    """Distinct names found (``names`` keeps the first ``TOP_DISCOVERED``)."""


def discover(per_answer: Sequence[Sequence[str]]) -> Discovered:
    """The untracked names of complete answers, counted (see :class:`Discovered`)."""
    counted, distinct = tally(per_answer, limit=TOP_DISCOVERED)
    return Discovered(
        names=[
            DiscoveredName(
                name=item.name,
                key=item.key,
                spellings=list(item.spellings),
                mentions=Rate.of(item.answers, len(per_answer)),
            )
            for item in counted
        ],
        answers=len(per_answer),
        distinct=distinct,
    )


class ScoreMean(_Frozen):
    """A mean score kept as total, sum of squares and count so it pools exactly, with a
    95% Student's t interval (None below two scores); value None when n is 0."""

    total: float
    squares: float = Field(ge=0)
    n: int = Field(ge=0)
    value: float | None
    ci_low: float | None
    ci_high: float | None

    @classmethod
    def of(cls, total: float, squares: float, n: int) -> ScoreMean:
        interval = mean_interval(total, squares, n)
        return cls(
            total=total,
            squares=squares,
            n=n,
            value=total / n if n else None,
            ci_low=interval[0] if interval else None,
            ci_high=interval[1] if interval else None,
        )


class SentimentSummary(_Frozen):
    """How the answers that mention a brand speak of it (docs/metrics.md, "Sentiment"):
    the share of them positive, neutral and negative, and the mean score in [-1, 1]."""

    answers: int = Field(ge=0)
    """Complete answers mentioning the brand whose sentiment was scored: the denominator."""
    positive: Rate
    neutral: Rate
    negative: Rate
    score: ScoreMean
    scorers: dict[str, int] = {}
    """Of ``answers``, how many each scorer scored: ``lexicon-1`` (the local lexicon
    scorer) or a judge (``judge:vendor:model``). Empty in metrics stored before it was
    kept."""


@dataclass(slots=True)
class _SentimentTally:
    labels: Counter[str]
    total: float = 0.0
    squares: float = 0.0
    n: int = 0
    scorers: Counter[str] = field(default_factory=Counter)

    def add(self, label: str, score: float, scorer: str) -> None:
        self.labels[label] += 1
        self.total += score
        self.squares += score * score
        self.n += 1
        self.scorers[scorer] += 1

    def summary(self) -> SentimentSummary:
        return SentimentSummary(
            answers=self.n,
            positive=Rate.of(self.labels["positive"], self.n),
            neutral=Rate.of(self.labels["neutral"], self.n),
            negative=Rate.of(self.labels["negative"], self.n),
            score=ScoreMean.of(self.total, self.squares, self.n),
            scorers=dict(sorted(self.scorers.items())),
        )


class BatchMetrics(_Frozen):
    """All metrics of one batch (or of a union of batches); see docs/metrics.md."""

    iterations: int = Field(ge=0)
    succeeded: int = Field(ge=0)
    """Complete answers: the denominator of every rate."""
    failed: int = Field(ge=0)
    """Calls that brought no answer."""
    visibility: Rate
    mention_rates: dict[str, Rate]
    share_of_voice: ShareOfVoice
    average_position: Mean
    top1: Rate
    top3: Rate
    position_weighted_visibility: Mean
    consistency: float | None
    citation_rate: Rate
    cost: CostStats
    latency: LatencyStats
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    target_positions: dict[int, int] | None = None
    """Answers by the target's rank among the brands they name (1: named first), over
    answers that name it. None in metrics stored before it was kept (a re-score fills it)."""
    sources: Sources | None = None
    """The cited and retrieved domains and URLs (None in metrics stored before them)."""
    search_queries: SearchQueries | None = None
    """The web-search queries run (None in metrics stored before them)."""
    truncated: int = Field(default=0, ge=0)
    refused: int = Field(default=0, ge=0)
    empty: int = Field(default=0, ge=0)
    """Answers that came back but are not samples, by class: in no rate's denominator."""
    discovered: Discovered | None = None
    """Untracked names the complete answers give; None when no complete answer was
    examined for them (metrics stored before, or every answer extracted before: a re-score
    finds them)."""
    sentiment: dict[str, SentimentSummary] | None = None
    """Per tracked brand, how the complete answers mentioning it speak of it. None when no
    answer's sentiment was scored (metrics of answers stored before it: a re-score fills
    it)."""

    def not_samples(self) -> list[tuple[str, int]]:
        """``(class, count)`` of the answers that are not samples, those with any."""
        counts = (("truncated", self.truncated), ("refused", self.refused))
        return [(kind, count) for kind, count in (*counts, ("empty", self.empty)) if count]


def _tracked_brands(target: str, brands: Sequence[str]) -> tuple[str, ...]:
    """Target first, then the other brands in the given order, without duplicates."""
    if not target:
        raise ValueError("target brand must not be empty")
    return tuple(dict.fromkeys((target, *brands)))


def _mentioned(brands: tuple[str, ...], tracked: frozenset[str]) -> tuple[str, ...]:
    """Tracked brands of one answer in order of first appearance, each once."""
    return tuple(dict.fromkeys(brand for brand in brands if brand in tracked))


@dataclass(slots=True)
class _CostTally:
    known_total: Decimal = Decimal(0)
    priced: int = 0
    unpriced_successes: int = 0
    known_fees: Decimal = Decimal(0)
    unknown_fees: int = 0

    def add(self, fact: IterationFacts) -> None:
        if fact.cost_usd is not None:
            self.known_total += fact.cost_usd
            self.priced += 1
        elif fact.success:
            self.unpriced_successes += 1
        if fact.fee_usd is not None:
            self.known_fees += fact.fee_usd
        elif fact.success or fact.cost_usd is not None:
            # Billed, fees unknown; a failed call with no known cost was not billed.
            self.unknown_fees += 1

    def stats(self, succeeded: int) -> CostStats:
        total = self.known_total if self.unpriced_successes == 0 else None
        fees = self.known_fees if self.unknown_fees == 0 else None
        return CostStats(
            total_usd=total,
            known_total_usd=self.known_total if self.priced else None,
            per_iteration_usd=_per_answer(total, succeeded),
            priced_iterations=self.priced,
            unpriced_iterations=self.unpriced_successes,
            fees_usd=fees,
            fees_per_iteration_usd=_per_answer(fees, succeeded),
            fee_share=float(fees / total) if fees is not None and total else None,
        )


def _per_answer(amount: Decimal | None, succeeded: int) -> Decimal | None:
    if amount is None or not succeeded:
        return None
    return (amount / succeeded).quantize(_PER_ITERATION_QUANTUM)


@dataclass(slots=True)
class _SourceTally:
    """Domains, URLs and queries of the successful answers, each counted once per answer."""

    cited_domains: Counter[str]
    retrieved_domains: Counter[str]
    cited_urls: Counter[str]
    retrieved_urls: Counter[str]
    queries: Counter[str]
    citing: int = 0
    retrieving: int = 0
    searching: int = 0

    @classmethod
    def empty(cls) -> _SourceTally:
        return cls(Counter(), Counter(), Counter(), Counter(), Counter())

    def add(self, fact: IterationFacts) -> None:
        self.cited_domains.update(set(fact.cited_domains))
        self.retrieved_domains.update(set(fact.retrieved_domains) - set(fact.cited_domains))
        self.cited_urls.update(set(fact.cited_urls))
        self.retrieved_urls.update(set(fact.retrieved_urls) - set(fact.cited_urls))
        queries = {" ".join(query.split()) for query in fact.search_queries}
        queries.discard("")
        self.queries.update(queries)
        self.citing += bool(fact.cited_domains or fact.cited_urls)
        self.retrieving += bool(fact.retrieved_urls)
        self.searching += bool(queries)

    @staticmethod
    def _top(cited: Counter[str], retrieved: Counter[str]) -> list[SourceCount]:
        names = sorted(set(cited) | set(retrieved), key=lambda n: (-cited[n], -retrieved[n], n))
        return [
            SourceCount(name=name, cited=cited[name], retrieved=retrieved[name])
            for name in names[:TOP_SOURCES]
        ]

    def sources(self) -> Sources:
        return Sources(
            domains=self._top(self.cited_domains, self.retrieved_domains),
            urls=self._top(self.cited_urls, self.retrieved_urls),
            answers_citing=self.citing,
            answers_retrieving=self.retrieving,
        )

    def search_queries(self) -> SearchQueries:
        top = sorted(self.queries.items(), key=lambda item: (-item[1], item[0]))[:TOP_QUERIES]
        return SearchQueries(
            top=[QueryCount(query=query, answers=count) for query, count in top],
            answers_searching=self.searching,
            distinct=len(self.queries),
        )


def _latency_stats(latencies: Sequence[float]) -> LatencyStats:
    if not latencies:
        return LatencyStats(p50_ms=None, p95_ms=None, mean_ms=None, n=0)
    return LatencyStats(
        p50_ms=percentile(latencies, 50.0),
        p95_ms=percentile(latencies, 95.0),
        mean_ms=sum(latencies) / len(latencies),
        n=len(latencies),
    )


def _share_of_voice(
    target_per_answer: Sequence[int], brands_per_answer: Sequence[int], *, alone: bool
) -> ShareOfVoice:
    """``alone``: the target is the only tracked brand, so its share is 1 by definition
    (no interval to estimate)."""
    target_mentions = sum(target_per_answer)
    all_mentions = sum(brands_per_answer)
    interval = share_interval(target_per_answer, brands_per_answer)
    if alone and interval is not None:
        interval = (1.0, 1.0)
    if interval is None:
        return ShareOfVoice(
            target_mentions=target_mentions,
            all_mentions=all_mentions,
            value=None,
            ci_low=None,
            ci_high=None,
        )
    return ShareOfVoice(
        target_mentions=target_mentions,
        all_mentions=all_mentions,
        value=target_mentions / all_mentions,
        ci_low=interval[0],
        ci_high=interval[1],
    )


def compute_metrics(
    facts: Sequence[IterationFacts], *, target: str, brands: Sequence[str]
) -> BatchMetrics:
    """Metrics of a batch; rates are over complete answers only.

    Failed iterations count in ``failed``, and truncated, refused and empty answers in
    their own counts (all of them in cost and tokens when known), but never in a rate: a
    timeout says nothing about what the assistant would have answered, and an answer cut
    off by the output limit never got to the brands it would have named.
    ``brands`` are the tracked brands; the target is tracked even if not listed.
    """
    tracked = _tracked_brands(target, brands)
    tracked_set = frozenset(tracked)
    mention_counts = dict.fromkeys(tracked, 0)
    cost = _CostTally()
    succeeded = top1 = top3 = rank_total = cited = input_tokens = output_tokens = 0
    weighted_total = 0.0
    target_per_answer: list[int] = []
    brands_per_answer: list[int] = []
    brand_sets: list[frozenset[str]] = []
    latencies: list[float] = []
    positions: Counter[int] = Counter()
    sources = _SourceTally.empty()
    not_samples: Counter[str] = Counter()
    found: list[tuple[str, ...]] = []
    sentiments = {brand: _SentimentTally(Counter()) for brand in tracked}
    sentiment_scored = False

    for fact in facts:
        cost.add(fact)
        input_tokens += fact.input_tokens or 0
        output_tokens += fact.output_tokens or 0
        if not fact.success:
            continue
        if fact.answer_class != "complete":
            not_samples[fact.answer_class] += 1
            continue
        succeeded += 1
        if fact.candidates is not None:
            found.append(fact.candidates)
        mentioned = _mentioned(fact.brands, tracked_set)
        for brand in mentioned:
            mention_counts[brand] += 1
        if fact.sentiment is not None:
            sentiment_scored = True
            for brand, label, score, scorer in fact.sentiment:
                if brand in tracked_set and brand in mentioned:
                    sentiments[brand].add(label, score, scorer)
        brand_sets.append(frozenset(mentioned))
        brands_per_answer.append(len(mentioned))
        cited += fact.target_cited
        sources.add(fact)
        if fact.latency_ms is not None:
            latencies.append(fact.latency_ms)
        if target in mentioned:
            rank = mentioned.index(target) + 1
            target_per_answer.append(1)
            rank_total += rank
            positions[rank] += 1
            top1 += rank == 1
            top3 += rank <= 3
            weighted_total += POSITION_DECAY ** (rank - 1)
        else:
            target_per_answer.append(0)

    visible = mention_counts[target]
    return BatchMetrics(
        iterations=len(facts),
        succeeded=succeeded,
        failed=len(facts) - succeeded - sum(not_samples.values()),
        truncated=not_samples["truncated"],
        refused=not_samples["refused"],
        empty=not_samples["empty"],
        visibility=Rate.of(visible, succeeded),
        mention_rates={brand: Rate.of(count, succeeded) for brand, count in mention_counts.items()},
        share_of_voice=_share_of_voice(
            target_per_answer, brands_per_answer, alone=len(tracked) == 1
        ),
        average_position=Mean.of(float(rank_total), visible),
        top1=Rate.of(top1, succeeded),
        top3=Rate.of(top3, succeeded),
        position_weighted_visibility=Mean.of(weighted_total, succeeded),
        consistency=mean_pairwise_jaccard(brand_sets),
        citation_rate=Rate.of(cited, succeeded),
        cost=cost.stats(succeeded),
        latency=_latency_stats(latencies),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        target_positions=dict(sorted(positions.items())),
        sources=sources.sources(),
        search_queries=sources.search_queries(),
        # None only when every complete answer was scored before names were looked for.
        discovered=discover(found) if found or not succeeded else None,
        sentiment={brand: tally.summary() for brand, tally in sentiments.items()}
        if sentiment_scored
        else None,
    )


class Average(_Frozen):
    """The equal-weight average of a rate over providers, with its 95% interval
    (:func:`echo_ai.analysis.statistics.average_interval`); None when no provider has a
    value."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    providers: int = Field(ge=0)
    """How many providers the average is over (those with a value)."""

    @classmethod
    def over(cls, figures: Iterable[Rate | ShareOfVoice]) -> Average:
        estimates = [
            (figure.value, figure.ci_low, figure.ci_high)
            for figure in figures
            if figure.value is not None and figure.ci_low is not None and figure.ci_high is not None
        ]
        if not estimates:
            return cls(value=None, ci_low=None, ci_high=None, providers=0)
        value, low, high = average_interval(estimates)
        return cls(value=value, ci_low=low, ci_high=high, providers=len(estimates))


class EqualWeight(_Frozen):
    """Rates averaged over providers, each provider counting once whatever its number of
    answers: what "how do the assistants treat my brand" means. The pooled figures weigh
    each answer once instead, so a provider with more complete answers weighs more."""

    providers: list[str]
    visibility: Average
    share_of_voice: Average
    top1: Average
    top3: Average
    citation_rate: Average
    mention_rates: dict[str, Average]


def equal_weight(per_provider: Mapping[str, BatchMetrics]) -> EqualWeight:
    """The equal-weight averages of the given providers' metrics (name to metrics)."""
    metrics = list(per_provider.values())
    brands = list(dict.fromkeys(brand for m in metrics for brand in m.mention_rates))
    return EqualWeight(
        providers=list(per_provider),
        visibility=Average.over(m.visibility for m in metrics),
        share_of_voice=Average.over(m.share_of_voice for m in metrics),
        top1=Average.over(m.top1 for m in metrics),
        top3=Average.over(m.top3 for m in metrics),
        citation_rate=Average.over(m.citation_rate for m in metrics),
        mention_rates={
            brand: Average.over(m.mention_rates[brand] for m in metrics if brand in m.mention_rates)
            for brand in brands
        },
    )


class Combination(_Frozen):
    """One combination of a run's providers: real ones, or synthetic (demo) ones, never
    both (synthetic answers say nothing about a real assistant)."""

    synthetic: bool
    providers: list[str]
    """The providers (``vendor:model``) whose finished batches are combined."""
    missing: list[str]
    """Providers of the same kind whose batch has not finished: the figures are partial
    and leave them out until it does."""
    pooled: BatchMetrics | None
    """Every complete answer of ``providers`` counted once (more answers, more weight);
    None while none of them has finished."""
    equal_weight: EqualWeight | None
    """The average over ``providers``, each counting once (None for a single provider,
    where it is the pooled figure)."""

    @property
    def partial(self) -> bool:
        return bool(self.missing)
