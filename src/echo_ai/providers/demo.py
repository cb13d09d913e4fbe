"""The offline ``demo`` provider: synthetic answers with known brand probabilities.

It lets a fresh install run a whole experiment with no API key, and gives tests and
benchmarks a ground truth to check the measured metrics against. Every answer is labelled
synthetic. The answer for a given (seed, iteration seed, prompt) is the same in every
process, so re-running a demo experiment reproduces it exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Mapping, Sequence

from echo_ai.providers.base import Completion, CompletionRequest, stopwatch
from echo_ai.providers.synthetic import DEFAULT_BRANDS, generate_answer

MODEL_VERSION = "demo-synthetic-1"
TARGET_PROBABILITY = 0.6
COMPETITOR_PROBABILITIES = (0.75, 0.5, 0.35, 0.2)
_FLOOR_PROBABILITY = 0.1


def default_brand_probabilities(names: Sequence[str]) -> list[tuple[str, float]]:
    """Mention probabilities when the user set none: the target first, competitors spread.

    A spread (rather than one value for all) makes demo charts show a ranking, with one
    competitor ahead of the target and the rest behind it.
    """
    out: list[tuple[str, float]] = []
    for i, name in enumerate(names):
        if i == 0:
            probability = TARGET_PROBABILITY
        elif i - 1 < len(COMPETITOR_PROBABILITIES):
            probability = COMPETITOR_PROBABILITIES[i - 1]
        else:
            probability = _FLOOR_PROBABILITY
        out.append((name, probability))
    return out


def _stable_seed(*parts: object) -> int:
    """A seed from the parts that does not depend on PYTHONHASHSEED."""
    digest = hashlib.sha256(repr(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


class DemoProvider:
    name = "demo"

    def __init__(
        self,
        brands: Sequence[tuple[str, float]] | None = None,
        *,
        seed: int = 0,
        latency_ms: float = 0.0,
        domains: Mapping[str, str] | None = None,
        untracked: Sequence[tuple[str, float]] = (),
    ) -> None:
        for brand, probability in brands or ():
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"probability for {brand!r} must be in [0, 1], got {probability}")
        self._brands = list(brands) if brands is not None else list(DEFAULT_BRANDS)
        self._seed = seed
        self._latency_ms = latency_ms
        self._domains = dict(domains) if domains else None
        tracked = {name.casefold() for name, _ in self._brands}
        self._untracked = [(n, p) for n, p in untracked if n.casefold() not in tracked]

    async def complete(self, request: CompletionRequest) -> Completion:
        seed = _stable_seed(self._seed, request.seed, request.prompt)
        rng = random.Random(seed)  # noqa: S311 - simulation, not security
        with stopwatch() as elapsed:
            if self._latency_ms > 0:
                await asyncio.sleep(self._latency_ms / 1000.0)
            answer = generate_answer(
                request.prompt,
                self._brands,
                rng=rng,
                grounding=request.grounding,
                domains=self._domains,
                untracked=self._untracked,
            )
        return Completion(
            text=answer.text,
            model_version=MODEL_VERSION,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            latency_ms=elapsed[0],
            citations=answer.citations,
            sources=answer.sources,
            search_queries=answer.search_queries,
            synthetic=True,
            searched=request.grounding,
        )

    async def aclose(self) -> None:
        """Nothing to release: the demo provider holds no connections."""
