"""Retention (PRIV-01): each data class goes at its time and not before, in bounded
batches, idempotently; redaction keeps the extracted facts and the metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.accounts import export as account_exports
from echo_ai.accounts import retention
from echo_ai.accounts.models import DataExport, ExportStatus
from echo_ai.auth.models import RefreshToken, User, UserToken
from echo_ai.billing.plans import PlanName
from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.mail.models import MailStatus, OutboundMail
from echo_ai.privacy.audit import Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment, ExperimentStatus, Iteration
from echo_ai.schedules.scheduler import DAILY_TASKS, Scheduler
from echo_ai.workspaces.models import Workspace
from tests.factories import brand_set

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
METRICS = {"target": {"mention_rate": {"value": 0.5, "low": 0.3, "high": 0.7}}, "n": 250}


async def seeded(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    plan: PlanName = PlanName.FREE,
    own_days: int | None = None,
    answers: int = 10,
    failures: int = 0,
    at: datetime = T0,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A workspace with one finished experiment whose batch stored ``answers`` answers
    and ``failures`` failed calls at ``at``: (workspace id, experiment id)."""
    async with transaction(session_factory) as session:
        workspace = Workspace(name="Acme", plan=plan, answer_retention_days=own_days)
        session.add(workspace)
        await session.flush()
        experiment = Experiment(
            workspace_id=workspace.id,
            name="CRM",
            prompt="Best CRM?",
            brands=brand_set().model_dump(mode="json"),
            providers=["demo"],
            iterations=answers + failures,
            status=ExperimentStatus.COMPLETED,
            created_at=at,
        )
        session.add(experiment)
        await session.flush()
        batch = BatchRun(
            experiment_id=experiment.id,
            provider="demo",
            model="demo",
            status=BatchStatus.COMPLETED,
            iterations_requested=answers + failures,
            temperature=1.0,
            chunk_size=50,
            stored=answers + failures,
            succeeded=answers,
            failed=failures,
            metrics=METRICS,
            created_at=at,
            finished_at=at + timedelta(minutes=5),
        )
        session.add(batch)
        await session.flush()
        for index in range(answers):
            session.add(
                Iteration(
                    batch_run_id=batch.id,
                    index=index,
                    success=True,
                    answer=f"HubSpot is great, call +1 555 0100 ({index})",
                    answer_class="complete",
                    reasoning="thinking about CRMs",
                    extraction={"brands_in_order": ["HubSpot"], "mentions": [], "absences": []},
                    citations=[{"url": "https://hubspot.com", "title": "HubSpot"}],
                    cost_usd=Decimal("0.001"),
                    created_at=at + timedelta(minutes=1),
                )
            )
        for index in range(answers, answers + failures):
            session.add(
                Iteration(
                    batch_run_id=batch.id,
                    index=index,
                    success=False,
                    error_code="rate_limited",
                    error_message="429 from vendor: account bob@example.com over quota",
                    created_at=at + timedelta(minutes=1),
                )
            )
        return workspace.id, experiment.id


async def iterations_of(
    session_factory: async_sessionmaker[AsyncSession], experiment_id: uuid.UUID
) -> list[Iteration]:
    async with session_factory() as session:
        return list(
            await session.scalars(
                select(Iteration)
                .join(BatchRun, BatchRun.id == Iteration.batch_run_id)
                .where(BatchRun.experiment_id == experiment_id)
                .order_by(Iteration.index)
            )
        )


async def batch_of(
    session_factory: async_sessionmaker[AsyncSession], experiment_id: uuid.UUID
) -> BatchRun:
    async with session_factory() as session:
        found = await session.scalar(
            select(BatchRun).where(BatchRun.experiment_id == experiment_id)
        )
        assert found is not None
        return found


async def run(runtime: Runtime, now: datetime, **kwargs: Any) -> retention.RetentionReport:
    return await retention.apply(
        runtime.session_factory, now=now, settings=runtime.settings, **kwargs
    )


@pytest.fixture
def small_batches(settings: Settings) -> Settings:
    settings.privacy.retention_batch_rows = 100
    return settings


