"""What an experiment will cost and how precise its figures will be, before it runs.

The cost is the price table (:mod:`echo_ai.providers.pricing`) times the iterations times
the model's typical tokens, with the fees that are certain. Answers are not known before
they are given: :func:`estimate_with_history` takes each model's typical answer from the
workspace's recent finished batches of that ``vendor:model``
(:func:`echo_ai.runs.history.typical_tokens`: their stored token totals, never the
iterations) and says so per provider (``tokens_from``: ``history (N answers)``); a model
without past answers, and :func:`estimate` always, assumes the prompt's own length in (at
about four characters a token) and :data:`ASSUMED_OUTPUT_TOKENS` out (``assumed``). A model
missing from the table has an unknown price, never a free one. The answer priced, fees
included, is :func:`echo_ai.providers.assumed.assumed_answer` (the same the runner reserves
per call): a vendor that searches on every request (Perplexity, OpenAI's search-preview
chat models) and any provider of an experiment that asks for grounding is assumed to search
once per answer, so its request fee, one web search or one grounded prompt (Gemini 2.x) is
counted, with Perplexity at its default search context size. An answer that searches more
than once costs more than the estimate; the costs stored after a run count every search
(docs/metrics.md, "Cost").

The precision is the half-width of the 95% Wilson interval the iterations of one
provider buy at a rate of 50% (the widest): "±6.9 points at 50%" for 200 iterations.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis.statistics import wilson_half_width
from echo_ai.providers.assumed import ASSUMED_OUTPUT_TOKENS, assumed_cost
from echo_ai.providers.registry import ProviderSpec
from echo_ai.providers.synthetic import approximate_tokens
from echo_ai.runs.history import TypicalTokens, typical_tokens

__all__ = [
    "ASSUMED",
    "ASSUMED_OUTPUT_TOKENS",
    "Estimate",
    "EstimateOut",
    "ProviderCost",
    "ProviderEstimateOut",
    "estimate",
    "estimate_with_history",
]

PRECISION_AT = 0.5
"""The rate the precision is quoted at: where an interval is widest."""
ASSUMED = "assumed"
"""``tokens_from`` of a provider priced on the assumed answer length."""


@dataclass(frozen=True)
class ProviderCost:
    provider: str
    """``vendor:model``."""
    synthetic: bool
    """The offline demo provider: its answers are made up and cost nothing."""
    usd: Decimal | None
    """The provider's share for every iteration; ``None`` when the model has no price."""
    input_tokens: int = 0
    """Per answer, as priced."""
    output_tokens: int = ASSUMED_OUTPUT_TOKENS
    tokens_from: str = ASSUMED
    """``history (N answers)`` (the model's past answers in the workspace) or ``assumed``."""


@dataclass(frozen=True)
class Estimate:
    iterations: int
    """Per provider."""
    input_tokens: int
    """Assumed per answer (the prompt's length)."""
    output_tokens: int
    """Assumed per answer (:data:`ASSUMED_OUTPUT_TOKENS`)."""
    providers: list[ProviderCost]
    half_width: float
    """Of the 95% interval of a provider's rate at :data:`PRECISION_AT`, ``iterations``
    answers."""

    @property
    def calls(self) -> int:
        return self.iterations * len(self.providers)

    @property
    def known_usd(self) -> Decimal:
        """The cost of the providers whose price is known."""
        return sum((p.usd for p in self.providers if p.usd is not None), Decimal(0))

    @property
    def unpriced(self) -> list[str]:
        """Providers whose model is not in the price table."""
        return [p.provider for p in self.providers if p.usd is None]

    @property
    def synthetic(self) -> bool:
        return any(p.synthetic for p in self.providers)

    @property
    def from_history(self) -> bool:
        """Whether some provider is priced on its past answers."""
        return any(p.tokens_from != ASSUMED for p in self.providers)


