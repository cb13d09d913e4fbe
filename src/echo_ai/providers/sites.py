"""Which site a link or a citation names: host, registrable domain, the credited URL.

Shared by the providers (Gemini asks where a grounding redirect leads exactly when
:func:`attributable_url` cannot name the site without asking) and by the analysis (which
credits citations to brands' domains), so both read a citation the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

import tldextract

from echo_ai.providers.base import Citation
from echo_ai.providers.redirects import GROUNDING_REDIRECT_HOSTS

# The bundled public-suffix snapshot only: no network fetch, no cache written under the
# user's home directory (the default would do both on first use).
_EXTRACT = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


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


def is_stand_in(host: str | None) -> bool:
    """A grounding redirect host: its links stand in for a page on another site."""
    return host in GROUNDING_REDIRECT_HOSTS


def registrable_domain(url_or_host: str) -> str | None:
    """The domain a registrant owns ("blog.hubspot.com/x" -> "hubspot.com", "bbc.co.uk").

    None for IP addresses, single-label hosts (``localhost``), unknown suffixes and
    grounding redirect links: such a link stands for a page whose site it does not name,
    so it is credited to no one (never to google.com).
    """
    host = host_of(url_or_host)
    if host is None or _IPV4.match(host) or ":" in host or is_stand_in(host):
        return None
    return _registrable(host)


def _as_domain(name: str | None) -> str | None:
    """``name`` when it is a bare domain ("hubspot.com", "Blog.HubSpot.com"), else None."""
    if not name:
        return None
    candidate = name.strip().lower().removeprefix("www.")
    if not candidate or any(c.isspace() or c in "/:?#@" for c in candidate):
        return None
    if is_stand_in(candidate) or registrable_domain(candidate) is None:
        return None
    return candidate


def named_site(citation: Citation) -> str | None:
    """The site a citation names without following its link: its ``domain``, else a title
    that is a domain ("hubspot.com"; never "Node.js" or "U.S.", whose suffix is no
    registrable one), as ``https://<domain>``; None when it names none.

    The one rule for a grounding redirect: what it names is its credit, and exactly the
    redirects that name nothing are worth resolving (:func:`echo_ai.providers.gemini.
    resolve_redirects`).
    """
    for named in (citation.domain, citation.title):
        domain = _as_domain(named)
        if domain is not None:
            return f"https://{domain}"
    return None


def attributable_url(citation: Citation) -> str:
    """The URL a citation is credited to.

    A link to the page itself is its own credit (or where it redirected, if it was
    resolved). A grounding redirect (Gemini) is credited, in order, to the chunk's
    ``domain``, to a title that is a domain ("hubspot.com"), to the redirect's resolved
    target; failing all three it stays the redirect link, which :func:`registrable_domain`
    credits to no one: a page title ("Best CRMs of 2026") is never taken for a site.
    """
    if not is_stand_in(host_of(citation.url)):
        return citation.resolved_url or citation.url
    site = named_site(citation)
    if site is not None:
        return site
    resolved = citation.resolved_url
    if resolved and registrable_domain(resolved) is not None:
        return resolved
    return citation.url
