"""What the engine is told about a batch it has claimed: a frozen value, not the models.

The engine (:mod:`echo_ai.execution`) never reads an ``Experiment``: it gets everything it
needs to make and store the calls of one batch in a :class:`ClaimedBatch`, read once when
the batch is claimed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from echo_ai.analysis.brands import BrandSet
from echo_ai.metering.ledger import Caps
from echo_ai.providers.base import UserLocation
from echo_ai.runs.adaptive import Precision
from echo_ai.runs.models import BatchRun


@dataclass(frozen=True)
class ClaimedBatch:
    id: uuid.UUID
    experiment_id: uuid.UUID
    workspace_id: uuid.UUID | None
    """None only for rows older than workspaces (nothing to meter them against)."""
    provider: str
    model: str
    temperature: float
    seed: int
    iterations_requested: int
    chunk_size: int
    prompt: str
    persona: str | None
    """Who asks: sent as the request's system prompt (None: the prompt alone)."""
    brands: BrandSet
    grounding: bool
    require_grounding: bool
    user_location: UserLocation | None
    demo_probabilities: dict[str, float] | None
    """Brand name -> chance the offline demo provider mentions it (None: defaults)."""
    caps: Caps | None = None
    """The budgets each call reserves against, read at the claim; None when no cap applies
    or the model costs nothing (the demo provider): then no call reserves anything."""
    reserve_nusd: int = 0
    """What each call reserves (nano-USD): the model's typical answer priced with its
    certain fees (:mod:`echo_ai.providers.assumed`); 0 for a model without a price."""
    precision: Precision | None = None
    """Adaptive sampling's target: the batch runs its chunks in order, looking after each
    (:mod:`echo_ai.runs.adaptive`); None: every chunk runs."""
    scrub: bool = False
    """The workspace scrubs personal data: e-mail addresses and phone numbers are taken
    out of answers, reasoning and error texts before they are stored (and extracted)."""

    @classmethod
    def of(
        cls, batch: BatchRun, *, caps: Caps | None = None, reserve_nusd: int = 0
    ) -> ClaimedBatch:
        """The batch and what it needs of its experiment (which must be loaded)."""
        experiment = batch.experiment
        location: dict[str, Any] | None = experiment.user_location
        return cls(
            id=batch.id,
            experiment_id=batch.experiment_id,
            workspace_id=experiment.workspace_id,
            provider=batch.provider,
            model=batch.model,
            temperature=batch.temperature,
            seed=batch.seed,
            iterations_requested=batch.iterations_requested,
            chunk_size=batch.chunk_size,
            prompt=experiment.prompt,
            persona=experiment.persona,
            brands=BrandSet.model_validate(experiment.brands),
            grounding=experiment.grounding,
            require_grounding=experiment.require_grounding,
            user_location=UserLocation(**location) if location else None,
            demo_probabilities=experiment.demo_probabilities,
            caps=caps,
            reserve_nusd=reserve_nusd,
            precision=None if batch.precision is None else Precision.of(batch.precision),
        )

    def chunk_range(self, chunk: int) -> range:
        start = chunk * self.chunk_size
        return range(start, min(start + self.chunk_size, self.iterations_requested))