async def test_answers_are_redacted_after_the_plans_retention_in_bounded_batches(
    backend: str, small_batches: Settings, runtime: Runtime
) -> None:
    _, experiment_id = await seeded(runtime.session_factory, answers=250, failures=3)
    before = await batch_of(runtime.session_factory, experiment_id)
    # The free plan keeps raw answers 30 days: not a day less.
    kept = await run(runtime, T0 + 29 * DAY)
    assert kept.answers_redacted == 0 and kept.transactions == 0
    assert all(
        it.answer for it in (await iterations_of(runtime.session_factory, experiment_id))[:250]
    )

    now = T0 + 31 * DAY
    done = await run(runtime, now)
    assert done.answers_redacted == 250
    assert done.error_texts_cleared == 3  # past their 30 days too
    # answers: 100 + 100 + 50 rows, each in its own transaction; the error texts: one
    assert done.transactions == 3 + 1
    rows = await iterations_of(runtime.session_factory, experiment_id)
    answers = [it for it in rows if it.success]
    assert all(it.answer is None and it.reasoning is None for it in answers)
    assert all(it.redacted_at == now for it in answers)
    # what was extracted and the figures stay
    assert all(
        it.extraction == {"brands_in_order": ["HubSpot"], "mentions": [], "absences": []}
        for it in answers
    )
    assert all(
        it.citations == [{"url": "https://hubspot.com", "title": "HubSpot"}] for it in answers
    )
    assert all(it.cost_usd == Decimal("0.001") for it in answers)
    # failed calls had no answer to redact: not marked
    assert all(it.redacted_at is None for it in rows if not it.success)
    after = await batch_of(runtime.session_factory, experiment_id)
    assert (after.metrics, after.succeeded, after.failed, after.stored) == (
        before.metrics,
        before.succeeded,
        before.failed,
        before.stored,
    )

    again = await run(runtime, now + DAY)
    assert again.counts() == dict.fromkeys(again.counts(), 0) and again.transactions == 0
    assert {
        it.redacted_at
        for it in await iterations_of(runtime.session_factory, experiment_id)
        if it.success
    } == {now}


async def test_the_workspace_setting_then_the_plan_then_the_operator_setting_decide(
    backend: str, settings: Settings, runtime: Runtime
) -> None:
    settings.privacy.answer_retention_days = 50
    _, own = await seeded(runtime.session_factory, plan=PlanName.BUSINESS, own_days=10)
    _, team = await seeded(runtime.session_factory, plan=PlanName.TEAM)
    _, business = await seeded(runtime.session_factory, plan=PlanName.BUSINESS)
    _, self_hosted = await seeded(runtime.session_factory, plan=PlanName.SELF_HOSTED)

    async def redacted() -> set[uuid.UUID]:
        found = set()
        for experiment_id in (own, team, business, self_hosted):
            rows = await iterations_of(runtime.session_factory, experiment_id)
            if all(it.redacted_at is not None for it in rows):
                found.add(experiment_id)
        return found

    await run(runtime, T0 + 9 * DAY)
    assert await redacted() == set()
    await run(runtime, T0 + 11 * DAY)
    assert await redacted() == {own}
    await run(runtime, T0 + 51 * DAY)  # self_hosted: no plan figure, the operator's 50 days
    assert await redacted() == {own, self_hosted}
    await run(runtime, T0 + 91 * DAY)
    assert await redacted() == {own, self_hosted, team}
    await run(runtime, T0 + 364 * DAY)
    assert business not in await redacted()
    await run(runtime, T0 + 366 * DAY)
    assert await redacted() == {own, self_hosted, team, business}


async def test_error_texts_go_after_their_own_retention_and_the_codes_stay(
    backend: str, settings: Settings, runtime: Runtime
) -> None:
    settings.privacy.error_retention_days = 20
    _, experiment_id = await seeded(
        runtime.session_factory, plan=PlanName.BUSINESS, answers=2, failures=4
    )
    assert (await run(runtime, T0 + 19 * DAY)).error_texts_cleared == 0
    done = await run(runtime, T0 + 21 * DAY)
    assert done.error_texts_cleared == 4 and done.answers_redacted == 0
    rows = await iterations_of(runtime.session_factory, experiment_id)
    failed = [it for it in rows if not it.success]
    assert [(it.error_code, it.error_message) for it in failed] == [("rate_limited", None)] * 4
    assert all(it.answer for it in rows if it.success)
    assert (await run(runtime, T0 + 22 * DAY)).error_texts_cleared == 0


