"""Small typed factories for test data."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.scoring import failure_row
from echo_ai.db import transaction
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.schemas import ExperimentCreate
from echo_ai.providers.base import ProviderError
from echo_ai.runs.models import BatchRun


def brand_set(**overrides: Any) -> BrandSet:
    data: dict[str, Any] = {
        "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
        "competitors": [
            {"name": "Salesforce", "domains": ["salesforce.com"]},
            {"name": "Pipedrive"},
            {"name": "Zoho CRM", "aliases": ["Zoho"]},
        ],
    }
    data.update(overrides)
    return BrandSet.model_validate(data)


def experiment_input(**overrides: Any) -> ExperimentCreate:
    data: dict[str, Any] = {
        "prompt": "What is the best CRM for a 10-person startup?",
        "brands": brand_set().model_dump(),
        "providers": ["demo"],
        "iterations": 40,
    }
    data.update(overrides)
    return ExperimentCreate.model_validate(data)


async def stored_experiment(
    session_factory: async_sessionmaker[AsyncSession], *, chunk_size: int = 10, **overrides: Any
) -> uuid.UUID:
    """An experiment created by the service (queued, its batches planned); its id."""
    async with transaction(session_factory) as session:
        experiment = await experiment_service.create(
            session, experiment_input(**overrides), chunk_size=chunk_size
        )
        return experiment.id


async def stored_batches(
    session_factory: async_sessionmaker[AsyncSession], experiment_id: uuid.UUID
) -> list[BatchRun]:
    """The experiment's batches as stored now."""
    async with transaction(session_factory) as session:
        return (await experiment_service.get(session, experiment_id)).batch_runs


def failed_row(batch_id: uuid.UUID, index: int) -> dict[str, object]:
    """A stored-iteration row as the runner writes it for a call that failed."""
    return failure_row(
        batch_run_id=batch_id,
        index=index,
        vendor="demo",
        model="demo",
        error=ProviderError("x"),
        attempts=1,
    )
