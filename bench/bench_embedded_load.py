"""Embedded load benchmark: requests while a large experiment runs on `echo-ai serve`.

Issue 9's probe queued 10 demo providers x 10,000 iterations on `echo-ai serve` (SQLite,
in-process worker): while they ran a 422 took up to 28 s, two batches crashed (``QueuePool
limit of size 5 overflow 10 reached``) and the experiment said ``completed`` with 93,400 of
100,000 answers. This benchmark does the same and measures:

(a) a 422 (an authenticated ``POST /v1/experiments`` with an invalid body: auth runs, the
    body is refused) and ``GET /v1/experiments/{id}``, idle (before the experiment: the
    baseline of the same run) and while the experiment runs, one of each every 0.25 s;
    the figures are p50 / p95 / worst and the loaded/idle ratios (targets: loaded p95
    <= 0.5 s and worst <= 1 s for both);
(b) the experiment's outcome: every iteration stored once, every batch completed
    (target: 100%, status ``completed``), and the throughput in iterations per second.

The server runs on a scratch data directory with the free plan's limits lifted (the
benchmark measures the engine; the plan refuses this size on its own: see
tests/experiments/test_plan_limits.py). The default is 10 x 5,000 iterations (about a
minute and a half here); ``--iterations 10000`` is the probe's exact size. Exit status 0
whatever the figures, unless ``--check`` (then 1 when a target is missed).

    uv run python bench/bench_embedded_load.py [--providers 10] [--iterations 5000] [--check]
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench_read_path import Timings, server_process

PASSWORD = "correct horse battery staple"
BRANDS = {
    "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
    "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}, {"name": "Zoho CRM"}],
}
IDLE_SAMPLES = 40
INTERVAL_S = 0.25
P95_TARGET_S = 0.5
WORST_TARGET_S = 1.0
RUN_DEADLINE_S = 1_800


@contextmanager
def serve(data_dir: Path, log: Path) -> Iterator[str]:
    """`echo-ai serve` (embedded: SQLite, in-process worker) on a free port; its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHO_AI_")}
    env.pop("DATABASE_URL", None)
    env.update(
        ECHO_AI_DATA_DIR=str(data_dir),
        ECHO_AI_SERVER__WORKSPACE_REQUESTS_PER_MINUTE="1000000",
        ECHO_AI_BILLING__FREE__MAX_ITERATIONS_PER_EXPERIMENT="1000000",
        ECHO_AI_BILLING__FREE__MAX_ITERATIONS_IN_FLIGHT="10000000",
        ECHO_AI_OBSERVABILITY__LOG_LEVEL="WARNING",
    )
    with server_process(["serve"], env, log, start_within=120) as (url, _pid):
        yield url


def signed_in(client: httpx.Client) -> dict[str, str]:
    credentials = {"email": f"bench-{secrets.token_hex(4)}@example.com", "password": PASSWORD}
    client.post("/auth/register", json={**credentials, "accept_terms": True}).raise_for_status()
    login = client.post("/auth/login", json=credentials)
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def timed(client: httpx.Client, method: str, url: str, expected: int, **kwargs: Any) -> float:
    start = time.perf_counter()
    response = client.request(method, url, **kwargs)
    elapsed = time.perf_counter() - start
    if response.status_code != expected:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return elapsed


def sample(client: httpx.Client, headers: dict[str, str], detail_url: str) -> tuple[float, float]:
    """One 422 and one detail request: their times."""
    invalid = timed(
        client, "POST", "/v1/experiments", 422, json={"iterations": "many"}, headers=headers
    )
    detail = timed(client, "GET", detail_url, 200, headers=headers)
    return invalid, detail


@dataclass(frozen=True)
class Outcome:
    status: str
    requested: int
    stored: int
    batches: dict[str, int]
    seconds: float


