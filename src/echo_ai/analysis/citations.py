"""Links in answers: finding URLs, reducing them to registrable domains, matching brand domains.

Domains are only ever used to attribute *citations* to brands. A brand is never considered
mentioned because one of its domains was cited: citing hubspot.com is a citation, naming
HubSpot in the prose is a mention, and the product reports the two separately.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from echo_ai.providers.sites import attributable_url as attributable_url
from echo_ai.providers.sites import host_of as host_of
from echo_ai.providers.sites import is_stand_in
from echo_ai.providers.sites import registrable_domain as registrable_domain

_MARKDOWN_LINK = re.compile(
    r"""
    \[(?P<label>[^\]\n]*)\]          # [label]
    \(\s*<?
    (?P<url>https?://[^\s)>]+(?:\([^\s)]*\)[^\s)>]*)*)   # target, balanced parentheses kept
    >?(?:\s+"[^"\n]*")?\s*\)          # optional "title"
    """,
    re.IGNORECASE | re.VERBOSE,
)
_BARE_URL = re.compile(r"https?://[^\s<>\"'`\[\]{}|\\^]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'\"*_~"


def _trim(url: str) -> str:
    """Drop punctuation that ends the sentence rather than the URL.

    A closing parenthesis is kept only when it balances one inside the URL, as in
    ``https://en.wikipedia.org/wiki/Box_(company)``.
    """
    while url:
        last = url[-1]
        unbalanced = last == ")" and url.count(")") > url.count("(")
        if last in _TRAILING_PUNCTUATION or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def url_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, url)`` for every http(s) URL in ``text``, in order.

    For a markdown link only the target is a URL span: its label is prose and may name a
    brand. The spans let the extractor ignore brand names that only occur inside URLs.
    """
    spans: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    for match in _MARKDOWN_LINK.finditer(text):
        url = _trim(match.group("url"))
        start = match.start("url")
        spans.append((start, start + len(url), url))
        taken.append((match.start(), match.end()))
    for match in _BARE_URL.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        url = _trim(match.group())
        if len(url) > len("https://"):
            spans.append((match.start(), match.start() + len(url), url))
    spans.sort()
    return spans


def urls_in_text(text: str) -> list[str]:
    """The distinct http(s) URLs in ``text`` (bare or markdown links), in order of appearance."""
    return list(dict.fromkeys(url for _, _, url in url_spans(text)))


def host_matches_domain(host: str, domain: str) -> bool:
    """Whether ``host`` is ``domain`` or one of its subdomains (not merely ending in its text)."""
    return host == domain or host.endswith("." + domain)


def urls_on_domains(urls: Iterable[str], domains: Sequence[str]) -> tuple[str, ...]:
    """The distinct URLs whose host is one of ``domains`` or a subdomain of one, in order."""
    if not domains:
        return ()
    found: dict[str, None] = {}
    for url in urls:
        host = host_of(url)
        if (
            host is not None
            and not is_stand_in(host)
            and any(host_matches_domain(host, domain) for domain in domains)
        ):
            found.setdefault(url, None)
    return tuple(found)
