"""Sentiment judge benchmark: the estimate and the judge page on PostgreSQL at 1,000 and
100,000 stored answers in a run.

Runs `echo-ai api` (production environment, local executor; it serves the pages too)
against a scratch PostgreSQL database seeded as :mod:`bench_read_path` does (a real
1,000-iteration demo run through the API; the 100,000-iteration run's batch extended in
SQL by copying it), and times, p50/p95 over ``--requests`` requests:

- ``GET /v1/experiments/{id}/sentiment-judge/estimate?provider=openai:gpt-4o-mini``
  (the answers counted from the batches' counters, the cost worked out from the run's
  first 200);
- the judge page ``/experiments/{id}/sentiment-judge?provider=openai:gpt-4o-mini`` (the
  same estimate, the form, the last judging);
- ``POST /v1/experiments/{id}/sentiment-judge`` with the demo judge at 100,000 answers:
  refused (409, over the limit of one judging) without reading the answers;

each with the ratio of 100,000 to 1,000 (target: p95 ratio under 2, p95 under 100 ms:
nothing read grows with the run). Then one judging of the 1,000-answer run with the demo
judge, from the 202 to ``completed`` (polled), as a throughput figure of the background
job (no vendor latency: the demo judge answers at once). The scratch database is created
and dropped; PostgreSQL at 127.0.0.1:5432 (user postgres) is needed, and the run says it
skipped without it.

    uv run python bench/bench_judge.py [--requests 40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import httpx

from bench_celery import scratch_database
from bench_pages import accounts, timed
from bench_read_path import (
    MEDIUM,
    SMALL,
    Timings,
    api_client,
    api_environment,
    api_process,
    migrate,
    ms,
    postgres_arguments,
    seed,
)

P95_TARGET_S = 0.100
RATIO_TARGET = 2.0
JUDGE = "openai:gpt-4o-mini"
JSON = {"Accept": "application/json"}


def timed_post(client: httpx.Client, url: str, body: dict[str, str], requests: int) -> Timings:
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.post(url, json=body)
        samples.append(time.perf_counter() - start)
        if response.status_code != 409:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return Timings(samples)


def judged_within(client: httpx.Client, experiment_id: str) -> float:
    """Seconds from the judging's 202 to its end (polled every 50 ms)."""
    url = f"/v1/experiments/{experiment_id}/sentiment-judge"
    start = time.perf_counter()
    started = client.post(url, json={"provider": "demo"})
    if started.status_code != 202:
        raise RuntimeError(f"judging refused: {started.status_code} {started.text[:300]}")
    deadline = start + 300
    while True:
        body = client.get(url).json()
        if body["status"] not in ("queued", "running"):
            if body["status"] != "completed":
                raise RuntimeError(f"the judging ended {body['status']}: {body['stopped']}")
            return time.perf_counter() - start
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the judging did not end: {body}")
        time.sleep(0.05)


def run(requests: int, database_url: str, tmp: Path) -> int:
    env = api_environment(database_url, tmp)
    migrate(env)
    missed = 0
    with api_process(env, tmp / "api.log") as (base_url, pid):
        key, browser = accounts(base_url)
        with api_client(base_url, key) as client, closing(browser):
            print(f"seeding (demo provider, `echo-ai api` pid {pid}) ...", flush=True)
            seeded = seed(client, database_url, [SMALL, MEDIUM])
            small, medium = seeded[SMALL], seeded[MEDIUM]
            print(f"\n{requests} requests each, p50 / p95")
            print(f"  {'request':<30} {'1,000':>21} {'100,000':>21}  {'p95 ratio':>9}")
            figures = {
                "estimate (API)": (
                    client,
                    "/v1/experiments/{}/sentiment-judge/estimate?provider=" + JUDGE,
                    JSON,
                ),
                "judge page": (browser, "/experiments/{}/sentiment-judge?provider=" + JUDGE, {}),
            }
            for name, (session, pattern, headers) in figures.items():
                one = timed(session, pattern.format(small.experiment_id), requests, headers)
                big = timed(session, pattern.format(medium.experiment_id), requests, headers)
                ratio = big.p95 / one.p95
                missed += big.p95 >= P95_TARGET_S or ratio >= RATIO_TARGET
                print(
                    f"  {name:<30} {ms(one.p50):>9} / {ms(one.p95):>9} "
                    f"{ms(big.p50):>9} / {ms(big.p95):>9}  {ratio:>8.2f}x",
                    flush=True,
                )
            answers = client.get(
                f"/v1/experiments/{medium.experiment_id}/sentiment-judge/estimate",
                params={"provider": JUDGE},
            ).json()
            print(
                f"  (100,000: {answers['answers']:,} complete answers counted, cost "
                f"${answers['cost_usd']} from the first {answers['cost_from']:,})"
            )
            refused = timed_post(
                client,
                f"/v1/experiments/{medium.experiment_id}/sentiment-judge",
                {"provider": "demo"},
                requests,
            )
            missed += refused.p95 >= P95_TARGET_S
            print(
                f"  {'start at 100,000 (409)':<30} {'':>21} "
                f"{ms(refused.p50):>9} / {ms(refused.p95):>9}"
            )
            took = judged_within(client, small.experiment_id)
            print(
                f"\none judging of the {SMALL:,}-answer run, demo judge, in the background: "
                f"{took:.2f} s from the 202 to completed ({SMALL / took:,.0f} answers/s)"
            )
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="samples per figure")
    args = postgres_arguments(parser, "bench_judge")
    if args is None:
        return
    started = time.perf_counter()
    print("sentiment judge, PostgreSQL, `echo-ai api` (production, local executor)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.admin_database_url, migrated=False) as url,
    ):
        missed = run(args.requests, url, Path(tmp))
    print(f"\n{time.perf_counter() - started:.0f} s in all; {missed} target(s) missed")
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
