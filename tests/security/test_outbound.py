"""The SSRF guard for base URLs a workspace sets: public addresses only, unless the
operator allows private ones."""

from __future__ import annotations

import asyncio
import socket

import pytest

from echo_ai.providers.base import CompletionRequest, ProviderError
from echo_ai.providers.openai_compatible import OpenAICompatibleProvider
from echo_ai.security.outbound import Unresolvable, UnsafeURL, check_base_url, vet_url
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.kit import ScriptedResolver

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.5",
    "172.16.4.4",
    "192.168.1.10",
    "169.254.169.254",  # the cloud metadata service
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "[::1]",
    "[::]",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[ff02::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[::ffff:10.0.0.1]",
    "[2002:7f00:1::]",  # 6to4 around 127.0.0.1
    "[2002:a9fe:a9fe::]",  # 6to4 around 169.254.169.254
]


@pytest.mark.parametrize("host", REFUSED_ADDRESSES)
async def test_private_loopback_link_local_and_reserved_addresses_are_refused(host: str) -> None:
    with pytest.raises(UnsafeURL) as refused:
        await check_base_url(f"https://{host}:8443/v1", allow_private=False)
    assert refused.value.status_code == 422
    assert "ALLOW_PRIVATE_BASE_URLS" in refused.value.message


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST"])
async def test_a_name_that_resolves_to_loopback_is_refused(host: str) -> None:
    with pytest.raises(UnsafeURL, match="is at"):
        await check_base_url(f"http://{host}:11434/v1", allow_private=False)


@pytest.mark.parametrize("host", ["8.8.8.8", "[2001:4860:4860::8888]", "[::ffff:8.8.8.8]"])
async def test_public_addresses_are_allowed(host: str) -> None:
    url = f"https://{host}/v1"
    assert await check_base_url(f"  {url} ", allow_private=False) == url


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.0.0.5", "169.254.169.254", "[fd00::1]"]
)
async def test_the_operator_can_allow_private_addresses(host: str) -> None:
    url = f"http://{host}:8000/v1"
    assert await check_base_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://8.8.8.8/v1", "https:// or http://"),
        ("file:///etc/passwd", "https:// or http://"),
        ("8.8.8.8/v1", "https:// or http://"),
        ("https:///v1", "no host"),
        ("https://user:pw@8.8.8.8/v1", "user name or password"),
        ("https://8.8.8.8:99999/v1", "not a valid URL"),
        ("https://8.8.8.8/v1 x", "spaces"),
        ("", "empty"),
        ("https://" + "a" * 500 + ".com", "longer than"),
    ],
)
async def test_malformed_urls_are_refused_even_when_private_ones_are_allowed(
    url: str, message: str
) -> None:
    with pytest.raises(UnsafeURL, match=message):
        await check_base_url(url, allow_private=True)


async def test_an_openai_compatible_client_does_not_follow_a_redirect_elsewhere(
    fake_llm: FakeLLMServer,
) -> None:
    # A server at a checked base URL answers with a redirect to another host: the client
    # must not send the request (and the key) there.
    target = f"{fake_llm.base_url}/v1/chat/completions"

    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(redirect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = OpenAICompatibleProvider(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x-1234")
    try:
        with pytest.raises(ProviderError):
            await provider.complete(CompletionRequest(prompt="Best CRM?", model="llama3.1:8b"))
    finally:
        await provider.aclose()
        server.close()
        await server.wait_closed()
    assert fake_llm.request_count == 0


async def test_a_vetted_url_is_sent_to_the_address_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dns = ScriptedResolver(monkeypatch, "hooks.rebind.example", ["93.184.216.34", "127.0.0.1"])
    vetted = await vet_url(
        "https://hooks.rebind.example:8443/echo?x=1", allow_private=False, what="webhook URL"
    )
    url, host, extensions = vetted.request_parts()
    assert str(url) == "https://93.184.216.34:8443/echo?x=1"
    assert host == {"Host": "hooks.rebind.example:8443"}
    assert extensions == {"sni_hostname": "hooks.rebind.example"}  # TLS name and check
    assert dns.lookups == 1
    # A second vetting looks again and refuses the private answer.
    with pytest.raises(UnsafeURL, match=r"is at 127\.0\.0\.1"):
        await vet_url("https://hooks.rebind.example/", allow_private=False, what="webhook URL")

    plain = await vet_url("http://[2606:4700::1]/h", allow_private=False)
    url, host, extensions = plain.request_parts()
    assert str(url) == "http://[2606:4700::1]/h" and host == {"Host": "[2606:4700::1]"}
    assert extensions == {}


async def test_a_name_that_does_not_resolve_is_unresolvable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def nothing(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nothing)
    for allow_private in (False, True):
        with pytest.raises(Unresolvable):
            await vet_url("https://gone.example/", allow_private=allow_private)
