"""Runs one chunk of a batch: the missing iterations, concurrently, each stored as it ends.

A chunk is the unit an executor hands out (in-process or to Celery workers). Running the same
chunk twice is safe: only iterations not yet stored are run, and storage ignores repeats.
After its chunk, a runner tries to finalise the batch; the last one to finish succeeds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.analysis.scoring import failure_row, success_row
from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.db import is_transient, retry_transient, transaction, utcnow
from echo_ai.execution.lease_keeper import LeaseKeeper
from echo_ai.execution.limits import ProviderLimits
from echo_ai.execution.providers import ProviderPool, StoredKey
from echo_ai.execution.scrubbing import scrub_failure, scrubbed
from echo_ai.execution.writer import BATCH_PARAMETERS, METER, IterationWriter, Meter
from echo_ai.failures import Failure, FailureCode
from echo_ai.metering import alerts, ledger
from echo_ai.metering.ledger import Refusal, Reservation
from echo_ai.metering.units import month_of, to_usd
from echo_ai.observability.metrics import record_iteration
from echo_ai.providers.base import (
    AnswerClass,
    AuthenticationFailed,
    BadRequest,
    Completion,
    CompletionRequest,
    GroundingMissing,
    PermissionDenied,
    Provider,
    ProviderError,
    ProviderNotConfigured,
    QuotaExhausted,
)
from echo_ai.providers.retry import RetryPolicy, call_with_retries
from echo_ai.runs import service
from echo_ai.runs.claims import ClaimedBatch

log = logging.getLogger(__name__)

FATAL_ERRORS: tuple[type[ProviderError], ...] = (
    AuthenticationFailed,
    PermissionDenied,
    QuotaExhausted,
    BadRequest,
    ProviderNotConfigured,
)
"""Errors that every further call would repeat: the batch stops instead of burning calls."""

ProgressCallback = Callable[[uuid.UUID, str], None]
"""Called with (batch_run_id, outcome) as each iteration is stored; the outcome as
:func:`outcome_of` names it (``success``, an answer class, or an error code)."""

OnClaimed = Callable[[], Awaitable[None]]
"""Called once a chunk's claim of its batch has committed (the batch is held by this
process from then on), whether or not there was anything left to run."""


@dataclass(frozen=True)
class ChunkEnd:
    """How a chunk ended: whether it finalised its batch, and for an adaptive batch whose
    precision is not reached yet, the chunk to run next (its chunks run one after the
    other, see :mod:`echo_ai.runs.adaptive`)."""

    finalized: bool
    next_chunk: int | None = None


CANCEL_CHECK_SECONDS = 1.0
"""How often, at most, a running batch re-reads its status to notice a cancellation.

Cancellation reaches a runner two ways. The in-process executor marks the batch at once
(:meth:`Runner.cancel`, called after the cancel is committed), so no new call starts in
this process. A runner in another process (or one the mark missed) re-reads the batch's
status from the database when an iteration gets its concurrency slot, at most once per
this interval per batch: a cancellation there stops new calls within about a second,
for one cheap query a second instead of one per iteration.
"""


def failure_of(error: BaseException) -> Failure:
    """What users are told about an unexpected exception that stopped a batch (the first
    of a group): a database that stayed unavailable, or an internal error. Never the
    exception's text: the caller logs the exception itself."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if is_transient(error):
        return Failure.of(FailureCode.DATABASE_UNAVAILABLE)
    return Failure.of(FailureCode.INTERNAL_ERROR)


def outcome_of(row: Mapping[str, object]) -> str:
    """The ``outcome`` label of a stored row: ``success`` for a complete answer, the class
    of one that is not a sample (``truncated``, ``refused``, ``empty``), else the error code."""
    if not row["success"]:
        return str(row.get("error_code"))
    answer_class = row.get("answer_class")
    return "success" if answer_class == AnswerClass.COMPLETE else str(answer_class)


def budget_failure(refusal: Refusal) -> Failure:
    """A batch stopped by a cap: which one, what it is, what was spent and reserved."""
    which = (
        "the workspace's monthly budget"
        if refusal.scope == "workspace"
        else ("the experiment's budget")
    )
    return Failure.of(
        FailureCode.BUDGET_EXHAUSTED,
        f"Refused by {which} of ${to_usd(refusal.cap_nusd):,.2f}: "
        f"${to_usd(refusal.cost_nusd):,.4f} spent and ${to_usd(refusal.reserved_nusd):,.4f} "
        "reserved by calls in flight this month.",
    )


