"""Links in answers: finding URLs, reducing them to registrable domains, matching brand domains.

Domains are only ever used to attribute *citations* to brands. A brand is never considered
mentioned because one of its domains was cited: citing hubspot.com is a citation, naming
HubSpot in the prose is a mention, and the product reports the two separately.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import urlsplit

import tldextract

from echo_ai.providers.base import Citation

# The bundled public-suffix snapshot only: no network fetch, no cache written under the
# user's home directory (the default would do both on first use).
_EXTRACT = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)

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
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


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


def host_of(url_or_host: str) -> str | None:
    """Lower-case host name of a URL or bare host, without ``www.``; None if there is none."""
    candidate = url_or_host.strip()
    if not candidate:
        return None
    if "://" not in candidate:
        candidate = "//" + candidate
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".").lower()
    return host.removeprefix("www.") or None


@lru_cache(maxsize=4096)
def _registrable(host: str) -> str | None:
    domain = _EXTRACT.extract_str(host).top_domain_under_public_suffix
    return domain.lower() or None


def registrable_domain(url_or_host: str) -> str | None:
    """The domain a registrant owns ("blog.hubspot.com/x" -> "hubspot.com", "bbc.co.uk").

    None for IP addresses, single-label hosts (``localhost``) and unknown suffixes.
    """
    host = host_of(url_or_host)
    if host is None or _IPV4.match(host) or ":" in host:
        return None
    return _registrable(host)


GROUNDING_REDIRECT_HOSTS = frozenset({"vertexaisearch.cloud.google.com"})
"""Hosts that stand in for the real source (Gemini's grounding links): the page's own
domain is then in the citation's title."""


def attributable_url(citation: Citation) -> str:
    """The URL to attribute a citation to: its own, or for a grounding redirect whose title
    names a domain, that domain."""
    host = host_of(citation.url)
    if host in GROUNDING_REDIRECT_HOSTS and citation.title:
        title = citation.title.strip().lower()
        if " " not in title and registrable_domain(title) is not None:
            return f"https://{title}"
    return citation.url


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
        if host is not None and any(host_matches_domain(host, domain) for domain in domains):
            found.setdefault(url, None)
    return tuple(found)
