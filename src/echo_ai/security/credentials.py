"""Why a credential was refused: the one distinction the guess counting needs.

Every lookup of a credential (API key, access token, refresh token, session cookie)
that refuses returns or raises one of these, so the API can answer all the same way and
still count only guesses (see :mod:`echo_ai.security.guesses`).
"""

from __future__ import annotations

import enum


class Refusal(enum.Enum):
    UNKNOWN = "unknown"
    """Nothing issued here looks like it (malformed, forged, or no such key or token):
    a guess."""
    ENDED = "ended"
    """Issued here, but expired, revoked, used, or no longer backed by a member who may
    use it: its holder is not guessing."""
