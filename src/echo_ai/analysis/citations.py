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
from echo_ai.providers.redirects import GROUNDING_REDIRECT_HOSTS

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


def _stands_in(host: str | None) -> bool:
    """A grounding redirect host: its links stand in for a page on another site."""
    return host in GROUNDING_REDIRECT_HOSTS


def registrable_domain(url_or_host: str) -> str | None:
    """The domain a registrant owns ("blog.hubspot.com/x" -> "hubspot.com", "bbc.co.uk").

    None for IP addresses, single-label hosts (``localhost``), unknown suffixes and
    grounding redirect links: such a link stands for a page whose site it does not name,
    so it is credited to no one (never to google.com).
    """
    host = host_of(url_or_host)
    if host is None or _IPV4.match(host) or ":" in host or _stands_in(host):
        return None
    return _registrable(host)


def _as_domain(name: str | None) -> str | None:
    """``name`` when it is a bare domain ("hubspot.com", "Blog.HubSpot.com"), else None."""
    if not name:
        return None
    candidate = name.strip().lower().removeprefix("www.")
    if not candidate or any(c.isspace() or c in "/:?#@" for c in candidate):
        return None
    if _stands_in(candidate) or registrable_domain(candidate) is None:
        return None
    return candidate


def attributable_url(citation: Citation) -> str:
    """The URL a citation is credited to.

    A link to the page itself is its own credit (or where it redirected, if it was
    resolved). A grounding redirect (Gemini) is credited, in order, to the chunk's
    ``domain``, to a title that is a domain ("hubspot.com"), to the redirect's resolved
    target; failing all three it stays the redirect link, which :func:`registrable_domain`
    credits to no one: a page title ("Best CRMs of 2026") is never taken for a site.
    """
    if not _stands_in(host_of(citation.url)):
        return citation.resolved_url or citation.url
    for named in (citation.domain, citation.title):
        domain = _as_domain(named)
        if domain is not None:
            return f"https://{domain}"
    resolved = citation.resolved_url
    if resolved and registrable_domain(resolved) is not None:
        return resolved
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
        if (
            host is not None
            and not _stands_in(host)
            and any(host_matches_domain(host, domain) for domain in domains)
        ):
            found.setdefault(url, None)
    return tuple(found)
