"""The Celery side of the background jobs port: a broker that cannot be reached fails
nothing, and says so in the log."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from celery import Celery

from echo_ai.config import Settings
from echo_ai.execution.background import CeleryJobs
from echo_ai.execution.celery_app import configure
from tests.production.conftest import free_port


async def test_a_broker_that_cannot_be_reached_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = configure(Settings(redis_url=nobody, executor="celery"), Celery("echo_ai_tests"))
    jobs = CeleryJobs(app)
    export_id = uuid.uuid4()
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="echo_ai.execution.background"):
            await jobs.deliver_mail()
            await jobs.prepare_export(export_id)
            await jobs.judge_sentiment(export_id)
    finally:
        app.close()
    assert time.monotonic() - started < 20  # given up, not retried for long
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 3, messages
    assert "echo_ai.deliver_mail" in messages[0]
    assert "the scheduler's next tick sends the mail" in messages[0]
    assert f"echo_ai.prepare_export['{export_id}']" in messages[1]
    assert "Connection refused" in messages[1]
    assert f"echo_ai.judge_sentiment['{export_id}']" in messages[2]
    assert "dispatches the judging again" in messages[2]
