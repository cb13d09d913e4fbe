"""Tracker benchmark: a tracker's page, API detail and export on PostgreSQL at 200 prompts
x 3 providers, against a 10-prompt tracker measured in the same run.

Runs `echo-ai api` (production environment, local executor; it serves the pages too)
against a scratch PostgreSQL database, as :mod:`bench_pages` does. Two trackers are created
through the API with the offline ``demo`` provider under three model names (three batches
per prompt, as three providers would give), ``--iterations`` answers each; each prompt's
stored run is then copied in SQL as ``--runs`` - 1 earlier runs a day apart (the rounds a
daily schedule would have stored: a schedule runs at most every 5 minutes), so the
tracker has a history over time. Then, with a signed-in browser session and an API key:

- ``GET /v1/trackers/{id}`` (the JSON detail: per prompt, per topic, overall, over time);
- ``GET /trackers/{id}`` (the page: tables and chart);
- ``GET /v1/trackers/{id}/export.csv`` (the whole export, read to the end).

Each figure is p50/p95 over ``--requests`` requests and the p95 ratio of the 200-prompt
tracker to the 10-prompt one (the machines are noisy: only ratios within one run are
compared). The statements a request runs are counted by the test
``test_a_trackers_figures_take_the_same_queries_whatever_its_size``; here the time says
whether each statement's rows stay light. The scratch database is created and dropped;
PostgreSQL at 127.0.0.1:5432 (user postgres) is needed, and the run says it skipped
without it.

    uv run python bench/bench_trackers.py [--requests 30] [--iterations 10] [--runs 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench_celery import scratch_database
from bench_pages import accounts, timed
from bench_read_path import (
    Timings,
    api_client,
    api_environment,
    api_process,
    migrate,
    ms,
    postgres_arguments,
)
from echo_ai import aio

SMALL = 10
LARGE = 200
PROVIDERS = ["demo", "demo:demo-b", "demo:demo-c"]
TOPICS = ("pricing", "startups", "enterprise", "integrations", "support")
BRANDS: dict[str, Any] = {
    "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
    "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}, {"name": "Zoho CRM"}],
}
LIMITS = {
    "ECHO_AI_BILLING__FREE__ITERATIONS_PER_MONTH": "100000000",
    "ECHO_AI_BILLING__FREE__MAX_ITERATIONS_IN_FLIGHT": "100000000",
    "ECHO_AI_BILLING__FREE__MAX_ITERATIONS_PER_EXPERIMENT": "100000",
}


def wait_finished(client: httpx.Client, experiment_ids: list[str]) -> None:
    """Until no experiment is queued or running."""
    deadline = time.monotonic() + 1_800
    pending = set(experiment_ids)
    while pending:
        for experiment_id in list(pending):
            body = client.get(f"/v1/experiments/{experiment_id}").json()
            if body["status"] not in ("queued", "running"):
                pending.discard(experiment_id)
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} prompts did not finish")
        if pending:
            time.sleep(0.5)


def create_tracker(
    client: httpx.Client, database_url: str, prompts: int, iterations: int, runs: int
) -> str:
    """A tracker of ``prompts`` prompts in five topics with ``runs`` runs each; its id."""
    start = time.perf_counter()
    body = {
        "name": f"bench {prompts} prompts",
        "prompts": [
            {"prompt": f"Which CRM suits team number {n}?", "topic": TOPICS[n % len(TOPICS)]}
            for n in range(prompts)
        ],
        "brands": BRANDS,
        "providers": PROVIDERS,
        "iterations": iterations,
    }
    created = client.post("/v1/trackers", json=body)
    created.raise_for_status()
    ids: list[str] = created.json()["experiment_ids"]
    wait_finished(client, ids)
    tracker_id: str = created.json()["tracker"]["id"]
    aio.run(earlier_runs(database_url, tracker_id, runs))
    print(
        f"  seeded {prompts:>3} prompts x {len(PROVIDERS)} providers x {iterations} answers, "
        f"{runs} runs each: {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    return tracker_id


async def earlier_runs(database_url: str, tracker_id: str, runs: int) -> None:
    """Each prompt's stored run becomes its latest of ``runs``, the others copies of it a
    day apart before it (only the rounds table: figures are read from there)."""
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await connection.execute(
                "UPDATE experiment_rounds r SET round = $2 FROM experiments e "
                "WHERE e.id = r.experiment_id AND e.tracker_id = $1",
                uuid.UUID(tracker_id),
                runs,
            )
            await connection.execute(
                "INSERT INTO experiment_rounds (id, experiment_id, round, combined, visibility, "
                "combined_providers, combinations, complete, failed_providers, created_at, "
                "updated_at) "
                "SELECT gen_random_uuid(), r.experiment_id, back.n, r.combined, r.visibility, "
                "r.combined_providers, r.combinations, r.complete, r.failed_providers, "
                "r.created_at - ($2 - back.n) * interval '1 day', r.updated_at "
                "FROM experiment_rounds r JOIN experiments e ON e.id = r.experiment_id "
                "CROSS JOIN generate_series(1, $2 - 1) AS back(n) WHERE e.tracker_id = $1",
                uuid.UUID(tracker_id),
                runs,
            )
            await connection.execute(
                "UPDATE experiments SET runs = $2 WHERE tracker_id = $1",
                uuid.UUID(tracker_id),
                runs,
            )
            await connection.execute("ANALYZE experiment_rounds")
    finally:
        await connection.close()


def whole_body(client: httpx.Client, url: str, requests: int) -> Timings:
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        response.raise_for_status()
        samples.append(time.perf_counter() - start)
    return Timings(samples)


def run(requests: int, iterations: int, runs: int, database_url: str, tmp: Path) -> None:
    env = {**api_environment(database_url, tmp), **LIMITS}
    migrate(env)
    with api_process(env, tmp / "api.log") as (base_url, pid):
        key, browser = accounts(base_url)
        with api_client(base_url, key) as client, closing(browser):
            print(f"seeding (demo provider, `echo-ai api` pid {pid}) ...", flush=True)
            small = create_tracker(client, database_url, SMALL, iterations, runs)
            large = create_tracker(client, database_url, LARGE, iterations, runs)
            detail = client.get(f"/v1/trackers/{large}").json()
            print(
                f"  200-prompt detail: {len(detail['prompt_results'])} prompts, "
                f"{len(detail['over_time'])} runs over time, "
                f"{len(client.get(f'/v1/trackers/{large}').content):,} bytes"
            )
            print(f"\n{requests} requests each, p50 / p95")
            print(f"  {'request':<24} {SMALL:>11} prompts {LARGE:>11} prompts  {'p95 ratio':>9}")
            figures = {
                "API detail": (client, "/v1/trackers/{}", {}),
                "tracker page": (browser, "/trackers/{}", {}),
                "API export.csv (whole)": (client, "/v1/trackers/{}/export.csv", None),
            }
            for name, (session, url, headers) in figures.items():
                if headers is None:
                    one = whole_body(session, url.format(small), requests)
                    big = whole_body(session, url.format(large), requests)
                else:
                    one = timed(session, url.format(small), requests, headers)
                    big = timed(session, url.format(large), requests, headers)
                print(
                    f"  {name:<24} {ms(one.p50):>9} / {ms(one.p95):>9} "
                    f"{ms(big.p50):>9} / {ms(big.p95):>9}  {big.p95 / one.p95:>8.2f}x",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="samples per figure")
    parser.add_argument("--iterations", type=int, default=10, help="answers per batch")
    parser.add_argument("--runs", type=int, default=20, help="runs of each prompt (>= 1)")
    args = postgres_arguments(parser, "bench_trackers")
    if args is None:
        return
    started = time.perf_counter()
    print("tracker page and API, PostgreSQL, `echo-ai api` (production, local executor)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.admin_database_url, migrated=False) as url,
    ):
        run(args.requests, args.iterations, args.runs, url, Path(tmp))
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
