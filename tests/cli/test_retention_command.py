"""``echo-ai retention run``: the operator's retention pass, dry or not, as text or JSON,
counted in the Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from echo_ai.cli import app as cli
from echo_ai.config import Settings
from echo_ai.db import create_engine, create_session_factory, transaction, utcnow
from echo_ai.observability.metrics import REGISTRY
from echo_ai.runs.models import BatchRun, Experiment, Iteration


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


async def _age(data_dir: Path, days: int) -> None:
    """Move everything the command line stored ``days`` into the past."""
    engine = create_engine(Settings(data_dir=data_dir))
    then = utcnow() - timedelta(days=days)
    try:
        async with transaction(create_session_factory(engine)) as session:
            await session.execute(update(Experiment).values(created_at=then))
            await session.execute(update(BatchRun).values(created_at=then, finished_at=then))
            await session.execute(update(Iteration).values(created_at=then))
    finally:
        await engine.dispose()


def redacted_total() -> float:
    return (
        REGISTRY.get_sample_value("retention_rows_total", {"data_class": "answers_redacted"}) or 0.0
    )


async def test_retention_run_counts_dry_then_applies_once(cli_env: Path) -> None:
    code, _, err = await asyncio.to_thread(
        invoke, "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--iterations", "5", "--json"
    )
    assert code == 0, err
    code, out, err = await asyncio.to_thread(invoke, "retention", "run", "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["answers_redacted"] == 0  # nothing is old yet

    await _age(cli_env, 400)
    before = redacted_total()
    code, out, err = await asyncio.to_thread(invoke, "retention", "run", "--dry-run", "--json")
    assert code == 0, err
    dry = json.loads(out)
    assert (dry["answers_redacted"], dry["dry_run"], dry["transactions"]) == (5, True, 1)
    assert (dry["alerts_deleted"], dry["alert_deliveries_deleted"]) == (0, 0)  # in the pass
    assert redacted_total() == before  # a dry run counts nothing in the metrics

    code, out, err = await asyncio.to_thread(invoke, "retention", "run")
    assert code == 0, err
    assert "answers redacted: 5" in out
    assert "retention pass changed rows in 1 transaction(s)" in out  # as the dry run said
    assert redacted_total() == before + 5

    code, out, err = await asyncio.to_thread(invoke, "retention", "run", "--json")
    assert code == 0, err
    assert json.loads(out)["answers_redacted"] == 0