async def test_audit_events_mails_deleted_accounts_and_expired_exports(
    backend: str, small_batches: Settings, runtime: Runtime
) -> None:
    settings = small_batches
    factory = runtime.session_factory
    exports = settings.data_dir / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "old.zip").write_bytes(b"PK")
    (exports / "fresh.zip").write_bytes(b"PK")
    (exports / "gone.zip").write_bytes(b"PK")
    async with transaction(factory) as session:
        for n in range(150):
            session.add(
                AuditEvent(
                    action="auth.login_succeeded",
                    actor_type="user",
                    created_at=T0,
                    details={"n": n},
                )
            )
        session.add(
            AuditEvent(
                action="auth.login_succeeded",
                actor_type="user",
                created_at=T0 + 10 * DAY,
                details={},
            )
        )
        for status in (MailStatus.SENT, MailStatus.FAILED, MailStatus.QUEUED):
            session.add(
                OutboundMail(
                    to_address="ann@example.com",
                    kind="verify_email",
                    subject="Hi",
                    text_body="Hello",
                    status=status,
                    created_at=T0,
                )
            )
        gone = User(email="pseudonym-1@deleted.invalid", password_hash="x", deleted_at=T0)
        recent = User(
            email="pseudonym-2@deleted.invalid", password_hash="x", deleted_at=T0 + 10 * DAY
        )
        alive = User(email="ann@example.com", password_hash="x")
        session.add_all([gone, recent, alive])
        await session.flush()
        session.add(
            RefreshToken(
                user_id=gone.id,
                family_id=uuid.uuid4(),
                token_hash="a" * 64,
                expires_at=T0 + 30 * DAY,
            )
        )
        for user, name, expires in (
            (alive, "old.zip", T0 + DAY),
            (recent, "fresh.zip", T0 + 40 * DAY),
            (gone, "gone.zip", T0 + 40 * DAY),
        ):
            session.add(
                DataExport(
                    user_id=user.id,
                    status=ExportStatus.READY,
                    token_hash=uuid.uuid4().hex * 2,
                    file_name=name,
                    size_bytes=2,
                    expires_at=expires,
                )
            )
        gone_id, recent_id, alive_id = gone.id, recent.id, alive.id

    early = await run(runtime, T0 + 29 * DAY)
    assert early.counts() == dict.fromkeys(early.counts(), 0) | {"exports_expired": 1}
    assert not (exports / "old.zip").exists() and (exports / "fresh.zip").exists()
    assert (exports / "gone.zip").exists()

    done = await run(runtime, T0 + 31 * DAY)
    assert (done.mails_deleted, done.accounts_purged, done.audit_events_deleted) == (2, 1, 0)
    assert not (exports / "gone.zip").exists()  # the purged account's export file too
    assert (exports / "fresh.zip").exists()
    async with factory() as session:
        users = set(await session.scalars(select(User.id)))
        assert users == {recent_id, alive_id}
        assert gone_id not in users
        assert await session.scalar(select(func.count()).select_from(RefreshToken)) == 0
        mails = list(await session.scalars(select(OutboundMail.status)))
        assert mails == [MailStatus.QUEUED]
        statuses = dict(
            (await session.execute(select(DataExport.file_name, DataExport.status))).all()
        )
        assert statuses == {"old.zip": ExportStatus.EXPIRED, "fresh.zip": ExportStatus.READY}

    assert (await run(runtime, T0 + 729 * DAY)).audit_events_deleted == 0
    audit = await run(runtime, T0 + 731 * DAY)
    assert audit.audit_events_deleted == 150  # 100 + 50, in two transactions
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 1
    last = await run(runtime, T0 + 732 * DAY)
    assert last.audit_events_deleted == 0


async def test_a_dry_run_counts_and_changes_nothing(
    backend: str, settings: Settings, runtime: Runtime
) -> None:
    _, experiment_id = await seeded(runtime.session_factory, answers=5, failures=2)
    async with transaction(runtime.session_factory) as session:
        ann = User(email="ann@example.com", password_hash="x")
        session.add(ann)
        await session.flush()
        session.add(
            DataExport(
                user_id=ann.id,
                status=ExportStatus.READY,
                token_hash=uuid.uuid4().hex * 2,
                file_name="old.zip",
                expires_at=T0 + DAY,
            )
        )
    dry = await run(runtime, T0 + 400 * DAY, dry_run=True)
    assert (dry.answers_redacted, dry.error_texts_cleared, dry.exports_expired) == (5, 2, 1)
    # one transaction each: the answers, the error texts, the export's expiry
    assert dry.transactions == 3
    rows = await iterations_of(runtime.session_factory, experiment_id)
    assert all(it.redacted_at is None and (it.answer or it.error_message) for it in rows)
    async with runtime.session_factory() as session:
        assert await session.scalar(select(DataExport.status)) is ExportStatus.READY

    real = await run(runtime, T0 + 400 * DAY)
    assert real.counts() == dry.counts() and real.transactions == dry.transactions


