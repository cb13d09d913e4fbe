"""Scrubbing of personal data from text before it is stored: e-mail addresses become
``[email]`` and phone numbers ``[phone]`` (a workspace's ``scrub_personal_data``).

Phone numbers are found by ``phonenumbers``' matcher at its ``VALID`` leniency (a number
that is possible and valid for its region, so years, prices and counts are left alone):
numbers in international form (``+44 20 7946 0958``) anywhere, and national ones
(``(650) 253-0000``) of :data:`DEFAULT_REGION`. Addresses are matched by a pattern of the
common form ``local@domain.tld``.
"""

from __future__ import annotations

import re

import phonenumbers

EMAIL_MARK = "[email]"
PHONE_MARK = "[phone]"
DEFAULT_REGION = "US"
"""The region whose national phone numbers (without a ``+`` country code) are found."""

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
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
