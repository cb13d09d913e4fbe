"""Experiment pages benchmark: the web dashboard's experiment pages on PostgreSQL at 1,000
and 100,000 stored iterations.

Runs `echo-ai api` (production environment, local executor; it serves the pages too)
against a scratch PostgreSQL database, seeded as :mod:`bench_read_path` does (a real
1,000-iteration demo run through the API; the 100,000-iteration experiment's batch
extended in SQL by copying it), signs in through the ``/login`` form and times, as a
browser fetches them, with the session cookie:

- the experiment page ``/experiments/{id}`` (metrics, charts, first answers);
- the live progress fragment (``HX-Request``);
- the answers: page 1, and a filtered page ("names the target", "does not name it",
  "failed") whose cursor points near the end of the batch (index 99,900 of 100,000);
- the runs history;
- the two experiments compared (``/versus/``) and side by side (both read stored metrics
  only: timed once, 1,000 against 100,000);
- the export download: time to the first byte of the body.

Each figure is p50/p95 over ``--requests`` requests and the ratio of the 100,000-iteration
experiment to the 1,000-iteration one (target: every p95 under 100 ms, ratio near 1: no
page reads more as the run grows). The scratch database is created and dropped;
PostgreSQL at 127.0.0.1:5432 (user postgres) is needed, and the run says it skipped
without it.

    uv run python bench/bench_pages.py [--requests 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path

import httpx

from bench_celery import scratch_database
from bench_read_path import (
    MEDIUM,
    PASSWORD,
    SMALL,
    Seeded,
    Timings,
    api_client,
    api_environment,
    api_process,
    migrate,
    ms,
    postgres_arguments,
    seed,
)
from echo_ai.api.pagination import encode_cursor

P95_TARGET_S = 0.100
DEEP_INDEX = MEDIUM - 100
HTML = {"Accept": "text/html"}


def accounts(base_url: str) -> tuple[str, httpx.Client]:
    """A user with an API key (for seeding) and a browser session (for the pages)."""
    email = f"pages-{uuid.uuid4().hex[:8]}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    browser = httpx.Client(base_url=base_url, timeout=60, headers=HTML)
    browser.post("/auth/register", json={**credentials, "accept_terms": True}).raise_for_status()
    token = browser.post("/auth/login", json=credentials).json()["access_token"]
    created = browser.post(
        "/v1/api-keys", json={"name": "bench"}, headers={"Authorization": f"Bearer {token}"}
    )
    created.raise_for_status()
    signed_in = browser.post("/login", data=credentials, headers={"Origin": base_url})
    if signed_in.status_code != 303:
        raise RuntimeError(f"sign-in through /login failed: {signed_in.status_code}")
    return created.json()["key"], browser


def timed(client: httpx.Client, url: str, requests: int, headers: dict[str, str]) -> Timings:
    client.get(url, headers=headers).raise_for_status()  # warm
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return Timings(samples)


def first_byte(client: httpx.Client, url: str, requests: int) -> Timings:
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        with client.stream("GET", url) as response:
            response.raise_for_status()
            next(response.iter_bytes())
            samples.append(time.perf_counter() - start)
    return Timings(samples)


def pages(seeded: Seeded) -> dict[str, tuple[str, dict[str, str]]]:
    base = f"/experiments/{seeded.experiment_id}"
    deep = encode_cursor(seeded.batch_id, str(min(DEEP_INDEX, seeded.size - 100)))
    fragment = {"HX-Request": "true", "HX-Target": "answers"}
    return {
        "experiment page": (base, {}),
        "progress fragment": (f"{base}/progress", {"HX-Request": "true"}),
        "answers page 1": (f"{base}/answers", {}),
        "answers page 1 (htmx list)": (f"{base}/answers", fragment),
        "deep: names the target": (f"{base}/answers?shown=mentioned&cursor={deep}", {}),
        "deep: does not name it": (f"{base}/answers?shown=not-mentioned&cursor={deep}", {}),
        "deep: failed calls": (f"{base}/answers?shown=failed&cursor={deep}", {}),
        "runs history": (f"{base}/runs", {}),
    }


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
            print(f"  {'page':<28} {'1,000':>21} {'100,000':>21}  {'p95 ratio':>9}")
            for name, (small_url, headers) in pages(small).items():
                medium_url, _ = pages(medium)[name]
                one = timed(browser, small_url, requests, headers)
                big = timed(browser, medium_url, requests, headers)
                missed += big.p95 >= P95_TARGET_S
                print(
                    f"  {name:<28} {ms(one.p50):>9} / {ms(one.p95):>9} "
                    f"{ms(big.p50):>9} / {ms(big.p95):>9}  {big.p95 / one.p95:>8.2f}x",
                    flush=True,
                )
            for name, url in (
                (
                    "versus (1,000 vs 100,000)",
                    f"/experiments/{small.experiment_id}/versus/{medium.experiment_id}",
                ),
                (
                    "side by side (both)",
                    f"/experiments/side-by-side?id={small.experiment_id}&id={medium.experiment_id}",
                ),
            ):
                both = timed(browser, url, requests, {})
                missed += both.p95 >= P95_TARGET_S
                print(f"  {name:<28} {ms(both.p50):>9} / {ms(both.p95):>9}", flush=True)
            name = "export csv, first byte"
            one = first_byte(browser, f"/experiments/{small.experiment_id}/export?format=csv", 10)
            big = first_byte(browser, f"/experiments/{medium.experiment_id}/export?format=csv", 10)
            print(
                f"  {name:<28} {ms(one.p50):>9} / {ms(one.p95):>9} "
                f"{ms(big.p50):>9} / {ms(big.p95):>9}  {big.p95 / one.p95:>8.2f}x"
            )
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="samples per figure")
    args = postgres_arguments(parser, "bench_pages")
    if args is None:
        return
    started = time.perf_counter()
    print("experiment pages, PostgreSQL, `echo-ai api` (production, local executor)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.admin_database_url, migrated=False) as url,
    ):
        missed = run(args.requests, url, Path(tmp))
    print(
        f"\n{time.perf_counter() - started:.0f} s in all; "
        f"{missed} page(s) with p95 at 100,000 iterations over {ms(P95_TARGET_S)}"
    )


if __name__ == "__main__":
    main()
