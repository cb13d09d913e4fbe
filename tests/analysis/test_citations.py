"""URLs in answers, registrable domains and brand-domain matching."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.citations import (
    attributable_url,
    host_matches_domain,
    host_of,
    registrable_domain,
    url_spans,
    urls_in_text,
    urls_on_domains,
)
from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.providers.base import Citation


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://blog.hubspot.com/sales/crm", "hubspot.com"),
        ("hubspot.com/pricing", "hubspot.com"),
        ("WWW.HubSpot.COM", "hubspot.com"),
        ("http://forums.bbc.co.uk/thread?id=1", "bbc.co.uk"),
        ("https://user:pw@shop.example.com.au:8443/x", "example.com.au"),
        ("https://société-générale.fr/", "société-générale.fr"),
        ("http://127.0.0.1:8000/health", None),
        ("http://[::1]/", None),
        ("http://localhost/", None),
        ("", None),
        ("not a url at all", None),
    ],
)
def test_registrable_domain(value: str, expected: str | None) -> None:
    assert registrable_domain(value) == expected


def test_suffix_list_is_the_bundled_snapshot_without_network_or_home_cache(
    tmp_path: Path,
) -> None:
    """A fresh interpreter with no network and an empty home still resolves suffixes."""
    script = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network disabled in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from echo_ai.analysis.citations import registrable_domain\n"
        "print(registrable_domain('https://a.b.example.co.uk/x'))\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("TLDEXTRACT_CACHE", None)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "example.co.uk"
    assert list(tmp_path.iterdir()) == []


def test_urls_in_text_finds_bare_and_markdown_links_and_strips_trailing_punctuation() -> None:
    text = (
        'See [HubSpot pricing](https://www.hubspot.com/pricing "Pricing"), '
        "https://en.wikipedia.org/wiki/Box_(company). Also (https://zoho.com/crm), "
        "<https://x.io/a>, **https://pipedrive.com/en/blog?a=1&b=2**. "
        "Again: https://zoho.com/crm! Not a link: ftp://files.example.com or example.com."
    )
    assert urls_in_text(text) == [
        "https://www.hubspot.com/pricing",
        "https://en.wikipedia.org/wiki/Box_(company)",
        "https://zoho.com/crm",
        "https://x.io/a",
        "https://pipedrive.com/en/blog?a=1&b=2",
    ]


def test_url_spans_cover_only_the_link_target_of_markdown_links() -> None:
    text = "Read [the HubSpot guide](https://hubspot.com/guide) today."
    ((start, end, url),) = url_spans(text)
    assert text[start:end] == url == "https://hubspot.com/guide"
    assert start > text.index("]")


@pytest.mark.parametrize(
    ("host", "domain", "expected"),
    [
        ("hubspot.com", "hubspot.com", True),
        ("blog.hubspot.com", "hubspot.com", True),
        ("nothubspot.com", "hubspot.com", False),
        ("hubspot.com.evil.io", "hubspot.com", False),
        ("aws.amazon.com", "aws.amazon.com", True),
        ("amazon.com", "aws.amazon.com", False),
    ],
)
def test_host_matches_domain(host: str, domain: str, expected: bool) -> None:
    assert host_matches_domain(host, domain) is expected


def test_urls_on_domains_matches_subdomains_and_paths_but_not_lookalikes() -> None:
    urls = [
        "https://blog.hubspot.com/a",
        "hubspot.com/pricing",
        "https://nothubspot.com/",
        "https://www.hubspot.com/b",
        "https://blog.hubspot.com/a",
        "mailto:someone",
    ]
    assert urls_on_domains(urls, ["hubspot.com"]) == (
        "https://blog.hubspot.com/a",
        "hubspot.com/pricing",
        "https://www.hubspot.com/b",
    )
    assert urls_on_domains(urls, []) == ()


def test_host_of_normalises_case_port_and_www() -> None:
    assert host_of("HTTPS://WWW.Example.com:8080/path") == "example.com"
    assert host_of("example.com.") == "example.com"
    assert host_of("   ") is None


REDIRECT = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/AbC123"


def test_gemini_grounding_redirects_are_attributed_to_the_domain_in_their_title() -> None:
    redirect = REDIRECT
    assert attributable_url(Citation(url=redirect, title="hubspot.com")) == "https://hubspot.com"
    assert attributable_url(Citation(url=redirect, title="Best CRMs of 2026")) == redirect
    other = "https://example.org/page"
    assert attributable_url(Citation(url=other, title="hubspot.com")) == other
    brands = BrandSet.model_validate({"target": {"name": "HubSpot", "domains": ["hubspot.com"]}})
    extraction = BrandMatcher(brands).extract(
        "HubSpot is popular.", citations=[Citation(url=redirect, title="hubspot.com")]
    )
    assert extraction.brand_citations["HubSpot"] == ("https://hubspot.com",)
    assert extraction.cited_domains == ("hubspot.com",)


@pytest.mark.parametrize(
    ("citation", "credited"),
    [
        # The chunk's domain first, even over a title that names another domain.
        (Citation(url=REDIRECT, title="g2.com", domain="hubspot.com"), "https://hubspot.com"),
        (Citation(url=REDIRECT, title="Pricing", domain="WWW.HubSpot.com"), "https://hubspot.com"),
        # Then a title that is a domain.
        (Citation(url=REDIRECT, title=" Blog.HubSpot.com "), "https://blog.hubspot.com"),
        (Citation(url=REDIRECT, title="hubspot.com", resolved_url="https://g2.com/x"),
         "https://hubspot.com"),
        # Then where the redirect was resolved to.
        (Citation(url=REDIRECT, title="Best CRMs", resolved_url="https://www.g2.com/crm"),
         "https://www.g2.com/crm"),
        # Nothing that names a site: the redirect itself, credited to no one.
        (Citation(url=REDIRECT, title="The 9 Best CRMs | Zapier"), REDIRECT),
        (Citation(url=REDIRECT, title="hubspot.com/pricing"), REDIRECT),
        (Citation(url=REDIRECT, title="HubSpot"), REDIRECT),
        (Citation(url=REDIRECT, title="vertexaisearch.cloud.google.com"), REDIRECT),
        (Citation(url=REDIRECT, title="Best", domain=""), REDIRECT),
        (Citation(url=REDIRECT, resolved_url=REDIRECT + "x"), REDIRECT),
        # A link to the page itself is its own credit, or where it was resolved to.
        (Citation(url="https://zapier.com/blog", domain="hubspot.com"), "https://zapier.com/blog"),
        (Citation(url="https://t.co/x", resolved_url="https://hubspot.com/"),
         "https://hubspot.com/"),
    ],
)  # fmt: skip
def test_attributable_url_order(citation: Citation, credited: str) -> None:
    assert attributable_url(citation) == credited


def test_a_redirect_is_never_credited_to_google() -> None:
    assert registrable_domain(REDIRECT) is None
    assert registrable_domain("vertexaisearch.cloud.google.com") is None
    assert registrable_domain("https://cloud.google.com/vertex-ai") == "google.com"
    assert urls_on_domains([REDIRECT, "https://www.google.com/maps"], ["google.com"]) == (
        "https://www.google.com/maps",
    )
    brands = BrandSet.model_validate({"target": {"name": "Google", "domains": ["google.com"]}})
    extraction = BrandMatcher(brands).extract(
        "Google Workspace is one option.",
        citations=[Citation(url=REDIRECT, title="Best CRMs of 2026")],
        sources=[Citation(url=REDIRECT + "2", title="CRM reviews")],
    )
    assert extraction.cited_domains == ()
    assert extraction.brand_citations == {}
    assert extraction.brand_sources == {}
