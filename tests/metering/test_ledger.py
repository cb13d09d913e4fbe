"""The monthly counters: reservations never pass a cap, even when many are taken at once;
releases and stored lines move the counters by exactly what they say."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from echo_ai.config import Settings
from echo_ai.db import create_engine, create_session_factory, transaction
from echo_ai.metering import ledger
from echo_ai.metering.ledger import Caps, Refusal, Reservation, StoredLine
from echo_ai.metering.models import ExperimentMonth, SpendLine, UsageMonth, WorkspaceBudget
from echo_ai.metering.units import UsdText, month_of, to_nano, to_usd, usd_text

pytestmark = pytest.mark.usefixtures("backend")

MONTH = "2026-11"


def test_nano_dollars_are_exact_and_unknown_is_nothing() -> None:
    assert to_nano(Decimal("0.000000015")) == 15
    assert to_nano(Decimal("0.0000000004")) == 0
    assert to_nano(Decimal("0.0000000005")) == 1  # half up
    assert to_nano(None) == 0
    assert to_usd(to_nano(Decimal("12.345678901"))) == Decimal("12.345678901")
    assert to_usd(0) == 0


def test_amounts_answer_as_plain_decimals() -> None:
    """``str`` of a Decimal writes whole tens as ``1E+1`` and tiny amounts with an exponent:
    the API's money is written without one."""
    from pydantic import BaseModel

    class Out(BaseModel):
        usd: UsdText

    assert usd_text(to_usd(10_000_000_000)) == "10.00"
    assert usd_text(to_usd(500)) == "0.0000005"
    assert usd_text(Decimal("1E+1")) == "10.00"
    assert Out(usd=to_usd(10_000_000_000)).model_dump_json() == '{"usd":"10.00"}'
    assert Out(usd=to_usd(5)).model_dump_json() == '{"usd":"0.000000005"}'


