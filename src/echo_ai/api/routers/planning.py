"""HTTP route of the sample-size planner (:mod:`echo_ai.experiments.planning`): how many
answers a precision or a change needs. Any signed-in user or key may ask; nothing is read
or stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from echo_ai.analysis.sampling import MAX_HALF_WIDTH, MIN_ANSWERS
from echo_ai.api.auth import CurrentPrincipal
from echo_ai.api.errors import AUTH_ERRORS, error_responses
from echo_ai.experiments import planning

router = APIRouter(tags=["planning"], responses=error_responses(*AUTH_ERRORS, 422))


@router.get("/v1/planning/sample-size", response_model=planning.Plan)
def sample_size(
    _: CurrentPrincipal,
    half_width: Annotated[
        float | None,
        Query(
            gt=0.0,
            le=MAX_HALF_WIDTH,
            description="A precision: ±this fraction (0.05 = ±5 points).",
        ),
    ] = None,
    expected_rate: Annotated[
        float, Query(ge=0.0, le=1.0, description="The rate to plan for (0.5: the worst case).")
    ] = 0.5,
    confidence: Annotated[float, Query(ge=0.5, le=0.999)] = 0.95,
    max_answers: Annotated[
        int,
        Query(
            ge=MIN_ANSWERS,
            le=100_000,
            description="Adaptive sampling's maximum answers per provider.",
        ),
    ] = 1_000,
    min_answers: Annotated[
        int,
        Query(
            ge=MIN_ANSWERS,
            le=100_000,
            description="Adaptive sampling's minimum of complete answers per provider.",
        ),
    ] = MIN_ANSWERS,
    change_from: Annotated[
        float | None, Query(ge=0.0, le=1.0, description="A change to detect: from this rate…")
    ] = None,
    change_to: Annotated[float | None, Query(ge=0.0, le=1.0, description="…to this one.")] = None,
    power: Annotated[float, Query(ge=0.5, le=0.99)] = 0.8,
    significance: Annotated[float, Query(ge=0.001, le=0.2)] = 0.05,
) -> planning.Plan:
    """Answers per provider for a precision (a fixed count, and adaptive sampling's
    expected cost at the expected rate), and answers per period (run) to detect a change
    from one rate to another with the given power. 422 when neither is asked or a figure
    is out of reach."""
    return planning.plan(
        half_width=half_width,
        expected_rate=expected_rate,
        confidence=confidence,
        max_answers=max_answers,
        min_answers=min_answers,
        change_from=change_from,
        change_to=change_to,
        power=power,
        significance=significance,
    )
