"""The offline demo provider and the synthetic answer generator behind it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter

import pytest

from echo_ai.providers.base import Citation, CompletionRequest, Provider
from echo_ai.providers.demo import DemoProvider, default_brand_probabilities
from echo_ai.providers.synthetic import (
    DEFAULT_BRANDS,
    default_domain,
    generate_answer,
    insert_markers,
)

PROMPT = "best CRM for a 10-person startup"


async def test_same_iteration_seed_gives_the_same_answer() -> None:
    provider = DemoProvider(seed=3)
    first = await provider.complete(CompletionRequest(prompt=PROMPT, model="demo", seed=7))
    again = await DemoProvider(seed=3).complete(
        CompletionRequest(prompt=PROMPT, model="demo", seed=7)
    )
    assert first.text == again.text
    texts = {
        (await provider.complete(CompletionRequest(prompt=PROMPT, model="demo", seed=i))).text
        for i in range(20)
    }
    assert len(texts) > 10, "iterations must differ from each other"


def test_answers_do_not_depend_on_python_hash_randomisation() -> None:
    script = (
        "import asyncio\n"
        "from echo_ai.providers.demo import DemoProvider\n"
        "from echo_ai.providers.base import CompletionRequest\n"
        "r = CompletionRequest(prompt='best CRM', model='demo', seed=5)\n"
        "print(asyncio.run(DemoProvider(seed=1).complete(r)).text)\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip()


async def test_completion_is_labelled_synthetic() -> None:
    completion = await DemoProvider().complete(CompletionRequest(prompt=PROMPT, model="demo"))
    assert completion.synthetic
    assert completion.model_version == "demo-synthetic-1"
    assert not completion.searched
    assert completion.input_tokens
    assert completion.output_tokens
    assert isinstance(DemoProvider(), Provider)


async def test_mention_rates_follow_the_configured_probabilities() -> None:
    provider = DemoProvider([("Alpha", 0.8), ("Beta", 0.3), ("Gamma", 0.0)], seed=11)
    counts: Counter[str] = Counter()
    n = 400
    for i in range(n):
        text = (
            await provider.complete(CompletionRequest(prompt=PROMPT, model="demo", seed=i))
        ).text
        counts.update(name for name in ("Alpha", "Beta", "Gamma") if name in text)
    assert abs(counts["Alpha"] / n - 0.8) < 0.07
    assert abs(counts["Beta"] / n - 0.3) < 0.07
    assert counts["Gamma"] == 0


def test_likelier_brands_tend_to_be_named_first() -> None:
    rng = random.Random(5)
    first_is_likely = both = 0
    for _ in range(300):
        text = generate_answer(PROMPT, [("Rare", 0.5), ("Common", 0.95)], rng=rng).text
        if "Rare" in text and "Common" in text:
            both += 1
            first_is_likely += text.index("Common") < text.index("Rare")
    assert both > 50
    assert 0.55 < first_is_likely / both < 0.99, "biased, yet still random"


def test_formats_vary_between_lists_and_prose() -> None:
    rng = random.Random(1)
    texts = [generate_answer(PROMPT, DEFAULT_BRANDS, rng=rng).text for _ in range(60)]
    numbered = sum("\n1. **" in t for t in texts)
    bulleted = sum("\n- **" in t for t in texts)
    prose = sum("**" not in t for t in texts)
    assert numbered
    assert bulleted
    assert prose


def test_grounded_answer_cites_mentioned_brands_with_exact_offsets() -> None:
    rng = random.Random(2)
    domains = {"HubSpot": "hubspot.com"}
    for _ in range(30):
        answer = generate_answer(
            PROMPT, [("HubSpot", 1.0), ("Zoho CRM", 0.7)], rng=rng, grounding=True, domains=domains
        )
        assert answer.search_queries == ("best crm for a 10-person startup",)
        assert 1 <= len(answer.sources) <= 3
        for citation in answer.citations:
            assert citation.start_index is not None
            assert citation.end_index is not None
            span = answer.text[citation.start_index : citation.end_index]
            assert span == citation.cited_text
            brand = "HubSpot" if "hubspot.com" in citation.url else "Zoho CRM"
            assert brand in span
            assert citation.url in ("https://hubspot.com/", "https://zohocrm.com/")


def test_ungrounded_answer_has_no_search_artefacts() -> None:
    answer = generate_answer(PROMPT, DEFAULT_BRANDS, rng=random.Random(0))
    assert answer.citations == ()
    assert answer.sources == ()
    assert answer.search_queries == ()
    assert abs(answer.output_tokens - len(answer.text) / 4) <= 1


def test_answer_without_brands_still_reads_like_an_answer() -> None:
    answer = generate_answer(PROMPT, [("Nobody", 0.0)], rng=random.Random(0), grounding=True)
    assert "Nobody" not in answer.text
    assert len(answer.text) > 50
    assert answer.citations == ()


def test_insert_markers_keeps_offsets_pointing_at_the_markers() -> None:
    text = "Alpha is good. Beta is fine."
    citations = [
        Citation(url="https://beta.com/", start_index=15, end_index=28),
        Citation(url="https://alpha.com/", start_index=0, end_index=14),
    ]
    new_text, placed = insert_markers(text, citations, lambda i, _: f"[{i + 1}]")
    assert new_text == "Alpha is good.[2] Beta is fine.[1]"
    for citation, start, end in placed:
        expected = "[1]" if citation.url == "https://beta.com/" else "[2]"
        assert new_text[start:end] == expected


def test_default_domain_is_a_slug() -> None:
    assert default_domain("Zoho CRM") == "zohocrm.com"
    assert default_domain("Monday.com Sales") == "mondaycomsales.com"


def test_default_probabilities_put_the_target_first_and_spread_competitors() -> None:
    names = ["Target", "A", "B", "C", "D", "E"]
    assert default_brand_probabilities(names) == [
        ("Target", 0.6),
        ("A", 0.75),
        ("B", 0.5),
        ("C", 0.35),
        ("D", 0.2),
        ("E", 0.1),
    ]
    assert default_brand_probabilities([]) == []


def test_probabilities_outside_unit_interval_are_rejected() -> None:
    with pytest.raises(ValueError, match="Alpha"):
        DemoProvider([("Alpha", 1.5)])


async def test_demo_also_names_untracked_crms_the_discovery_finds() -> None:
    from echo_ai.analysis.brands import BrandSet
    from echo_ai.analysis.extraction import BrandMatcher
    from echo_ai.providers.synthetic import DEMO_UNTRACKED

    brands = [("HubSpot", 0.6), ("Attio", 0.5)]
    provider = DemoProvider(brands, untracked=DEMO_UNTRACKED)
    plain = DemoProvider(brands)
    matcher = BrandMatcher(
        BrandSet.model_validate({"target": {"name": "HubSpot"}, "competitors": [{"name": "Attio"}]})
    )
    found: Counter[str] = Counter()
    for seed in range(60):
        request = CompletionRequest(prompt=PROMPT, model="demo", seed=seed)
        answer = matcher.extract((await provider.complete(request)).text)
        without = matcher.extract((await plain.complete(request)).text)
        # The tracked brands' draws are the same with or without the untracked names.
        assert set(answer.brands_in_order) == set(without.brands_in_order)
        found.update(answer.candidates or ())
    # Attio is tracked here, so never an untracked name; nothing else reads as one.
    assert set(found) == {"Insightly", "Keap"}
