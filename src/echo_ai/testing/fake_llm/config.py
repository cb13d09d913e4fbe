"""What the fake LLM server should do: answer, fail, stall, or misbehave, and how often.

The config is deliberately mutable: a test (or a benchmark) changes it between requests to
provoke a specific failure, and the running server picks the change up on the next request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from echo_ai.providers.synthetic import DEFAULT_BRANDS

OUTCOMES: Final = frozenset(
    {
        "ok",
        "429",
        "500",
        "503",
        "529",
        "400",
        "401",
        "403",
        "malformed",
        "hang",
        "quota",
        "no_search",
    }
)
"""Outcomes a ``script`` entry may force for one request."""


@dataclass
class FakeLLMConfig:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    """Share of requests answered with a 5xx."""
    rate_limit_rate: float = 0.0
    """Share of requests answered with 429 and a ``Retry-After`` header."""
    retry_after_seconds: float = 1.0
    malformed_rate: float = 0.0
    """Share of requests answered 200 with a truncated JSON body."""
    hang_rate: float = 0.0
    """Share of requests that stall ``hang_seconds`` before answering, to trip client timeouts."""
    hang_seconds: float = 30.0
    brands: list[tuple[str, float]] = field(default_factory=lambda: list(DEFAULT_BRANDS))
    domains: dict[str, str] | None = None
    seed: int = 0
    quota_exhausted: bool = False
    """Every request fails with the vendor's out-of-credit error."""
    script: list[str] = field(default_factory=list)
    """Forced outcomes, consumed one per request before the random rates apply."""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    """Response bodies sent as they are (status 200), one per request, before anything
    else applies: bodies shaped exactly as a vendor sends them (tests/providers/bodies/)."""
    garble: str = ""
    """Appended to every text of an answer (the answer, citation titles and URLs, search
    queries, the model) and to error messages: characters a database cannot store (a NUL,
    a lone surrogate) must be stored cleaned, never lost."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Reject rates outside [0, 1] and unknown script entries with one clear message."""
        for name in ("error_rate", "rate_limit_rate", "malformed_rate", "hang_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        unknown = [entry for entry in self.script if entry not in OUTCOMES]
        if unknown:
            raise ValueError(f"unknown script outcome(s) {unknown}; known: {sorted(OUTCOMES)}")
