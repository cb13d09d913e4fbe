"""Which tracked brands an answer mentions, where, in what order, and what it cites.

:class:`BrandMatcher` is compiled once per brand set and then applied to every answer of a
run, so all regular expressions are built in its constructor. The steps for one answer:

1. find raw matches of every term (see :mod:`echo_ai.analysis.matching` for boundaries,
   case rules and longest-match ordering);
2. drop matches inside URLs (a cited hubspot.com is a citation, not a mention), inside one
   of the brand's exclude phrases, a weekday in a date, or a capitalised common word that
   merely starts a sentence;
3. keep the longest match where several overlap ("Microsoft Dynamics 365" over "Microsoft");
4. set aside matches that are admissions of not knowing the brand (:mod:`.absence`);
5. rank brands by first appearance and by list item (:mod:`.lists`);
6. attribute provider citations, URLs in the text and retrieved sources to brand domains;
7. find the names the answer gives that are not tracked (:mod:`.discovery`).
8. score how the answer speaks of each mentioned brand (:mod:`.sentiment`).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from echo_ai.analysis.absence import admissions
from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.citations import (
    attributable_url,
    registrable_domain,
    url_spans,
    urls_on_domains,
)
from echo_ai.analysis.discovery import candidate_key, candidates
from echo_ai.analysis.lists import list_items
from echo_ai.analysis.matching import Term, TermIndex, in_date_context, reads_as_ordinary_word
from echo_ai.analysis.normalise import Normalised, normalise
from echo_ai.analysis.sentiment import METHOD as SENTIMENT_METHOD
from echo_ai.analysis.sentiment import BrandSentiment, score_mentions
from echo_ai.providers.base import Citation


@dataclass(frozen=True, slots=True)
class Mention:
    brand: str
    """``BrandDefinition.name`` of the brand mentioned."""
    term: str
    """The name or alias, as defined, that matched."""
    start: int
    end: int
    """Offsets into the answer text: ``text[start:end]`` is the matched spelling."""


@dataclass(frozen=True, slots=True)
class AbsenceStatement:
    """A sentence saying the assistant does not know the brand; not counted as a mention."""

    brand: str
    sentence: str
    start: int
    end: int


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class Extraction:
    """Everything the metrics need from one answer. Brand-keyed mappings omit empty entries."""

    mentions: tuple[Mention, ...] = ()
    brands_in_order: tuple[str, ...] = ()
    list_ranks: Mapping[str, int] = field(default_factory=dict)
    absences: tuple[AbsenceStatement, ...] = ()
    cited_domains: tuple[str, ...] = ()
    brand_citations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    brand_sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    candidates: tuple[str, ...] | None = None
    """Untracked names the answer gives (:mod:`.discovery`); None in extractions stored
    before they were looked for (a re-score finds them)."""
    sentiment: Mapping[str, BrandSentiment] = field(default_factory=dict)
    """How the answer speaks of each mentioned brand; empty in extractions stored before
    sentiment was scored (a re-score fills it)."""
    sentiment_method: str | None = None
    """Which scorer produced ``sentiment`` (``lexicon-1``...); None when none ran."""

    def __post_init__(self) -> None:
        for name in ("list_ranks", "brand_citations", "brand_sources", "sentiment"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def position(self, brand: str) -> int | None:
        """1-based order of the brand's first counted appearance among tracked brands."""
        try:
            return self.brands_in_order.index(brand) + 1
        except ValueError:
            return None

    def mentioned(self, brand: str) -> bool:
        return brand in self.brands_in_order

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for storage; :meth:`from_dict` reverses it."""
        return {
            "mentions": [
                {"brand": m.brand, "term": m.term, "start": m.start, "end": m.end}
                for m in self.mentions
            ],
            "brands_in_order": list(self.brands_in_order),
            "list_ranks": dict(self.list_ranks),
            "absences": [
                {"brand": a.brand, "sentence": a.sentence, "start": a.start, "end": a.end}
                for a in self.absences
            ],
            "cited_domains": list(self.cited_domains),
            "brand_citations": {b: list(urls) for b, urls in self.brand_citations.items()},
            "brand_sources": {b: list(urls) for b, urls in self.brand_sources.items()},
            **({} if self.candidates is None else {"candidates": list(self.candidates)}),
            "sentiment": {b: s.to_dict() for b, s in self.sentiment.items()},
            "sentiment_method": self.sentiment_method,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Extraction:
        """Rebuild a stored extraction; keys missing from older records default to empty."""
        return cls(
            mentions=tuple(
                Mention(str(m["brand"]), str(m["term"]), int(m["start"]), int(m["end"]))
                for m in data.get("mentions", ())
            ),
            brands_in_order=tuple(str(b) for b in data.get("brands_in_order", ())),
            list_ranks={str(b): int(r) for b, r in data.get("list_ranks", {}).items()},
            absences=tuple(
                AbsenceStatement(
                    str(a["brand"]), str(a["sentence"]), int(a["start"]), int(a["end"])
                )
                for a in data.get("absences", ())
            ),
            cited_domains=tuple(str(d) for d in data.get("cited_domains", ())),
            brand_citations={
                str(b): tuple(str(u) for u in urls)
                for b, urls in data.get("brand_citations", {}).items()
            },
            brand_sources={
                str(b): tuple(str(u) for u in urls)
                for b, urls in data.get("brand_sources", {}).items()
            },
            candidates=candidates_of(data),
            sentiment={
                str(b): BrandSentiment.from_dict(s)
                for b, s in (data.get("sentiment") or {}).items()
            },
            sentiment_method=data.get("sentiment_method"),
        )


def candidates_of(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The stored untracked names of an extraction (None if they were not looked for)."""
    found = data.get("candidates")
    return tuple(str(name) for name in found) if isinstance(found, list) else None