def test_a_month_is_the_utc_calendar_month() -> None:
    from datetime import datetime, timedelta, timezone

    late_in_new_york = datetime(2026, 11, 30, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert month_of(late_in_new_york) == "2026-12"


async def _factory(settings: Settings) -> tuple[async_sessionmaker[AsyncSession], AsyncEngine]:
    engine = create_engine(settings)
    return create_session_factory(engine), engine


async def _row(factory: async_sessionmaker[AsyncSession], table: type, **key: object) -> object:
    async with transaction(factory) as session:
        query = select(table).filter_by(**key)
        return (await session.scalars(query)).one_or_none()


def _caps(
    workspace: uuid.UUID,
    experiment: uuid.UUID,
    *,
    workspace_cap: int | None = None,
    experiment_cap: int | None = None,
) -> Caps:
    return Caps(workspace, experiment, workspace_cap, experiment_cap)


async def test_reservations_stop_at_the_workspace_cap_and_release_returns_them(
    settings: Settings,
) -> None:
    factory, engine = await _factory(settings)
    workspace, experiment = uuid.uuid4(), uuid.uuid4()
    caps = _caps(workspace, experiment, workspace_cap=1_000)
    taken: list[Reservation] = []
    async with transaction(factory) as session:
        for _ in range(4):
            result = await ledger.reserve(session, caps, 300, month=MONTH)
            if isinstance(result, Reservation):
                taken.append(result)
            else:
                refused = result
    assert len(taken) == 3
    assert refused == Refusal("workspace", 1_000, 0, 900)
    async with transaction(factory) as session:
        await ledger.release(session, taken[:2])
    usage = await _row(factory, UsageMonth, workspace_id=workspace, month=MONTH)
    assert isinstance(usage, UsageMonth) and usage.reserved_nusd == 300
    own = await _row(factory, ExperimentMonth, experiment_id=experiment, month=MONTH)
    assert isinstance(own, ExperimentMonth) and own.reserved_nusd == 300
    await engine.dispose()


async def test_an_experiment_cap_refusal_takes_nothing_from_the_workspace(
    settings: Settings,
) -> None:
    factory, engine = await _factory(settings)
    workspace, experiment = uuid.uuid4(), uuid.uuid4()
    caps = _caps(workspace, experiment, workspace_cap=10_000, experiment_cap=500)
    async with transaction(factory) as session:
        first = await ledger.reserve(session, caps, 400, month=MONTH)
        second = await ledger.reserve(session, caps, 400, month=MONTH)
    assert isinstance(first, Reservation)
    assert second == Refusal("experiment", 500, 0, 400)
    usage = await _row(factory, UsageMonth, workspace_id=workspace, month=MONTH)
    assert isinstance(usage, UsageMonth) and usage.reserved_nusd == 400
    await engine.dispose()


async def test_stored_cost_counts_against_the_cap(settings: Settings) -> None:
    factory, engine = await _factory(settings)
    workspace, experiment = uuid.uuid4(), uuid.uuid4()
    line = StoredLine(workspace, experiment, "openai:gpt-4o", iterations=3, cost_nusd=800)
    async with transaction(factory) as session:
        await ledger.record_stored(session, [line], month=MONTH)
        await ledger.record_stored(session, [line], month=MONTH)
        refused = await ledger.reserve(
            session, _caps(workspace, experiment, workspace_cap=1_700), 101, month=MONTH
        )
        allowed = await ledger.reserve(
            session, _caps(workspace, experiment, workspace_cap=1_700), 100, month=MONTH
        )
    assert refused == Refusal("workspace", 1_700, 1_600, 0)
    assert isinstance(allowed, Reservation)
    usage = await _row(factory, UsageMonth, workspace_id=workspace, month=MONTH)
    assert isinstance(usage, UsageMonth)
    assert (usage.iterations, usage.cost_nusd, usage.reserved_nusd) == (6, 1_600, 100)
    spend = await _row(factory, SpendLine, workspace_id=workspace, month=MONTH)
    assert isinstance(spend, SpendLine) and (spend.iterations, spend.cost_nusd) == (6, 1_600)
    await engine.dispose()


async def test_a_release_never_leaves_a_negative_reservation(settings: Settings) -> None:
    factory, engine = await _factory(settings)
    workspace, experiment = uuid.uuid4(), uuid.uuid4()
    async with transaction(factory) as session:
        taken = await ledger.reserve(session, _caps(workspace, experiment), 50, month=MONTH)
    assert isinstance(taken, Reservation)
    async with transaction(factory) as session:
        await ledger.release(session, [taken, taken])  # e.g. after a reconciliation reset
    usage = await _row(factory, UsageMonth, workspace_id=workspace, month=MONTH)
    assert isinstance(usage, UsageMonth) and usage.reserved_nusd == 0
    await engine.dispose()


async def test_concurrent_reservations_never_pass_the_cap(settings: Settings) -> None:
    """Many sessions at once (each its own transaction and connection) reserve on one
    small cap: the row lock (PostgreSQL) or the write lock (SQLite) lets exactly as many
    through as fit."""
    factory, engine = await _factory(settings)
    workspace, experiment = uuid.uuid4(), uuid.uuid4()
    caps = _caps(workspace, experiment, workspace_cap=2_500)
    async with transaction(factory) as session:  # the rows exist before the race
        session.add(UsageMonth(workspace_id=workspace, month=MONTH))
        session.add(ExperimentMonth(experiment_id=experiment, month=MONTH))

    async def one() -> bool:
        for _ in range(50):
            try:
                async with transaction(factory) as session:
                    return isinstance(
                        await ledger.reserve(session, caps, 100, month=MONTH), Reservation
                    )
            except Exception as error:  # SQLite: database is locked; try again
                if "locked" not in str(error):
                    raise
                await asyncio.sleep(0)
        raise AssertionError("could not reserve for 50 tries")

    results = await asyncio.gather(*(one() for _ in range(40)))
    assert sum(results) == 25
    usage = await _row(factory, UsageMonth, workspace_id=workspace, month=MONTH)
    assert isinstance(usage, UsageMonth) and usage.reserved_nusd == 2_500
    await engine.dispose()


async def test_caps_come_from_the_workspace_budget_and_the_experiment(settings: Settings) -> None:
    factory, engine = await _factory(settings)
    workspace, experiment = uuid.uuid4(), uuid.uuid4()
    async with transaction(factory) as session:
        none = await ledger.caps_of(session, workspace, experiment, None)
        session.add(WorkspaceBudget(workspace_id=workspace, monthly_usd=Decimal("12.5")))
        await session.flush()
        both = await ledger.caps_of(session, workspace, experiment, Decimal("2"))
    assert not none.any
    assert (both.workspace_nusd, both.experiment_nusd) == (12_500_000_000, 2_000_000_000)
    await engine.dispose()