def provider_failure(error: ProviderError) -> Failure:
    """A batch stopped by a provider error that every further call would repeat."""
    return Failure.from_provider(error.code, error.message)


@dataclass
class Runner:
    session_factory: async_sessionmaker[AsyncSession]
    providers: ProviderPool
    limits: ProviderLimits
    leases: LeaseKeeper
    """This process's leases on the batches it runs."""
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_progress: ProgressCallback | None = None
    clock: Clock = SYSTEM_CLOCK
    """Times the status re-reads (tests drive it instead of waiting)."""
    budget_alert_share: float = 0.8
    """Share of a workspace's monthly budget at which its alert is raised
    (``settings.billing.budget_alert_share``)."""
    on_finalized: Callable[[uuid.UUID], Awaitable[None]] | None = None
    """Called with a batch's id once the transaction that ended it has committed: that
    finalised it (completed, or failed with no answer), or stopped it (a fatal provider
    error, a crashed chunk, a lost worker, a budget), whichever ended it, once per batch:
    the alert rules' evaluation of its run, which the batch may have completed
    (:class:`~echo_ai.execution.background.BackgroundJobs`, set by the process). A failure
    is logged; the scheduler's tick evaluates the complete runs that nobody did."""
    _writer: IterationWriter = field(init=False)
    _aborted: dict[uuid.UUID, Failure] = field(init=False, default_factory=dict)
    """Batches a fatal error stopped in this process: their other chunks call no more."""
    _cancelled: set[uuid.UUID] = field(init=False, default_factory=set)
    """Batches known to be cancelled (or ended by another process: failed, done): no new
    call starts for them in this process."""
    _checked_at: dict[uuid.UUID, float] = field(init=False, default_factory=dict)
    """When each running batch last re-read its status (``clock.monotonic()``)."""
    _errors_logged: set[tuple[uuid.UUID, str]] = field(init=False, default_factory=set)
    """(batch, error code) of the provider errors already logged with their cause."""
    _no_larger_limit: set[uuid.UUID] = field(init=False, default_factory=set)
    """Batches whose model refused the larger output limit: truncated answers are kept."""
    _exhausted: dict[uuid.UUID, Refusal] = field(init=False, default_factory=dict)
    """Batches a cap refused a call of in this process: their chunks call no more."""

    def __post_init__(self) -> None:
        self._writer = IterationWriter(self.session_factory, clock=self.clock)

    async def aclose(self) -> None:
        """At shutdown, once the batches' tasks are stopped: store the answers their calls
        already brought (before the database is closed under them)."""
        await self._writer.drain()

    def forget(self, batch_run_id: uuid.UUID) -> None:
        """Drop what this process remembers of a batch once none of its chunks is running."""
        self._aborted.pop(batch_run_id, None)
        self._cancelled.discard(batch_run_id)
        self._checked_at.pop(batch_run_id, None)
        self._no_larger_limit.discard(batch_run_id)
        self._exhausted.pop(batch_run_id, None)
        self._errors_logged = {key for key in self._errors_logged if key[0] != batch_run_id}

    def halted(self, batch_run_id: uuid.UUID) -> bool:
        """Whether this process knows that no new call may start for the batch (a fatal
        error, a crash, a cap's refusal, a cancellation, or its lease taken over by
        another process): its remaining chunks need not be started."""
        return (
            batch_run_id in self._aborted
            or batch_run_id in self._exhausted
            or batch_run_id in self._cancelled
            or self.leases.lost(batch_run_id)
        )

    def cancel(self, batch_run_id: uuid.UUID) -> None:
        """Start no new call for this (cancelled) batch; calls in flight finish and are
        stored."""
        self._cancelled.add(batch_run_id)

    async def _stopped(self, batch_run_id: uuid.UUID) -> bool:
        """Whether no new call may start for the batch: a fatal error, a cancellation, or
        the batch ended elsewhere (another worker's chunk failed it), re-read from the
        database at most every :data:`CANCEL_CHECK_SECONDS`."""
        if self.halted(batch_run_id):
            return True
        now = self.clock.monotonic()
        last = self._checked_at.get(batch_run_id)
        if last is not None and now - last < CANCEL_CHECK_SECONDS:
            return False
        self._checked_at[batch_run_id] = now  # before the query: one reader at a time
        try:
            async with transaction(self.session_factory) as session:
                finished = await service.is_finished(session, batch_run_id)
        except Exception as error:
            if not is_transient(error):
                raise
            # A busy database must not stop calls (or fail the chunk): read it next time.
            log.warning("could not re-read the status of batch %s: database busy", batch_run_id)
            return False
        if finished:
            self._cancelled.add(batch_run_id)
        return finished

    async def run_chunk(
        self, batch_run_id: uuid.UUID, chunk: int, *, on_claimed: OnClaimed | None = None
    ) -> ChunkEnd:
        """Run a chunk's missing iterations, holding the batch's lease meanwhile: whether
        this call finalised the batch, and the chunk an adaptive batch runs next."""
        async with self.leases.hold(batch_run_id):
            return await self._run_chunk(batch_run_id, chunk, on_claimed)

    async def _run_chunk(
        self, batch_run_id: uuid.UUID, chunk: int, on_claimed: OnClaimed | None
    ) -> ChunkEnd:
        exclusive = self.leases.exclusive(batch_run_id)
        async with transaction(self.session_factory) as session:
            batch = await service.claim(
                session, batch_run_id, owner=self.leases.owner, exclusive=exclusive
            )
            todo = [] if batch is None else await service.missing_indices(session, batch, chunk)
            stored = None if batch is None else await self.providers.stored_key(session, batch)
        if on_claimed is not None:
            await on_claimed()
        if batch is None:
            if exclusive:  # ended, or taken over by another process: nothing more runs here
                self._cancelled.add(batch_run_id)
            return ChunkEnd(finalized=False)
        reason: Failure | None = None
        ended = False  # whether this chunk stopped the batch (a fatal error, a budget)
        if todo:
            try:
                reason = await self._run_iterations(batch, todo, stored)
            except Exception as error:
                # A bug: stop the batch's other chunks from starting new calls, let the
                # executor mark the batch failed once every chunk has ended.
                self._aborted.setdefault(batch_run_id, failure_of(error))
                raise
            if reason is not None:
                async with transaction(self.session_factory) as session:
                    ended = await service.fail(session, batch_run_id, reason)
            elif batch_run_id in self._exhausted:
                stopped = budget_failure(self._exhausted[batch_run_id])
                async with transaction(self.session_factory) as session:
                    ended = await service.exhaust(session, batch_run_id, stopped)
        next_chunk: int | None = None
        async with transaction(self.session_factory) as session:
            if batch.precision is not None and reason is None and not self.halted(batch_run_id):
                next_chunk = await service.look(session, batch, chunk)
            finalized = await service.finalize_if_complete(session, batch_run_id)
            if not finalized:
                # A failed batch is settled again by each chunk that ends, so the last one
                # leaves counts and partial metrics that include every stored iteration.
                await service.settle_failed(session, batch_run_id)
        if finalized or ended:
            await self._announce_end(batch_run_id)
        if todo and batch.caps is not None and batch.caps.workspace_nusd is not None:
            await self._alert_if_due(batch.caps.workspace_id)
        return ChunkEnd(finalized=finalized, next_chunk=None if finalized else next_chunk)

    async def fail_batch(self, batch_run_id: uuid.UUID, failure: Failure) -> None:
        """Mark a batch failed from outside its chunks (a crashed chunk, a lost worker),
        announcing its end (:attr:`on_finalized`) if this ended it."""
        async with transaction(self.session_factory) as session:
            ended = await service.fail(session, batch_run_id, failure)
        if ended:
            await self._announce_end(batch_run_id)

    async def _announce_end(self, batch_run_id: uuid.UUID) -> None:
        """Call :attr:`on_finalized` for a batch that just ended (after its commit)."""
        if self.on_finalized is None:
            return
        try:
            await self.on_finalized(batch_run_id)
        except Exception:
            log.exception("the alert evaluation of batch %s failed to start", batch_run_id)

    async def _alert_if_due(self, workspace_id: uuid.UUID) -> None:
        """Raise the workspace's budget alert once its month cost has reached the alert
        share (:mod:`echo_ai.metering.alerts`). Only for batches under a workspace budget:
        the default path reads nothing more. A busy database only delays it to the next
        chunk."""

        async def attempt() -> None:
            async with transaction(self.session_factory) as session:
                await alerts.raise_budget_alert(
                    session, workspace_id, now=utcnow(), share=self.budget_alert_share
                )

        try:
            await retry_transient(attempt, what="checking the budget alert", clock=self.clock)
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("could not check the budget alert of workspace %s", workspace_id)

    async def _run_iterations(
        self, batch: ClaimedBatch, indices: list[int], stored: StoredKey | None = None
    ) -> Failure | None:
        """Run the iterations (with the workspace's ``stored`` key for the vendor, if any);
        the failure if a fatal provider error stopped the batch.

        After a fatal error no new call starts, but calls already in flight finish and
        are stored: they are paid for. The same after a cap refused a call's reservation
        (:meth:`_reserve`): the refusal is kept in ``_exhausted`` for the caller.
        """
        try:
            vendor = await self.providers.get(batch, stored)
        except ProviderNotConfigured as error:
            return provider_failure(error)
        provider = self.limits.wrap(vendor, batch.model)
        matcher = BrandMatcher(batch.brands)
        slot = self.limits.semaphore(batch.provider)
        capabilities = self.providers.capabilities(batch)

        async def one(index: int) -> None:
            request = CompletionRequest(
                prompt=batch.prompt,
                system_prompt=batch.persona,
                model=batch.model,
                temperature=batch.temperature,
                max_output_tokens=capabilities.output_tokens,
                grounding=batch.grounding,
                require_grounding=batch.require_grounding,
                user_location=batch.user_location,
                seed=batch.seed * 1_000_003 + index,
            )
            async with slot:
                if await self._stopped(batch.id):
                    return
                reservation = await self._reserve_to_the_end(batch)
                if isinstance(reservation, Refusal):
                    self._exhausted.setdefault(batch.id, reservation)
                    return
                try:
                    row, fatal = await self._attempt(
                        provider, request, batch, index, matcher, capabilities.retry_output_tokens
                    )
                except BaseException:
                    # No row will carry it to the writer: taken back now (even when the
                    # task is being cancelled, the release itself runs to its end).
                    if reservation is not None:
                        await asyncio.shield(self._release(reservation))
                    raise
                latency, cost = row.get("latency_ms"), row.get("cost_usd")
                outcome = outcome_of(row)
                record_iteration(
                    batch.provider,
                    batch.model,
                    outcome,
                    latency / 1000 if isinstance(latency, int | float) else None,
                    cost if isinstance(cost, Decimal | float) else None,
                )
                if fatal is not None:
                    self._aborted.setdefault(batch.id, provider_failure(fatal))
            if batch.workspace_id is not None:
                row[METER] = Meter(
                    batch.workspace_id,
                    batch.experiment_id,
                    f"{batch.provider}:{batch.model}",
                    reservation=reservation,
                )
            elif reservation is not None:  # pragma: no cover - caps need a workspace
                await self._release(reservation)
            try:
                await self._writer.write(row)
            except asyncio.CancelledError:
                raise  # the writer's own task still stores the row (and releases it)
            except Exception:
                # Not stored (the database stayed unavailable, or the row was refused):
                # its reservation would otherwise stay until the month's reconciliation.
                if reservation is not None:
                    await asyncio.shield(self._release(reservation))
                raise
            if self.on_progress is not None:
                self.on_progress(batch.id, outcome)

        async with asyncio.TaskGroup() as group:
            for index in indices:
                group.create_task(one(index))
        return self._aborted.get(batch.id)

    async def _reserve(self, batch: ClaimedBatch) -> Reservation | Refusal | None:
        """Reserve a call's estimated cost against the batch's caps (read at the claim);
        None when nothing is reserved: no cap applies, or the model is free or unpriced
        (:meth:`echo_ai.runs.service.claim` says what a call reserves)."""
        caps = batch.caps
        if caps is None or batch.reserve_nusd <= 0:
            return None
        month = month_of(utcnow())  # the month the writer counts stored rows in

        async def attempt() -> Reservation | Refusal:
            async with transaction(self.session_factory) as session:
                return await ledger.reserve(session, caps, batch.reserve_nusd, month=month)

        return await retry_transient(attempt, what="reserving a call's cost", clock=self.clock)

    async def _reserve_to_the_end(self, batch: ClaimedBatch) -> Reservation | Refusal | None:
        """:meth:`_reserve`, run to its end even when the task is cancelled meanwhile (a
        sibling call crashed): a reservation committed as the cancellation came is then
        released, never left behind."""
        reserving = asyncio.ensure_future(self._reserve(batch))
        try:
            return await asyncio.shield(reserving)
        except asyncio.CancelledError:
            try:
                got = await asyncio.shield(reserving)
            except BaseException:
                raise asyncio.CancelledError from None
            if isinstance(got, Reservation):
                await asyncio.shield(self._release(got))
            raise

    async def _release(self, reservation: Reservation) -> None:
        """Take back the reservation of a call whose row will not be stored."""

        async def attempt() -> None:
            async with transaction(self.session_factory) as session:
                await ledger.release(session, [reservation])

        try:
            await retry_transient(attempt, what="releasing a reservation", clock=self.clock)
        except Exception:
            # Released by the month's reconciliation instead; the call's own error matters.
            log.exception("could not release a reservation of %s nano-USD", reservation.nusd)

    async def _attempt(
        self,
        provider: Provider,
        request: CompletionRequest,
        batch: ClaimedBatch,
        index: int,
        matcher: BrandMatcher,
        retry_output_tokens: int | None,
    ) -> tuple[dict[str, object], ProviderError | None]:
        earlier: tuple[Completion, ...] = ()
        fatal: ProviderError | None = None
        try:
            completion, attempts = await call_with_retries(
                provider, request, policy=self.retry_policy
            )
        except ProviderError as error:
            self._log_provider_error(batch, index, error)
            row = failure_row(
                batch_run_id=batch.id,
                index=index,
                vendor=batch.provider,
                model=batch.model,
                error=error,
                attempts=error.attempts,
            )
            if batch.scrub:
                row = scrub_failure(row)
            return row, error if isinstance(error, FATAL_ERRORS) else None
        first = completion  # the batch records what its first ask sent
        if (
            completion.answer_class is AnswerClass.TRUNCATED
            and retry_output_tokens is not None
            and retry_output_tokens > request.max_output_tokens
            and batch.id not in self._no_larger_limit
        ):
            # Cut off by the limit (often by the model's own reasoning): asked once more
            # with room to finish, so that long answers are not left out of the sample.
            larger = dataclasses.replace(request, max_output_tokens=retry_output_tokens)
            try:
                retried, more = await call_with_retries(provider, larger, policy=self.retry_policy)
            except ProviderError as error:
                # The truncated answer was billed: it is stored as it is (a failed row
                # would lose its cost, and a resume would pay for the iteration again).
                self._log_provider_error(batch, index, error)
                attempts += error.attempts
                if isinstance(error, GroundingMissing) and error.completion is not None:
                    earlier = (error.completion,)  # answered without searching: billed too
                if isinstance(error, BadRequest):
                    # The model refuses the larger limit (its ceiling is lower): not a reason
                    # to stop the batch, only to stop asking its answers again.
                    self._no_larger_limit.add(batch.id)
                else:
                    fatal = error if isinstance(error, FATAL_ERRORS) else None
            else:
                earlier, completion = (completion,), retried
                attempts += more
        if batch.scrub:
            # Before the extraction: nothing stored (mentions, sentences quoted as
            # absences, cited pages) comes from the text as the vendor wrote it.
            completion = scrubbed(completion)
        return (
            success_row(
                batch_run_id=batch.id,
                index=index,
                vendor=batch.provider,
                model=batch.model,
                completion=completion,
                attempts=attempts,
                matcher=matcher,
                earlier=earlier,
            )
            # The first call's: a retry's larger limit is not how the batch was asked.
            | {BATCH_PARAMETERS: dict(first.parameters)},
            fatal,
        )

    def _log_provider_error(self, batch: ClaimedBatch, index: int, error: ProviderError) -> None:
        """The first error of each kind in a batch goes to the log with its cause (the
        vendor SDK's exception: users see only the code and the vendor's or our message);
        the others at debug level, so that a provider down for an hour is not a flood."""
        first = (batch.id, error.code) not in self._errors_logged
        self._errors_logged.add((batch.id, error.code))
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "iteration %s of batch %s (%s:%s) failed: %s",
            index,
            batch.id,
            batch.provider,
            batch.model,
            error,
            exc_info=error if first else None,
        )