def _provider_cost(
    spec: ProviderSpec,
    iterations: int,
    input_tokens: int,
    *,
    grounding: bool,
    typical: TypicalTokens | None,
) -> ProviderCost:
    tokens_in = input_tokens if typical is None else typical.input_tokens
    tokens_out = ASSUMED_OUTPUT_TOKENS if typical is None else typical.output_tokens
    per_answer = assumed_cost(
        spec.vendor, spec.model, tokens_in, grounding=grounding, output_tokens=tokens_out
    )
    return ProviderCost(
        provider=str(spec),
        synthetic=spec.vendor == "demo",
        usd=None if per_answer is None else per_answer * iterations,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        tokens_from=ASSUMED if typical is None else f"history ({typical.answers:,} answers)",
    )


def estimate(
    prompt: str, providers: Sequence[ProviderSpec], iterations: int, *, grounding: bool
) -> Estimate:
    """Cost and precision of ``iterations`` answers from each of ``providers`` to
    ``prompt`` (``iterations`` at least 1), on the assumed answer length; ``grounding``:
    the experiment asks for answers grounded in a web search."""
    input_tokens = approximate_tokens(prompt.strip())
    return Estimate(
        iterations=iterations,
        input_tokens=input_tokens,
        output_tokens=ASSUMED_OUTPUT_TOKENS,
        providers=[
            _provider_cost(spec, iterations, input_tokens, grounding=grounding, typical=None)
            for spec in providers
        ],
        half_width=wilson_half_width(iterations, proportion=PRECISION_AT),
    )


async def estimate_with_history(
    session: AsyncSession,
    prompt: str,
    providers: Sequence[ProviderSpec],
    iterations: int,
    *,
    grounding: bool,
    workspace_id: uuid.UUID | None,
) -> Estimate:
    """:func:`estimate`, each model priced on its typical answer in the workspace's recent
    finished batches when it has some (one bounded query per provider; the demo provider,
    which costs nothing, reads none), else on the assumed length."""
    input_tokens = approximate_tokens(prompt.strip())
    costs: list[ProviderCost] = []
    for spec in providers:
        typical = (
            None
            if spec.vendor == "demo"
            else await typical_tokens(session, workspace_id, spec.vendor, spec.model)
        )
        costs.append(
            _provider_cost(spec, iterations, input_tokens, grounding=grounding, typical=typical)
        )
    return Estimate(
        iterations=iterations,
        input_tokens=input_tokens,
        output_tokens=ASSUMED_OUTPUT_TOKENS,
        providers=costs,
        half_width=wilson_half_width(iterations, proportion=PRECISION_AT),
    )


class ProviderEstimateOut(BaseModel):
    provider: str
    """``vendor:model``."""
    usd: Decimal | None
    """Its share for every iteration (a decimal string in USD); null when the model has no
    price."""
    input_tokens: int
    """Per answer, as priced."""
    output_tokens: int
    tokens_from: str
    """``history (N answers)``: the model's typical answer in the workspace's recent
    finished batches; ``assumed``: the prompt's length in and 500 tokens out."""


class EstimateOut(BaseModel):
    """What a run is estimated to cost before it starts (``docs/billing.md``, "Spend
    control")."""

    iterations: int
    """Per provider."""
    calls: int
    known_usd: Decimal
    """The cost of the providers whose price is known (USD, a decimal string)."""
    unpriced: list[str]
    """Providers whose model has no price: their cost is unknown, not zero."""
    providers: list[ProviderEstimateOut]
    half_width: float
    """Precision: the half-width of the 95% interval of a provider's rate at 50%."""

    @classmethod
    def of(cls, estimated: Estimate) -> EstimateOut:
        return cls(
            iterations=estimated.iterations,
            calls=estimated.calls,
            known_usd=estimated.known_usd,
            unpriced=estimated.unpriced,
            providers=[
                ProviderEstimateOut(
                    provider=cost.provider,
                    usd=cost.usd,
                    input_tokens=cost.input_tokens,
                    output_tokens=cost.output_tokens,
                    tokens_from=cost.tokens_from,
                )
                for cost in estimated.providers
            ],
            half_width=estimated.half_width,
        )
