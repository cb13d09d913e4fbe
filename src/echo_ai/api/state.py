"""What the service holds for its lifetime, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from echo_ai.config import Settings
from echo_ai.runtime import Runtime
from echo_ai.security.keys import KeyRing
from echo_ai.security.tokens import TokenSigner

TOKEN_ISSUER = "echo-ai"  # noqa: S105 - a JWT claim value, not a secret
TOKEN_AUDIENCE = "echo-ai-api"  # noqa: S105 - a JWT claim value


@dataclass
class ServiceState:
    settings: Settings
    runtime: Runtime
    keys: KeyRing
    signer: TokenSigner


def build_state(settings: Settings, runtime: Runtime, keys: KeyRing) -> ServiceState:
    return ServiceState(
        settings=settings,
        runtime=runtime,
        keys=keys,
        signer=TokenSigner(
            keys.signing_keys(),
            issuer=TOKEN_ISSUER,
            audience=TOKEN_AUDIENCE,
            ttl=timedelta(minutes=settings.auth.access_token_minutes),
        ),
    )
