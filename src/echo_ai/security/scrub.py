"""Scrubbing of personal data from text before it is stored: e-mail addresses become
``[email]`` and phone numbers ``[phone]`` (a workspace's ``scrub_personal_data``).
Addresses of web pages (:func:`scrub_url`) keep their site, so that citation domains
still count: only the path, query and fragment are scrubbed, and any user name or
password in the address is dropped.

Phone numbers are found by ``phonenumbers``' matcher at its ``VALID`` leniency (a number
that is possible and valid for its region, so years, prices and counts are left alone):
numbers in international form (``+44 20 7946 0958``) anywhere, and national ones
(``(650) 253-0000``) of :data:`DEFAULT_REGION`. Addresses are matched by a pattern of the
common form ``local@domain.tld`` (the at sign also in its full-width and small forms, ``＠`` and
``﹫``, which read the same).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import phonenumbers

EMAIL_MARK = "[email]"
PHONE_MARK = "[phone]"
DEFAULT_REGION = "US"
"""The region whose national phone numbers (without a ``+`` country code) are found."""

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+[@\uff20\ufe6b][A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b"
)


def scrub(text: str, *, region: str = DEFAULT_REGION) -> str:
    """``text`` with its e-mail addresses and phone numbers replaced by the marks."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL_MARK, text)
    found = list(
        phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    )
    for match in reversed(found):
        text = text[: match.start] + PHONE_MARK + text[match.end :]
    return text


def scrub_optional(text: str | None, *, region: str = DEFAULT_REGION) -> str | None:
    return None if text is None else scrub(text, region=region)


def scrub_url(url: str, *, region: str = DEFAULT_REGION) -> str:
    """``url`` with personal data taken out of everything but its site (scheme, host and
    port stay as they are, so citation domains still count)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL we can split: scrubbed as text
        return scrub(url, region=region)
    if not parts.netloc:
        return scrub(url, region=region)
    return urlunsplit(
        (
            parts.scheme,
            parts.netloc.rpartition("@")[2],
            scrub(parts.path, region=region),
            scrub(parts.query, region=region),
            scrub(parts.fragment, region=region),
        )
    )
