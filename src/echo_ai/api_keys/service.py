"""API keys of a workspace: create (shown once), list, revoke, and authenticate (SEC-01).

Creating and revoking take the acting :class:`~echo_ai.privacy.audit.Actor` and record
an audit event in the workspace.

A key is looked up by its HMAC digest through a unique index: one query and constant
work whatever the number of keys, instead of a bcrypt check per stored key. Malformed
keys (bad prefix, length or checksum) are refused before any database access.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.api_keys.models import ApiKey
from echo_ai.api_keys.schemas import ApiKeyCreate
from echo_ai.db import utcnow
from echo_ai.errors import NotFound
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.security.api_keys import generate_api_key, key_digest, looks_valid

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key (not on every request)."""


async def create(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: ApiKeyCreate,
    *,
    created_by: uuid.UUID | None,
    pepper: bytes,
    actor: Actor,
) -> tuple[ApiKey, str]:
    """A new key and its token: the token is returned here only (just its digest is
    stored)."""
    generated = generate_api_key()
    now = utcnow()
    key = ApiKey(
        workspace_id=workspace_id,
        name=data.name,
        digest=key_digest(generated.token, pepper),
        last4=generated.last4,
        scopes=sorted(set(data.scopes)),
        created_by_id=created_by,
        created_at=now,
        expires_at=now + timedelta(days=data.expires_in_days) if data.expires_in_days else None,
    )
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        Action.API_KEY_CREATED,
        actor=actor,
        workspace_id=workspace_id,
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name, "scopes": key.scopes},
    )
    return key, generated.token


async def list_keys(session: AsyncSession, workspace_id: uuid.UUID) -> list[ApiKey]:
    return list(
        await session.scalars(
            select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.created_at)
        )
    )


async def revoke(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID, *, actor: Actor
) -> ApiKey:
    """Revoke a key of the workspace (revoking a revoked key is harmless, and audited)."""
    key = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
    )
    if key is None:
        raise NotFound("no such API key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    await audit.record(
        session,
        Action.API_KEY_REVOKED,
        actor=actor,
        workspace_id=workspace_id,
        target_type="api_key",
        target_id=key.id,
    )
    return key


async def authenticate(
    session: AsyncSession, token: str, *, peppers: Sequence[bytes]
) -> ApiKey | None:
    """The live key for ``token``, or None. Every pepper (current and previous secret
    keys) is tried in the same single query, so rotating the secret keeps keys working."""
    if not looks_valid(token):
        return None
    digests = [key_digest(token, pepper) for pepper in peppers]
    key = await session.scalar(select(ApiKey).where(ApiKey.digest.in_(digests)))
    now = utcnow()
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= now:
        return None
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return key
