"""Discovery benchmark: what looking for untracked names costs, against the same work
without it, measured in the same run.

Prints (a) the CPU time of extracting one answer with and without the discovery of
untracked names (``BrandMatcher(brands, discover=...)``) over the labelled set's 40
answers and 200 demo answers, and their ratio; (b) the time of ``compute_metrics`` on
100,000 iteration facts with the names of their answers and without, and the ratio; (c)
the size of the stored metrics with and without ``discovered``. The experiment page reads
only stored metrics (``bench/bench_pages.py`` times it at 1,000 and 100,000 answers on
PostgreSQL). Every figure is the best of several repeats; targets are printed next to
the figures and never fail the run.

    uv run python bench/bench_discovery.py [--repeats 5] [--facts 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.analysis.metrics import IterationFacts, compute_metrics
from echo_ai.providers.base import CompletionRequest
from echo_ai.providers.demo import DemoProvider, default_brand_probabilities
from echo_ai.providers.synthetic import DEMO_UNTRACKED

LABELLED = Path(__file__).parent.parent / "tests/analysis/data/discovery_labelled.json"
EXTRACTION_TARGET_S = 0.001
METRICS_RATIO_TARGET = 1.5


def best(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def answers() -> list[tuple[BrandSet, str]]:
    found: list[tuple[BrandSet, str]] = []
    for category in json.loads(LABELLED.read_text())["categories"]:
        brands = BrandSet.model_validate(
            {
                "target": {"name": category["target"]},
                "competitors": [{"name": name} for name in category["competitors"]],
            }
        )
        found += [(brands, answer["text"]) for answer in category["answers"]]
    names = ["HubSpot", "Salesforce", "Pipedrive", "Zoho CRM"]
    crm = BrandSet.model_validate(
        {"target": {"name": names[0]}, "competitors": [{"name": n} for n in names[1:]]}
    )
    demo = DemoProvider(default_brand_probabilities(names), untracked=DEMO_UNTRACKED)

    async def demo_answers() -> list[str]:
        prompt = "best CRM for a 10-person startup"
        return [
            (await demo.complete(CompletionRequest(prompt=prompt, model="demo", seed=i))).text
            for i in range(200)
        ]

    return found + [(crm, text) for text in asyncio.run(demo_answers())]


def extraction(repeats: int) -> None:
    pairs = answers()
    sets = {id(brands): brands for brands, _ in pairs}
    with_names = {key: BrandMatcher(brands) for key, brands in sets.items()}
    without = {key: BrandMatcher(brands, discover=False) for key, brands in sets.items()}
    for brands, text in pairs:  # warm the word-frequency cache and the regexes
        with_names[id(brands)].extract(text)

    def run(matchers: dict[int, BrandMatcher]) -> None:
        for brands, text in pairs:
            matchers[id(brands)].extract(text)

    on = best(repeats, lambda: run(with_names)) / len(pairs)
    off = best(repeats, lambda: run(without)) / len(pairs)
    print(
        f"(a) extraction per answer ({len(pairs)} answers): {off * 1e6:.0f} µs without, "
        f"{on * 1e6:.0f} µs with discovery (target ≤ {EXTRACTION_TARGET_S * 1e6:.0f} µs, "
        f"a small part of an answer's seconds): ratio {on / off:.2f}"
    )


def metrics(repeats: int, count: int) -> None:
    rng = random.Random(7)
    pool = [f"Brand {chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(300)]
    facts_with = []
    facts_without = []
    for _ in range(count):
        brands = tuple(b for b in ("HubSpot", "Salesforce", "Pipedrive") if rng.random() < 0.6)
        names = tuple(rng.sample(pool[: rng.choice((10, 40, 300))], rng.randint(0, 6)))
        common = {"success": True, "brands": brands, "target_cited": False}
        facts_with.append(
            IterationFacts(**common, cost_usd=None, latency_ms=900.0, candidates=names)
        )
        facts_without.append(IterationFacts(**common, cost_usd=None, latency_ms=900.0))
    tracked = ["HubSpot", "Salesforce", "Pipedrive"]

    def compute(facts: list[IterationFacts]) -> object:
        return compute_metrics(facts, target="HubSpot", brands=tracked)

    on = best(repeats, lambda: compute(facts_with))
    off = best(repeats, lambda: compute(facts_without))
    print(
        f"(b) compute_metrics on {count:,} facts: {off * 1000:.0f} ms without names, "
        f"{on * 1000:.0f} ms with: ratio {on / off:.2f} (target ≤ {METRICS_RATIO_TARGET})"
    )
    stored_on = len(json.dumps(compute(facts_with).model_dump(mode="json")))  # type: ignore[attr-defined]
    stored_off = len(json.dumps(compute(facts_without).model_dump(mode="json")))  # type: ignore[attr-defined]
    print(f"(c) stored metrics: {stored_off:,} bytes without names, {stored_on:,} with")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--facts", type=int, default=100_000)
    args = parser.parse_args()
    extraction(args.repeats)
    metrics(args.repeats, args.facts)


if __name__ == "__main__":
    main()
