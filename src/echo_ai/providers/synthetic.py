"""Made-up but realistic assistant answers, shared by the demo provider and the fake LLM server.

Both need answers whose brand mentions follow known probabilities, so that the measured
visibility of a demo or benchmark run can be checked against the truth. The generator is a
pure function of its ``rng``: the same seed always produces the same answer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from echo_ai.providers.base import Citation

DEFAULT_BRANDS: list[tuple[str, float]] = [
    ("HubSpot", 0.8),
    ("Salesforce", 0.75),
    ("Pipedrive", 0.55),
    ("Zoho CRM", 0.5),
    ("Freshsales", 0.3),
    ("Monday Sales CRM", 0.2),
]
"""Six CRM brands with mention probabilities: the fake server's default answer space."""

DEMO_UNTRACKED: list[tuple[str, float]] = [
    ("Attio", 0.45),
    ("Insightly", 0.3),
    ("Keap", 0.15),
]
"""CRMs the demo provider also names whatever the experiment tracks (those it tracks
aside), so that "who else gets recommended" has something to find in a demo run."""

_INTROS = (
    "Here are some strong options for “{topic}”:",
    "Good question. For “{topic}”, these are worth a look:",
    "It depends on your team and budget, but for “{topic}” I would consider:",
    "Several tools stand out for “{topic}”:",
)
_PROSE_INTROS = (
    "When it comes to “{topic}”, there is no single right answer.",
    "For “{topic}”, the best choice depends on size, budget and integrations.",
    "Teams asking about “{topic}” usually end up comparing a few products.",
)
_DESCRIPTIONS = (
    "an easy setup and a generous free tier",
    "strong automation and a large ecosystem of integrations",
    "the usual contact, deal and pipeline features",
    "good value for small teams that want to grow into more features",
    "powerful reporting, though it takes time to configure",
    "solid basics, but a clunky interface and pricey upgrades",
    "solid mobile apps and responsive support",
    "a low entry price, but limited reporting and slow support",
)
"""What an answer says of each brand: mostly favourable, some mixed or critical, so that
the sentiment figures of a demo run vary."""
_PROSE_LINKS = (
    "{name} offers {desc}.",
    "Many teams like {name} for {desc}.",
    "{name} is another option, with {desc}.",
    "If that matters to you, {name} brings {desc}.",
)
_CLOSINGS = (
    "Try a couple of free trials before committing.",
    "Whichever you pick, check how well it integrates with your email and calendar.",
    "Pricing changes often, so confirm current plans on each vendor's site.",
)
_NO_BRAND_ANSWERS = (
    "It really depends on your workflow, budget and the tools you already use. "
    "Start by listing the three features you cannot live without, then compare free trials.",
    "There are many good options. Focus on ease of use, integrations and total cost as your "
    "team grows, and ask peers in your industry what they use.",
)
_REVIEW_SITES = (
    ("https://www.g2.com/categories/crm", "Best CRM Software: user reviews"),
    ("https://www.capterra.com/customer-relationship-management-software/", "CRM Software"),
    ("https://www.techradar.com/best/best-crm-software", "Best CRM software of the year"),
    ("https://www.forbes.com/advisor/business/software/best-crm-software/", "Best CRM"),
    ("https://www.reddit.com/r/smallbusiness/", "r/smallbusiness"),
)
_CITE_PROBABILITY = 0.85


@dataclass(frozen=True, slots=True)
class SyntheticAnswer:
    text: str
    citations: tuple[Citation, ...]
    """Inline citations, with ``start_index``/``end_index`` into :attr:`text`."""
    sources: tuple[Citation, ...]
    """Retrieved but not cited."""
    search_queries: tuple[str, ...]
    """Non-empty only when the answer was grounded."""
    input_tokens: int
    output_tokens: int


def default_domain(name: str) -> str:
    """A plausible domain for a brand we know nothing about: its slug plus ``.com``."""
    slug = re.sub(r"[^a-z0-9]+", "", name.lower())
    return f"{slug or 'brand'}.com"


def approximate_tokens(text: str) -> int:
    """Roughly four characters a token, as vendors' English tokenizers average."""
    return max(1, round(len(text) / 4))


