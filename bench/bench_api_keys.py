"""API key benchmark: authentication time at 10, 1,000 and 10,000 stored keys.

Prints (a) the median and p95 time of ``accounts.api_keys.authenticate`` — one indexed
lookup by HMAC digest — for a valid key, an unknown but well-formed key and a malformed
key (refused before any database access), at each number of stored keys, with the ratio
of the time at 10,000 keys to the time at 10 (flat means about 1), and (b) the audited
design measured in the same run: a bcrypt hash stored per key and authentication as a
loop of ``bcrypt.checkpw`` over every stored hash until one matches, with the speed-up
of ours over it at each number of keys.

The baseline uses bcrypt cost 4 so that the run finishes; one check at the production
cost 12 is measured and printed beside it (about 256 times slower per check). Only
what is measured is printed: nothing is extrapolated. Each lookup of ours runs in its
own session, rolled back afterwards, so that every lookup does the same work (its
``last_used_at`` write included) whatever the keys looked up before; key rows are
bulk-inserted directly, as data preparation, not through the service.

    uv run python bench/bench_api_keys.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai import aio
from echo_ai.api_keys import service as api_keys
from echo_ai.api_keys.models import ApiKey
from echo_ai.config import Settings
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.security.api_keys import KEY_PREFIX, generate_api_key, key_digest
from echo_ai.workspaces.models import Workspace

SIZES = [10, 1_000, 10_000]
BASELINE_ROUNDS = 4
PRODUCTION_ROUNDS = 12
WARMUP = 10


@dataclass(frozen=True)
class Plan:
    lookups: int
    """Valid and unknown keys looked up by ours at each size."""
    malformed: int
    baseline_valid: dict[int, int]
    """Valid keys looked up by the audited design, per size (bcrypt is slow)."""
    baseline_unknown: dict[int, int]
    """Unknown keys (a scan of every stored hash) looked up by the audited design."""


FULL = Plan(
    lookups=200,
    malformed=1_000,
    baseline_valid={10: 200, 1_000: 20, 10_000: 5},
    baseline_unknown={10: 20, 1_000: 3, 10_000: 1},
)
QUICK = Plan(
    lookups=50,
    malformed=200,
    baseline_valid={10: 50, 1_000: 4, 10_000: 2},
    baseline_unknown={10: 5, 1_000: 1, 10_000: 1},
)


@dataclass(frozen=True)
class Timings:
    """Seconds per lookup."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)


@dataclass(frozen=True)
class OursResult:
    valid: Timings
    unknown: Timings
    malformed: Timings


@dataclass(frozen=True)
class BaselineResult:
    valid: Timings
    valid_checks: float
    """Mean number of ``checkpw`` calls per valid lookup (where the key was found)."""
    unknown: Timings
    unknown_checks: float


def tokens(count: int) -> list[str]:
    return [generate_api_key().token for _ in range(count)]


def malformed(token: str) -> str:
    """The same key with its last checksum character changed: fails ``looks_valid``."""
    last = "A" if token[-1] != "A" else "B"
    return token[:-1] + last


