"""Candidate prompts for a tracker: questions customers might ask, written by a configured
provider from a brand profile's brand, competitors, keywords and a category the user
types. Only candidates come back: nothing is stored or run until the user ticks some and
creates (or adds to) a tracker with them.

The offline demo provider writes them from templates (labelled synthetic), so the feature
works with no key. A real provider's call is an auxiliary call
(:mod:`echo_ai.billing.auxiliary`): admitted against the workspace's budget, sent with the
workspace's stored key when it has one, and its priced cost counted in the month's spend
as a "Candidate prompts" line (docs/trackers.md, docs/billing.md).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from echo_ai.billing import auxiliary
from echo_ai.errors import AppError
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments.schemas import MAX_PROMPT_LENGTH
from echo_ai.experiments.tracker_schemas import CandidatesOut
from echo_ai.providers.base import CompletionRequest, ProviderError, ProviderNotConfigured
from echo_ai.providers.registry import ProviderSpec

_NUMBERING = re.compile(r"^\s*(?:[-*•]+|\d+[.)]|Q\d*[:.])\s*")
_MARKUP = re.compile(r"\*\*|__|`")


class CandidatesUnavailable(AppError):
    status_code = 502
    code = "provider_failed"


@dataclass(frozen=True)
class Subject:
    """What the questions are about."""

    brands: Sequence[str]
    """The target first, then its competitors."""
    keywords: Sequence[str]
    category: str | None


def instruction(subject: Subject, count: int) -> str:
    """What the provider is asked."""
    about = subject.category or ", ".join(subject.keywords[:5]) or "their products"
    lines = [
        f"Write {count} distinct questions a potential customer might ask an AI assistant "
        f"when choosing {about}.",
        "Mix generic questions (which name no brand) with a few comparisons.",
    ]
    if subject.brands:
        lines.append(f"Brands in this market: {', '.join(subject.brands)}.")
    if subject.keywords:
        lines.append(f"Topics to cover: {'; '.join(subject.keywords)}.")
    lines.append("Answer with the questions only, one per line, without numbering.")
    return "\n".join(lines)


def parse(text: str, count: int) -> list[str]:
    """The questions of an answer: one per line, bullets, numbering and markup removed,
    duplicates and overlong lines dropped."""
    found: list[str] = []
    seen: set[str] = set()
    for raw in text.splitlines():
        line = _MARKUP.sub("", _NUMBERING.sub("", raw)).strip().strip('"').strip()
        if len(line) < 8 or len(line) > MAX_PROMPT_LENGTH or line.endswith(":"):
            continue
        key = " ".join(line.casefold().split())
        if key in seen:
            continue
        seen.add(key)
        found.append(line)
        if len(found) == count:
            break
    return found


_GENERIC = (
    "What is the best {category} for a small business?",
    "Which {category} is easiest to set up for a team of ten?",
    "What {category} do startups recommend in 2026?",
    "What is the most affordable {category} with good support?",
    "Which {category} integrates best with Google Workspace?",
    "What are the pros and cons of the leading {category} options?",
    "Which {category} is best for a fast-growing company?",
    "What {category} do experts recommend for beginners?",
)
_COMPARE = (
    "Is {a} better than {b}?",
    "{a} or {b}: which should I choose?",
    "What are the best alternatives to {a}?",
)
_KEYWORD = ("{keyword}?", "What do you recommend for {keyword}?")


def synthetic_candidates(subject: Subject, count: int) -> list[str]:
    """Plausible questions from templates, for the offline demo provider (synthetic)."""
    category = subject.category or (subject.keywords[0] if subject.keywords else "software")
    found: list[str] = []
    for keyword in subject.keywords:
        found.extend(t.format(keyword=keyword.rstrip("?")) for t in _KEYWORD)
    found.extend(t.format(category=category) for t in _GENERIC)
    brands = list(subject.brands)
    for other in brands[1:]:
        found.extend(t.format(a=brands[0], b=other) for t in _COMPARE)
    return parse("\n".join(found), count)


async def generate(
    runtime: Runtime,
    workspace_id: uuid.UUID,
    spec: ProviderSpec,
    subject: Subject,
    count: int,
    *,
    now: datetime,
) -> CandidatesOut:
    """Ask ``spec`` for ``count`` candidate questions, paid by ``workspace_id``."""
    if spec.vendor == "demo":
        return CandidatesOut(
            candidates=synthetic_candidates(subject, count),
            provider=str(spec),
            synthetic=True,
            cost_usd="0",
            input_tokens=0,
            output_tokens=0,
        )
    request = CompletionRequest(
        prompt=instruction(subject, count),
        model=spec.model,
        temperature=0.7,
        max_output_tokens=2_000,
    )
    call = auxiliary.AuxiliaryCall(workspace_id, spec, auxiliary.Purpose.CANDIDATE_PROMPTS)
    try:
        answered = await auxiliary.complete(runtime, call, request, now=now)
    except ProviderNotConfigured as error:
        raise AppError(error.message) from None
    except ProviderError as error:
        raise CandidatesUnavailable(f"{spec} could not write candidates: {error}") from None
    completion = answered.completion
    candidates = parse(completion.text, count)
    if not candidates:
        raise CandidatesUnavailable(f"{spec} answered with no usable question: try again")
    return CandidatesOut(
        candidates=candidates,
        provider=str(spec),
        synthetic=False,
        cost_usd=None if answered.cost_usd is None else str(answered.cost_usd),
        input_tokens=completion.input_tokens or 0,
        output_tokens=completion.output_tokens or 0,
    )
