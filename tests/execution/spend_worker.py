"""One worker process of the spend-control concurrency test (tests/execution/
test_spend_concurrency.py): opens its own runtime (PostgreSQL, Redis and the vendor's
base URL come from the environment), waits until every worker is ready, then runs one
experiment's batches here."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

from echo_ai.config import Settings
from echo_ai.execution.runtime import open_runtime

READY_WITHIN = 60.0


def _ready(ready: Path) -> int:
    return len(list(ready.glob("*.ready")))


async def main(data_dir: Path, experiment_id: uuid.UUID, ready: Path, workers: int) -> None:
    settings = Settings(data_dir=data_dir)
    async with open_runtime(settings, executor="local") as runtime:
        (ready / f"{experiment_id}.ready").touch()
        deadline = time.monotonic() + READY_WITHIN
        while await asyncio.to_thread(_ready, ready) < workers:  # start together: calls overlap
            if time.monotonic() > deadline:
                raise SystemExit("the other worker never became ready")
            await asyncio.sleep(0.01)
        await runtime.executor.run_experiment(experiment_id)


if __name__ == "__main__":
    asyncio.run(
        main(Path(sys.argv[1]), uuid.UUID(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    )