async def test_a_dry_run_counts_the_transactions_of_bounded_batches_as_a_real_one(
    backend: str, small_batches: Settings, runtime: Runtime
) -> None:
    await seeded(runtime.session_factory, answers=250, failures=3)
    async with transaction(runtime.session_factory) as session:
        for n in range(3):
            session.add(
                User(email=f"pseudonym-{n}@deleted.invalid", password_hash="x", deleted_at=T0)
            )
    dry = await run(runtime, T0 + 400 * DAY, dry_run=True)
    real = await run(runtime, T0 + 400 * DAY)
    assert real.counts() == dry.counts()
    assert (real.answers_redacted, real.accounts_purged) == (250, 3)
    # answers 100 + 100 + 50, the error texts, the accounts: 3 + 1 + 1
    assert real.transactions == dry.transactions == 5


async def test_a_rescore_of_redacted_answers_is_refused_with_the_reason(
    backend: str, settings: Settings, runtime: Runtime
) -> None:
    _, experiment_id = await seeded(runtime.session_factory, answers=3)
    await run(runtime, T0 + 31 * DAY)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        with pytest.raises(experiment_service.AnswersRedacted) as refused:
            await experiment_service.rescore(session, experiment, actor=Actor.cli())
    assert refused.value.status_code == 409
    assert refused.value.code == "answers_redacted"
    assert "redacted by the retention policy" in refused.value.message
    assert refused.value.details["redacted"] == 3


async def test_the_scheduler_runs_retention_once_a_day(
    settings: Settings, runtime: Runtime
) -> None:
    assert "retention" in [task.name for task in DAILY_TASKS]
    _, experiment_id = await seeded(runtime.session_factory, answers=2)
    scheduler = Scheduler.of(runtime)
    await scheduler.tick(now=T0 + 31 * DAY)
    rows = await iterations_of(runtime.session_factory, experiment_id)
    assert all(it.redacted_at == T0 + 31 * DAY for it in rows)


def test_exports_folder_is_in_the_data_directory(settings: Settings) -> None:
    assert account_exports.exports_directory(settings.data_dir) == Path(
        settings.data_dir, "exports"
    )


async def test_old_sessions_and_mailed_tokens_are_deleted_in_bounded_batches(
    backend: str, small_batches: Settings, runtime: Runtime
) -> None:
    factory = runtime.session_factory
    days = small_batches.privacy.session_retention_days
    async with transaction(factory) as session:
        user = User(email="ann@example.com", password_hash="x")
        session.add(user)
        await session.flush()

        def token(n: int, **when: datetime) -> RefreshToken:
            return RefreshToken(
                user_id=user.id,
                family_id=uuid.uuid4(),
                token_hash=f"{n:064d}",
                created_at=T0 - 40 * DAY,
                expires_at=when.pop("expires_at", T0 + 100 * DAY),
                ip="203.0.113.9",
                user_agent="Firefox",
                **when,
            )

        # 150 expired at T0 (two batches of 100), one revoked, one used, at T0.
        session.add_all(token(n, expires_at=T0) for n in range(150))
        session.add(token(150, revoked_at=T0))
        session.add(token(151, used_at=T0))
        live = token(152)  # live until T0 + 100 days
        later = token(153, revoked_at=T0 + 10 * DAY)
        session.add_all([live, later])
        for n, (expires, used) in enumerate(
            ((T0, None), (T0 + 40 * DAY, T0), (T0 + 40 * DAY, None))
        ):
            session.add(
                UserToken(
                    user_id=user.id,
                    purpose="reset_password",
                    token_hash=f"{n:064x}",
                    email="ann@example.com",
                    created_at=T0 - DAY,
                    expires_at=expires,
                    used_at=used,
                )
            )
        await session.flush()
        live_id, later_id = live.id, later.id

    early = await run(runtime, T0 + days * DAY)
    assert (early.sessions_deleted, early.user_tokens_deleted) == (0, 0)
    done = await run(runtime, T0 + (days + 1) * DAY)
    assert (done.sessions_deleted, done.user_tokens_deleted) == (152, 2)
    assert done.counts()["sessions_deleted"] == 152
    assert done.counts()["user_tokens_deleted"] == 2
    async with factory() as session:
        assert set(await session.scalars(select(RefreshToken.id))) == {live_id, later_id}
        assert list(await session.scalars(select(UserToken.expires_at))) == [T0 + 40 * DAY]
    again = await run(runtime, T0 + (days + 1) * DAY)
    assert (again.sessions_deleted, again.user_tokens_deleted) == (0, 0)
    assert (await run(runtime, T0 + (days + 11) * DAY)).sessions_deleted == 1