def _inside(spans: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    return any(span_start <= start and end <= span_end for span_start, span_end in spans)


def _overlaps(spans: Sequence[tuple[int, int]], ends: Sequence[int], start: int, end: int) -> bool:
    """Whether ``[start, end)`` overlaps one of the sorted, disjoint ``spans``."""
    index = bisect.bisect_right(ends, start)
    return index < len(spans) and spans[index][0] < end


class BrandMatcher:
    """Brand extraction compiled once per :class:`BrandSet` and reused for every answer."""

    def __init__(self, brands: BrandSet, *, discover: bool = True) -> None:
        self._brands = brands.all
        self._discover = discover
        self._tracked_keys = frozenset(
            candidate_key(term.text) for brand in self._brands for term in brand.terms
        )
        self._names = [brand.name for brand in self._brands]
        self._index = TermIndex(self._brands)
        self._domains = [(brand.name, brand.domains) for brand in self._brands if brand.domains]
        self._needs_folded = self._index.uses(folded=True)
        self._needs_cased = self._index.uses(folded=False)

    def extract(
        self,
        text: str,
        *,
        citations: Sequence[Citation] = (),
        sources: Sequence[Citation] = (),
    ) -> Extraction:
        """Mentions, order, list ranks, absences and citations of one answer."""
        folded = normalise(text, fold=True) if self._needs_folded else Normalised("")
        matches = self._index.find(folded, folded=True)
        if self._needs_cased:
            matches += self._index.find(normalise(text, fold=False), folded=False)
        links = url_spans(text) if "://" in text else []
        kept = self._resolve(text, folded, matches, [(start, end) for start, end, _ in links])
        # The folded text is the lower-cased answer when normalising moved no offset.
        lowered = folded.text if folded.starts is None and folded.text else None
        mentions, absences = self._split_absences(text, kept, lowered)
        brands_in_order = tuple(dict.fromkeys(mention.brand for mention in mentions))
        cited_urls = [attributable_url(c) for c in citations] + [url for _, _, url in links]
        cited = tuple(dict.fromkeys(cited_urls))
        cited_set = set(cited)
        retrieved = [url for url in map(attributable_url, sources) if url not in cited_set]
        return Extraction(
            mentions=mentions,
            brands_in_order=brands_in_order,
            list_ranks=self._list_ranks(text, mentions),
            absences=absences,
            cited_domains=tuple(
                dict.fromkeys(d for d in map(registrable_domain, cited) if d is not None)
            ),
            brand_citations=self._on_brand_domains(cited),
            brand_sources=self._on_brand_domains(retrieved),
            candidates=self._candidates(text, kept, links) if self._discover else None,
            sentiment=score_mentions(text, mentions),
            sentiment_method=SENTIMENT_METHOD,
        )

    def _candidates(
        self,
        text: str,
        kept: Sequence[tuple[int, int, Term]],
        links: Sequence[tuple[int, int, str]],
    ) -> tuple[str, ...]:
        """Untracked names: tracked matches (admitted or not) and links are no candidates."""
        return tuple(
            candidates(
                text,
                tracked_spans=[(start, end) for start, end, _ in kept],
                tracked_keys=self._tracked_keys,
                excluded_spans=[(start, end) for start, end, _ in links],
            )
        )

    def _resolve(
        self,
        text: str,
        folded: Normalised,
        matches: list[tuple[int, int, Term]],
        urls: Sequence[tuple[int, int]],
    ) -> list[tuple[int, int, Term]]:
        url_ends = [end for _, end in urls]
        exclusions: dict[int, list[tuple[int, int]]] = {}
        accepted: list[tuple[int, int, Term]] = []
        for start, end, term in matches:
            if urls and _overlaps(urls, url_ends, start, end):
                continue
            if term.brand in self._index.excludes:
                if term.brand not in exclusions:
                    exclusions[term.brand] = self._index.exclusion_spans(term.brand, folded)
                if _inside(exclusions[term.brand], start, end):
                    continue
            if term.weekday and in_date_context(text, start, end):
                continue
            if term.auto_cased and reads_as_ordinary_word(text, start, end, words=term.words):
                continue
            accepted.append((start, end, term))
        accepted.sort(key=lambda match: (match[0], match[0] - match[1]))
        kept: list[tuple[int, int, Term]] = []
        for match in accepted:
            if not kept or match[0] >= kept[-1][1]:
                kept.append(match)
        return kept

    def _split_absences(
        self, text: str, kept: list[tuple[int, int, Term]], lowered: str | None
    ) -> tuple[tuple[Mention, ...], tuple[AbsenceStatement, ...]]:
        names = self._names
        found = admissions(text, [(start, end) for start, end, _ in kept], lowered=lowered)
        if not found:
            return tuple(Mention(names[term.brand], term.text, s, e) for s, e, term in kept), ()
        admitted = {admission.match: admission.sentence for admission in found}
        mentions: list[Mention] = []
        absences: dict[tuple[str, int], AbsenceStatement] = {}
        for index, (start, end, term) in enumerate(kept):
            brand = names[term.brand]
            scope = admitted.get(index)
            if scope is None:
                mentions.append(Mention(brand, term.text, start, end))
            elif (brand, scope[0]) not in absences:
                sentence = text[scope[0] : scope[1]]
                absences[brand, scope[0]] = AbsenceStatement(brand, sentence, *scope)
        return tuple(mentions), tuple(absences.values())

    @staticmethod
    def _list_ranks(text: str, mentions: Sequence[Mention]) -> dict[str, int]:
        items = list_items(text, [mention.start for mention in mentions])
        if not items:
            return {}
        starts = [item.start for item in items]
        ranks: dict[str, int] = {}
        for mention in mentions:
            position = bisect.bisect_right(starts, mention.start) - 1
            if position >= 0 and mention.start < items[position].end:
                ranks.setdefault(mention.brand, items[position].rank)
        return ranks

    def _on_brand_domains(self, urls: Sequence[str]) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        if not urls:
            return found
        for name, domains in self._domains:
            matched = urls_on_domains(urls, domains)
            if matched:
                found[name] = matched
        return found
