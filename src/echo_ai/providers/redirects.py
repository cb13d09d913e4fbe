"""Where a vendor's redirect link leads: optional, off by default, cached, never followed.

Gemini's grounding chunks link to ``vertexaisearch.cloud.google.com/grounding-api-redirect/…``
rather than to the page. The page's site is usually known without asking anyone (the
chunk's ``domain``, or a title that is a domain: :func:`echo_ai.providers.sites.
attributable_url`); when it is not, an operator may turn on resolving
(``ECHO_AI_RUNNER__RESOLVE_REDIRECTS=true``): one ``HEAD`` (a ``GET`` when ``HEAD`` gives no
redirect) to the redirect link, reading only its ``Location`` header. The target page is
never requested, no cookie is stored or sent, and a link whose HEAD and GET together take
longer than the timeout is given up (the citation then stays uncredited). Definitive
answers (a redirect; a success without one; 404 or 410) are cached per process in a
bounded LRU, so a link is asked about once; a rate limit (429), a server error (5xx), a
timeout or a failed connection is not cached, so the link is asked again next time.

Only links on the vendor's redirect hosts are resolved: the resolver never requests an
arbitrary URL an answer contains.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final
from urllib.parse import urljoin, urlsplit

GROUNDING_REDIRECT_HOSTS: Final = frozenset({"vertexaisearch.cloud.google.com"})
"""Hosts whose links stand in for the real source (Gemini's grounding links)."""

if TYPE_CHECKING:
    import aiohttp

DEFAULT_CACHE_SIZE: Final = 10_000
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_GONE_STATUSES: Final = frozenset({404, 410})


def is_redirect_link(url: str, hosts: frozenset[str] = GROUNDING_REDIRECT_HOSTS) -> bool:
    """Whether ``url`` is an http(s) link on one of the redirect ``hosts``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    host = (parts.hostname or "").rstrip(".").lower()
    return parts.scheme in ("http", "https") and host in hosts


class RedirectCache:
    """A bounded, least-recently-used map from redirect link to its target (None: the link
    answered without redirecting). Safe to share between threads."""

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError("the redirect cache needs room for at least one link")
        self.maxsize = maxsize
        self._entries: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, url: object) -> bool:
        return url in self._entries

    def get(self, url: str) -> tuple[bool, str | None]:
        """``(found, target)``; a hit becomes the most recently used entry."""
        with self._lock:
            if url not in self._entries:
                return False, None
            self._entries.move_to_end(url)
            return True, self._entries[url]

    def put(self, url: str, target: str | None) -> None:
        with self._lock:
            self._entries[url] = target
            self._entries.move_to_end(url)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)


_process_cache: RedirectCache | None = None
_process_cache_lock = threading.Lock()


def process_cache(maxsize: int = DEFAULT_CACHE_SIZE) -> RedirectCache:
    """The cache every resolver of this process shares (made with the first size asked:
    one process reads one settings file)."""
    global _process_cache
    with _process_cache_lock:
        if _process_cache is None:
            _process_cache = RedirectCache(maxsize)
        return _process_cache


class RedirectResolver:
    """Reads where redirect links on ``hosts`` lead, one request each, at most once per link
    per process (see the module docstring)."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        cache: RedirectCache | None = None,
        hosts: frozenset[str] = GROUNDING_REDIRECT_HOSTS,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.cache = cache if cache is not None else process_cache()
        self.hosts = hosts

    async def resolve_all(self, urls: Iterable[str]) -> dict[str, str]:
        """Targets of the redirect links among ``urls`` that could be resolved, concurrently.

        Links on other hosts, links that answer without a redirect and links that time out
        or fail are left out: the caller keeps such a citation as it came.
        """
        wanted = [url for url in dict.fromkeys(urls) if is_redirect_link(url, self.hosts)]
        found: dict[str, str] = {}
        asked: list[str] = []
        for url in wanted:
            hit, target = self.cache.get(url)
            if not hit:
                asked.append(url)
            elif target is not None:
                found[url] = target
        if not asked:
            return found
        # Imported here: aiohttp takes half a second to import, and most processes that
        # read citations never resolve one.
        import aiohttp

        # A session per answer, not per process: the adapter may be used from more than
        # one event loop, and a session belongs to the loop it was made in.
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),  # cookies are neither kept nor sent
            timeout=aiohttp.ClientTimeout(total=None),  # one deadline per link, in _ask
        ) as session:
            answers = await asyncio.gather(*(self._ask(session, url) for url in asked))
        for url, (answered, target) in zip(asked, answers, strict=True):
            if answered:  # a rate limit, a 5xx or a timeout may pass later: not cached
                self.cache.put(url, target)
            if target is not None:
                found[url] = target
        return found

    async def _ask(self, session: aiohttp.ClientSession, url: str) -> tuple[bool, str | None]:
        """``(answered, target)`` from the first of HEAD, GET that names a redirect.

        ``answered`` means the link gave a definitive answer worth remembering for the
        process's life: a redirect, a success without one, or a link that is gone (404,
        410). A rate limit, a server error, a timeout or a failed connection may pass, so
        they are not remembered. HEAD and GET share one deadline: the whole question takes
        at most the configured timeout.
        """
        import aiohttp

        status = 0
        try:
            async with asyncio.timeout(self.timeout_seconds):
                for method in ("HEAD", "GET"):
                    # The body is never read: the response is closed as soon as it starts.
                    async with session.request(method, url, allow_redirects=False) as response:
                        status = response.status
                        location = response.headers.get("Location")
                        if status in _REDIRECT_STATUSES and location:
                            target = urljoin(url, location.strip())
                            web = urlsplit(target).scheme in ("http", "https")
                            return True, target if web else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False, None
        return _definitive(status), None


def _definitive(status: int) -> bool:
    """Whether a link that did not redirect will keep not redirecting: it answered (2xx) or
    is gone (404, 410). Anything else (429, 5xx, 405 to both methods...) may change."""
    return 200 <= status < 300 or status in _GONE_STATUSES
