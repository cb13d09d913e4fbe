"""Refusing URLs a workspace gives us that would reach the server's own network (SSRF).

A workspace may point an OpenAI-compatible provider at a base URL of its choosing; the
server then sends requests there. Unless the operator allows it
(``ECHO_AI_BILLING__ALLOW_PRIVATE_BASE_URLS``), such a URL must be ``http`` or ``https`` and
every address its host resolves to must be a public one: no loopback, link-local (the
cloud metadata service at 169.254.169.254), private (RFC 1918, ``fc00::/7``), shared
(``100.64.0.0/10``), unspecified, multicast or reserved address, nor one of those wrapped
in IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo). The check runs when the URL is stored and
again before each chunk of a run uses it, since what a name resolves to can change.

A check followed by a request that resolves the name again leaves a window (DNS
rebinding: a name that answers a public address to the check, a private one to the
request). Requests we make ourselves (the alerts' webhooks) close it with
:func:`vet_url`: the name is resolved once, that address checked, and the request is sent
to that very address (:meth:`VettedURL.request_parts`), with the name kept in the ``Host``
header and in TLS's server name (SNI), which the certificate is verified against.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from echo_ai.errors import AppError

if TYPE_CHECKING:
    import httpx

MAX_URL_LENGTH = 500
"""The ``provider_credentials.base_url`` column."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(AppError):
    status_code = 422
    code = "unsafe_base_url"


class Unresolvable(UnsafeURL):
    """The URL's host does not resolve (now: a name may resolve again later)."""


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if address in ipaddress.IPv6Network("::/96") and int(address) > 1:
        return ipaddress.IPv4Address(int(address))  # deprecated IPv4-compatible form
    return None


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (and so is anything it wraps)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_v4(address)
        if inner is not None and not is_public(inner):
            return False
        if address.ipv4_mapped is not None:
            return True  # a public IPv4 address, mapped
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def parse_base_url(url: str, *, what: str = "base URL") -> tuple[str, str]:
    """``(url, host)`` of an ``http``/``https`` URL with a host and no credentials, the
    URL stripped of surrounding spaces; :class:`UnsafeURL` otherwise."""
    url = url.strip()
    if not url:
        raise UnsafeURL(f"the {what} is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"the {what} is longer than {MAX_URL_LENGTH} characters")
    if any(not ch.isprintable() or ch.isspace() for ch in url):
        raise UnsafeURL(f"the {what} has spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise UnsafeURL(f"the {what} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"the {what} must start with https:// or http://")
    if not host:
        raise UnsafeURL(f"the {what} has no host")
    if parts.username is not None or parts.password is not None:
        hint = " (use the API key)" if what == "base URL" else ""
        raise UnsafeURL(f"the {what} must not carry a user name or password{hint}")
    return url, host


async def resolve(host: str, port: int | None = None, *, what: str = "base URL") -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unresolvable(f"the {what}'s host {host!r} does not resolve") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).partition("%")[0]  # an IPv6 zone (fe80::1%eth0)
        address = ipaddress.ip_address(text)
        if address not in found:
            found.append(address)
    return found


async def check_base_url(
    url: str,
    *,
    allow_private: bool,
    what: str = "base URL",
    allowed_by: str = "ECHO_AI_BILLING__ALLOW_PRIVATE_BASE_URLS",
) -> str:
    """``url`` (stripped) if the server may send requests there; :class:`UnsafeURL` (422,
    saying why) if not. With ``allow_private`` (the operator's choice) only the URL's form
    is checked."""
    url, host = parse_base_url(url, what=what)
    if allow_private:
        return url
    _check_addresses(host, await resolve(host, what=what), what=what, allowed_by=allowed_by)
    return url


def _check_addresses(host: str, addresses: list[IPAddress], *, what: str, allowed_by: str) -> None:
    if not addresses:
        raise Unresolvable(f"the {what}'s host {host!r} does not resolve")
    for address in addresses:
        if not is_public(address):
            raise UnsafeURL(
                f"the {what}'s host {host!r} is at {address}, an address of a private, "
                "loopback, link-local or reserved network, which this server does not call "
                f"(an operator can allow it with {allowed_by})"
            )


@dataclass(frozen=True)
class VettedURL:
    """A URL whose host was resolved once, every address checked: requests go to
    :attr:`address`, never to a second resolution of the name."""

    url: str
    address: IPAddress

    def request_parts(self) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """The URL to send to (the host replaced by :attr:`address`), the ``Host``
        header and the request extensions (``sni_hostname``: the name TLS presents and
        verifies the certificate against) that keep the name as the server sees it."""
        import httpx  # here, where a request is made: the CLI starts without it

        named = httpx.URL(self.url)
        pinned = named.copy_with(host=str(self.address))
        host = named.netloc.decode("ascii")  # the IDNA name, with its port if one is given
        extensions: dict[str, Any] = {}
        if named.scheme == "https":
            extensions["sni_hostname"] = named.raw_host.decode("ascii")
        return pinned, {"Host": host}, extensions


async def vet_url(
    url: str,
    *,
    allow_private: bool,
    what: str = "base URL",
    allowed_by: str = "ECHO_AI_BILLING__ALLOW_PRIVATE_BASE_URLS",
) -> VettedURL:
    """``url`` checked like :func:`check_base_url`, with the address to connect to: the
    first its host resolved to in the one resolution that was checked (also with
    ``allow_private``: the request goes where the name pointed when it was looked up).
    :class:`UnsafeURL` if it may not be called, :class:`Unresolvable` if the host does
    not resolve now."""
    url, host = parse_base_url(url, what=what)
    addresses = await resolve(host, what=what)
    if not allow_private:
        _check_addresses(host, addresses, what=what, allowed_by=allowed_by)
    elif not addresses:
        raise Unresolvable(f"the {what}'s host {host!r} does not resolve")
    return VettedURL(url, addresses[0])
