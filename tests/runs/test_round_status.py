"""The status of a run from its batches' statuses: one rule (``round_status``) for the
experiment's status and for every run of its history."""

from __future__ import annotations

import pytest

from echo_ai.runs.models import FINISHED_EXPERIMENT_STATUSES, BatchStatus, ExperimentStatus
from echo_ai.runs.service import round_status

Q, R, F, C = BatchStatus.QUEUED, BatchStatus.RUNNING, BatchStatus.FINALIZING, BatchStatus.COMPLETED
X, K, B = BatchStatus.FAILED, BatchStatus.CANCELLED, BatchStatus.BUDGET_EXHAUSTED


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], ExperimentStatus.QUEUED),
        ([Q, Q], ExperimentStatus.QUEUED),
        ([Q, R], ExperimentStatus.RUNNING),
        ([C, F], ExperimentStatus.RUNNING),
        ([C, Q], ExperimentStatus.RUNNING),
        ([C, C], ExperimentStatus.COMPLETED),
        ([C, K], ExperimentStatus.COMPLETED),  # a user stopped one: nothing went wrong
        ([C, X], ExperimentStatus.PARTIAL),
        ([C, X, K], ExperimentStatus.PARTIAL),
        ([X, X], ExperimentStatus.FAILED),
        ([X, K], ExperimentStatus.FAILED),  # the failure is not hidden by the cancellation
        ([K, K], ExperimentStatus.CANCELLED),
        ([B], ExperimentStatus.BUDGET_EXHAUSTED),
        ([C, B], ExperimentStatus.BUDGET_EXHAUSTED),  # resumable: the rest runs later
        ([B, K], ExperimentStatus.BUDGET_EXHAUSTED),
        ([B, R], ExperimentStatus.RUNNING),
        ([B, X], ExperimentStatus.FAILED),  # the failure is not hidden by the budget
        ([C, B, X], ExperimentStatus.PARTIAL),
    ],
)
def test_a_runs_status_from_its_batches(
    statuses: list[BatchStatus], expected: ExperimentStatus
) -> None:
    assert round_status(statuses) is expected
    assert round_status(iter(statuses)) is expected  # any iterable, read once
    finished = bool(statuses) and all(s in (C, X, K, B) for s in statuses)
    assert (expected in FINISHED_EXPERIMENT_STATUSES) is finished