def run(args: argparse.Namespace, tmp: Path) -> list[str]:
    with (
        serve(tmp / "data", tmp / "serve.log") as url,
        httpx.Client(base_url=url, timeout=httpx.Timeout(120.0, connect=10.0)) as client,
    ):
        headers = signed_in(client)
        warm = client.post(
            "/v1/experiments",
            json={"prompt": "Best CRM?", "brands": BRANDS, "providers": ["demo"], "iterations": 5},
            headers=headers,
        )
        warm.raise_for_status()
        warm_url = f"/v1/experiments/{warm.json()['id']}"
        idle = [sample(client, headers, warm_url) for _ in range(IDLE_SAMPLES)]

        providers = [f"demo:model-{n}" for n in range(args.providers)]
        body = {
            "prompt": "What is the best CRM for a 10-person startup?",
            "brands": BRANDS,
            "providers": providers,
            "iterations": args.iterations,
        }
        start = time.perf_counter()
        created = client.post("/v1/experiments", json=body, headers=headers)
        created.raise_for_status()
        detail_url = f"/v1/experiments/{created.json()['id']}"
        loaded: list[tuple[float, float]] = []
        while True:
            loaded.append(sample(client, headers, detail_url))
            detail = client.get(detail_url, headers=headers).json()
            if detail["status"] not in ("queued", "running"):
                break
            if time.perf_counter() - start > RUN_DEADLINE_S:
                raise RuntimeError("the experiment did not finish in time")
            time.sleep(INTERVAL_S)
        outcome = Outcome(
            status=detail["status"],
            requested=args.providers * args.iterations,
            stored=sum(batch["stored"] for batch in detail["providers"]),
            batches={
                status: sum(batch["status"] == status for batch in detail["providers"])
                for status in ("completed", "failed")
            },
            seconds=time.perf_counter() - start,
        )
    return report(args, idle, loaded, outcome)


def report(
    args: argparse.Namespace,
    idle: list[tuple[float, float]],
    loaded: list[tuple[float, float]],
    outcome: Outcome,
) -> list[str]:
    missed: list[str] = []

    def judge(what: str, ok: bool, figure: str, target: str) -> None:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}: {figure} (target {target})")
        if not ok:
            missed.append(what)

    size = f"{args.providers} demo providers x {args.iterations:,} iterations"
    print(f"\n`echo-ai serve` (SQLite, in-process worker), {size}")
    print(
        f"  {outcome.requested:,} iterations in {outcome.seconds:.1f} s: "
        f"{outcome.requested / outcome.seconds:,.0f} iterations/s"
    )
    print(f"  {len(idle)} idle samples, {len(loaded)} while it ran\n")
    print("  request            idle p50 / p95 / worst     loaded p50 / p95 / worst    p95 ratio")
    for column, name in ((0, "422 (POST)"), (1, "GET detail")):
        before = Timings([pair[column] for pair in idle])
        during = Timings([pair[column] for pair in loaded])
        print(
            f"  {name:<16} {ms(before.p50):>8} / {ms(before.p95):>8} / {ms(before.worst):>8}"
            f"   {ms(during.p50):>8} / {ms(during.p95):>8} / {ms(during.worst):>8}"
            f"   {during.p95 / before.p95:>7.1f}x"
        )
        judge(f"{name} p95 while it runs", during.p95 <= P95_TARGET_S, ms(during.p95), "<= 500 ms")
        judge(
            f"{name} worst while it runs",
            during.worst <= WORST_TARGET_S,
            ms(during.worst),
            "<= 1,000 ms",
        )
    judge(
        "iterations stored",
        outcome.stored == outcome.requested,
        f"{outcome.stored:,} of {outcome.requested:,}",
        "all",
    )
    judge(
        "outcome",
        outcome.status == "completed" and outcome.batches["failed"] == 0,
        f"{outcome.status}, {outcome.batches['completed']} batches completed, "
        f"{outcome.batches['failed']} failed",
        "completed, none failed",
    )
    return missed


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=5_000)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="echo-ai-bench-") as tmp:
        missed = run(args, Path(tmp))
    if missed:
        print(f"\nmissed: {', '.join(missed)}")
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
