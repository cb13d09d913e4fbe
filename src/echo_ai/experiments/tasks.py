"""The Celery task that runs a sentiment judging in production mode (sent by the API after
the request's commit, or again by ``echo-ai beat``:
:func:`echo_ai.experiments.sentiment_judge.stalled`). Here rather than in
:mod:`echo_ai.execution.tasks`, since the execution layer may not import the experiments;
the worker loads it through the Celery app's ``include``."""

from __future__ import annotations

import uuid
from datetime import timedelta

from echo_ai.execution.background import SEND_RETRY_POLICY
from echo_ai.execution.celery_app import JUDGE_SENTIMENT, celery_app
from echo_ai.execution.tasks import worker_runtime
from echo_ai.experiments import sentiment_judge

SLICE_SHARE = 0.5
"""Of the task's soft time limit, how long one delivery judges before it sends the rest
again as a new task (the judging keeps its position), so no task nears the limit."""


def judge_sentiment_task(judging_id: str) -> None:
    """Run the judging (:func:`echo_ai.experiments.sentiment_judge.run`, in the worker's
    runtime) for up to half the task's soft time limit, then send itself again for the
    rest. Idempotent: a judging that has ended, or that another delivery claimed less
    than ``worker.visibility_timeout_seconds`` ago, is left alone; a worker that dies
    meanwhile leaves it to be delivered again (or dispatched again by the scheduler),
    and it goes on after the last chunk stored."""
    worker = worker_runtime()
    settings = worker.settings
    more = worker.run(
        sentiment_judge.run(
            worker.runtime.session_factory,
            worker.runtime,
            uuid.UUID(judging_id),
            stale_after=timedelta(seconds=settings.worker.visibility_timeout_seconds),
            for_seconds=settings.worker.chunk_soft_time_limit_seconds * SLICE_SHARE,
        )
    )
    if more:
        celery_app.send_task(
            JUDGE_SENTIMENT, args=[judging_id], retry=True, retry_policy=SEND_RETRY_POLICY
        )


judge_sentiment = celery_app.task(name=JUDGE_SENTIMENT)(judge_sentiment_task)