def sample(keys: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """``count`` keys, all different while there are enough of them."""
    picked: list[str] = []
    while len(picked) < count:
        picked.extend(rng.sample(list(keys), min(len(keys), count - len(picked))))
    return picked


def stratified(keys: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """One key at a random position in each of ``count`` equal slices of the stored order,
    so that a few lookups already average over positions spread through the table."""
    picked = []
    for i in range(count):
        low = i * len(keys) // count
        high = max(low + 1, (i + 1) * len(keys) // count)
        picked.append(keys[rng.randrange(low, high)])
    rng.shuffle(picked)
    return picked


async def store(runtime: Runtime, stored_values: Sequence[str]) -> None:
    """Bulk-insert one workspace and one key row per value (the ``digest`` column)."""
    async with transaction(runtime.session_factory) as session:
        workspace = Workspace(name="bench", personal=False)
        session.add(workspace)
        await session.flush()
        now = utcnow()
        session.add_all(
            ApiKey(
                workspace_id=workspace.id,
                name=f"key {i}",
                digest=value,
                last4=f"{i % 10_000:04d}",
                scopes=["read"],
                created_at=now,
            )
            for i, value in enumerate(stored_values)
        )


async def ours(data_dir: Path, size: int, plan: Plan, rng: random.Random) -> OursResult:
    pepper = secrets.token_bytes(32)
    peppers = [pepper]
    keys = tokens(size)
    async with open_runtime(Settings(data_dir=data_dir)) as runtime:
        await store(runtime, [key_digest(key, pepper) for key in keys])

        async def lookup(token: str, *, expect_found: bool) -> float:
            async with runtime.session_factory() as session:
                start = time.perf_counter()
                key = await api_keys.authenticate(session, token, peppers=peppers)
                elapsed = time.perf_counter() - start
                await session.rollback()
            if (key is not None) != expect_found:
                raise RuntimeError(f"unexpected authentication result for {token[:14]}...")
            return elapsed

        for token in sample(keys, WARMUP, rng):
            await lookup(token, expect_found=True)
        valid = [await lookup(t, expect_found=True) for t in sample(keys, plan.lookups, rng)]
        unknown = [await lookup(t, expect_found=False) for t in tokens(plan.lookups)]
        bad = [malformed(t) for t in sample(keys, plan.malformed, rng)]
        async with runtime.session_factory() as session:
            refused = []
            for token in bad:
                start = time.perf_counter()
                key = await api_keys.authenticate(session, token, peppers=peppers)
                refused.append(time.perf_counter() - start)
                if key is not None:
                    raise RuntimeError("a malformed key was accepted")
            if session.in_transaction():
                raise RuntimeError("a malformed key reached the database")
    return OursResult(Timings(valid), Timings(unknown), Timings(refused))


async def audited_authenticate(session: AsyncSession, token: str) -> tuple[uuid.UUID | None, int]:
    """The audited design: read every stored bcrypt hash and check the key against each
    in turn until one matches. Returns the key's id (or None) and the checks made."""
    rows = await session.execute(select(ApiKey.id, ApiKey.digest))
    encoded = token.encode()
    checks = 0
    for key_id, hashed in rows:
        checks += 1
        if bcrypt.checkpw(encoded, hashed.encode()):
            return key_id, checks
    return None, checks


def bcrypt_hashes(keys: Sequence[str], rounds: int) -> list[str]:
    def one(key: str) -> str:
        return bcrypt.hashpw(key.encode(), bcrypt.gensalt(rounds=rounds)).decode()

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(one, keys))


async def audited(data_dir: Path, size: int, plan: Plan, rng: random.Random) -> BaselineResult:
    keys = tokens(size)
    async with open_runtime(Settings(data_dir=data_dir)) as runtime:
        await store(runtime, bcrypt_hashes(keys, BASELINE_ROUNDS))

        async def lookup(token: str, *, expect_found: bool) -> tuple[float, int]:
            async with runtime.session_factory() as session:
                start = time.perf_counter()
                key_id, checks = await audited_authenticate(session, token)
                elapsed = time.perf_counter() - start
            if (key_id is not None) != expect_found:
                raise RuntimeError(f"unexpected authentication result for {token[:14]}...")
            return elapsed, checks

        await lookup(keys[0], expect_found=True)
        valid = [
            await lookup(t, expect_found=True)
            for t in stratified(keys, plan.baseline_valid[size], rng)
        ]
        unknown = [await lookup(t, expect_found=False) for t in tokens(plan.baseline_unknown[size])]
    return BaselineResult(
        valid=Timings([t for t, _ in valid]),
        valid_checks=statistics.fmean(c for _, c in valid),
        unknown=Timings([t for t, _ in unknown]),
        unknown_checks=statistics.fmean(c for _, c in unknown),
    )


def one_check(rounds: int, repeats: int) -> float:
    """Seconds of one ``checkpw`` of a matching key at ``rounds`` (best of ``repeats``)."""
    key = generate_api_key().token.encode()
    hashed = bcrypt.hashpw(key, bcrypt.gensalt(rounds=rounds))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        if not bcrypt.checkpw(key, hashed):
            raise RuntimeError("bcrypt check failed")
        best = min(best, time.perf_counter() - start)
    return best


def us(seconds: float) -> str:
    return f"{seconds * 1e6:8.1f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer lookups (about 1 minute)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(
            f"API key authentication, SQLite; keys look like {KEY_PREFIX}... (48 characters)\n"
            f"echo-ai: api_keys.authenticate(), one indexed lookup by HMAC digest; "
            f"{plan.lookups} valid and {plan.lookups} unknown lookups (each in its own "
            f"session), {plan.malformed} malformed, per size"
        )
        print(
            f"  {'keys':>6}  {'valid median':>12} {'p95':>11}  {'unknown median':>14} "
            f"{'p95':>11}  {'malformed median':>16} {'p95':>11}"
        )
        results: dict[int, OursResult] = {}
        for size in SIZES:
            result = aio.run(ours(root / f"ours-{size}", size, plan, rng))
            results[size] = result
            print(
                f"  {size:>6,}  {us(result.valid.median):>12} {us(result.valid.p95):>11}  "
                f"{us(result.unknown.median):>14} {us(result.unknown.p95):>11}  "
                f"{us(result.malformed.median):>16} {us(result.malformed.p95):>11}"
            )
        small, large = results[SIZES[0]], results[SIZES[-1]]
        print(
            f"  time({SIZES[-1]:,}) / time({SIZES[0]}), medians: "
            f"valid {large.valid.median / small.valid.median:.2f}, "
            f"unknown {large.unknown.median / small.unknown.median:.2f}, "
            f"malformed {large.malformed.median / small.malformed.median:.2f} "
            f"(p95: valid {large.valid.p95 / small.valid.p95:.2f}, "
            f"unknown {large.unknown.p95 / small.unknown.p95:.2f})"
        )

        cheap = one_check(BASELINE_ROUNDS, repeats=20)
        costly = one_check(PRODUCTION_ROUNDS, repeats=1)
        print(
            f"audited design: a bcrypt hash per stored key, checkpw over the stored hashes "
            f"until one matches; bcrypt cost {BASELINE_ROUNDS} so that the run finishes "
            f"(production cost {PRODUCTION_ROUNDS} is ~256x slower per check: measured "
            f"here {cheap * 1e3:.2f} ms vs {costly * 1e3:.0f} ms, {costly / cheap:.0f}x). "
            f"Valid keys drawn at random positions, one per equal slice of the table."
        )
        print(
            f"  {'keys':>6}  {'valid lookups':>13} {'mean checks':>11} {'mean time':>12}  "
            f"{'unknown lookups':>15} {'checks':>7} {'mean time':>12}  {'speed-up (valid)':>16}"
        )
        for size in SIZES:
            base = aio.run(audited(root / f"audited-{size}", size, plan, rng))
            speedup = base.valid.mean / results[size].valid.mean
            print(
                f"  {size:>6,}  {len(base.valid.samples):>13} {base.valid_checks:>11.1f} "
                f"{ms(base.valid.mean):>12}  {len(base.unknown.samples):>15} "
                f"{base.unknown_checks:>7.0f} {ms(base.unknown.mean):>12}  "
                f"{speedup:>15,.0f}x"
            )
        print(
            "  speed-up = the audited design's mean time for a valid key (bcrypt cost "
            f"{BASELINE_ROUNDS}) / ours (mean of the {plan.lookups} valid lookups above)"
        )


if __name__ == "__main__":
    main()