def generate_answer(
    prompt: str,
    brands: Sequence[tuple[str, float]],
    *,
    rng: random.Random,
    grounding: bool = False,
    domains: Mapping[str, str] | None = None,
    untracked: Sequence[tuple[str, float]] = (),
) -> SyntheticAnswer:
    """One answer to ``prompt`` in which each brand appears with its probability, and each
    of ``untracked`` (names no experiment tracks) with its own; these are drawn after the
    brands, so the brands' draws are the same with or without them."""
    mentioned = _order_mentions([(n, p) for n, p in brands if rng.random() < p], rng)
    for name, probability in untracked:
        if rng.random() < probability:
            mentioned.insert(rng.randint(0, len(mentioned)), name)
    topic = _topic(prompt)
    segments: list[tuple[str, str | None]] = []  # (text, brand the text is about)
    if not mentioned:
        segments.append((rng.choice(_NO_BRAND_ANSWERS), None))
    else:
        style = rng.choice(("numbered", "bulleted", "prose"))
        segments.extend(_render(style, topic, mentioned, rng))
        if rng.random() < 0.5:
            segments.append(("\n\n" + rng.choice(_CLOSINGS), None))
    text, spans = _join(segments)
    citations: tuple[Citation, ...] = ()
    sources: tuple[Citation, ...] = ()
    queries: tuple[str, ...] = ()
    if grounding:
        queries = (_search_query(prompt),)
        citations = tuple(
            _brand_citation(name, start, end, text, domains)
            for name, start, end in spans
            if rng.random() < _CITE_PROBABILITY
        )
        picked = rng.sample(_REVIEW_SITES, rng.randint(1, 3))
        sources = tuple(Citation(url=url, title=title) for url, title in picked)
    return SyntheticAnswer(
        text=text,
        citations=citations,
        sources=sources,
        search_queries=queries,
        input_tokens=approximate_tokens(prompt) + 8,
        output_tokens=approximate_tokens(text),
    )


def _order_mentions(mentioned: list[tuple[str, float]], rng: random.Random) -> list[str]:
    """Weighted random order (Efraimidis-Spirakis keys): likelier brands tend to come first."""
    keyed = [(rng.random() ** (1.0 / max(p, 1e-6)), name) for name, p in mentioned]
    keyed.sort(reverse=True)
    return [name for _, name in keyed]


def _topic(prompt: str) -> str:
    cleaned = " ".join(prompt.split()).rstrip("?.! ")
    return cleaned[:120] or "your question"


def _search_query(prompt: str) -> str:
    words = re.findall(r"[\w'-]+", prompt.lower())
    return " ".join(words[:12]) or "recommendations"


def _render(
    style: str, topic: str, names: list[str], rng: random.Random
) -> list[tuple[str, str | None]]:
    # Distinct descriptions while they last, so two brands rarely share the same blurb.
    descriptions = rng.sample(_DESCRIPTIONS, len(_DESCRIPTIONS))
    if style == "prose":
        out: list[tuple[str, str | None]] = [(rng.choice(_PROSE_INTROS).format(topic=topic), None)]
        for i, name in enumerate(names):
            desc = descriptions[i % len(descriptions)]
            out.append((" ", None))
            out.append((rng.choice(_PROSE_LINKS).format(name=name, desc=desc), name))
        return out
    out = [(rng.choice(_INTROS).format(topic=topic) + "\n", None)]
    for rank, name in enumerate(names, start=1):
        bullet = f"{rank}. " if style == "numbered" else "- "
        out.append(("\n" + bullet, None))
        out.append((f"**{name}** — {descriptions[(rank - 1) % len(descriptions)]}.", name))
    return out


def _join(segments: list[tuple[str, str | None]]) -> tuple[str, list[tuple[str, int, int]]]:
    """Concatenate segments, remembering where each brand's segment sits in the text."""
    parts: list[str] = []
    spans: list[tuple[str, int, int]] = []
    offset = 0
    for piece, brand in segments:
        if brand is not None:
            spans.append((brand, offset, offset + len(piece)))
        parts.append(piece)
        offset += len(piece)
    return "".join(parts), spans


def _brand_citation(
    name: str, start: int, end: int, text: str, domains: Mapping[str, str] | None
) -> Citation:
    domain = (domains or {}).get(name) or default_domain(name)
    return Citation(
        url=f"https://{domain}/",
        title=f"{name} — official site",
        start_index=start,
        end_index=end,
        cited_text=text[start:end],
    )


def insert_markers(
    text: str, citations: Sequence[Citation], marker: Callable[[int, Citation], str]
) -> tuple[str, list[tuple[Citation, int, int]]]:
    """Put a vendor-style marker (``[1]``, a markdown link) right after each cited span.

    Returns the new text and, per citation in the given order, where its marker sits, so a
    wire format can point annotations at the marker as the vendors do.
    """
    order = sorted(range(len(citations)), key=lambda i: citations[i].end_index or len(text))
    parts: list[str] = []
    placed: dict[int, tuple[int, int]] = {}
    cursor = 0
    length = 0
    for i in order:
        end = citations[i].end_index
        cut = len(text) if end is None else min(max(end, cursor), len(text))
        parts.append(text[cursor:cut])
        length += cut - cursor
        cursor = cut
        mark = marker(i, citations[i])
        placed[i] = (length, length + len(mark))
        parts.append(mark)
        length += len(mark)
    parts.append(text[cursor:])
    new_text = "".join(parts)
    return new_text, [(c, *placed[i]) for i, c in enumerate(citations)]
