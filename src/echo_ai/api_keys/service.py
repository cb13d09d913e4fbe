"""API keys of a workspace: create (shown once), list, revoke, and authenticate (SEC-01).

Creating and revoking take the acting :class:`~echo_ai.privacy.audit.Actor` and record
an audit event in the workspace. A key is vouched for by the member who created it: it
works only while they are a member, with at most their role (see :func:`authenticate`),
and when they leave or lose write access their keys are revoked or narrowed for good
(:func:`revoke_keys_of`, :func:`narrow_keys_of`, called by :mod:`echo_ai.api_keys.members`).

A key is looked up by its HMAC digest through a unique index: one query and constant
work whatever the number of keys, instead of a bcrypt check per stored key. Malformed
keys (bad prefix, length or checksum) are refused before any database access.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.api_keys.models import ApiKey
from echo_ai.api_keys.schemas import ApiKeyCreate
from echo_ai.auth.models import User
from echo_ai.db import utcnow
from echo_ai.errors import NotFound
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.security.api_keys import generate_api_key, key_digest, looks_valid
from echo_ai.security.credentials import Refusal
from echo_ai.workspaces.models import Membership, Role

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key (not on every request)."""


async def create(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: ApiKeyCreate,
    *,
    created_by: uuid.UUID,
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


SCOPE_ROLES = {"write": Role.MEMBER, "read": Role.VIEWER}
"""The widest role each scope allows; a key acts with at most its creator's current role."""


@dataclass(frozen=True)
class KeyGrant:
    """A live key and what it may do now."""

    key: ApiKey
    role: Role
    """The key's scopes narrowed to its creator's current role in the workspace."""


def _scope_role(scopes: Sequence[str]) -> Role:
    return SCOPE_ROLES["write"] if "write" in scopes else SCOPE_ROLES["read"]


async def _live_keys_of(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> list[ApiKey]:
    return list(
        await session.scalars(
            select(ApiKey)
            .where(
                ApiKey.workspace_id == workspace_id,
                ApiKey.created_by_id == user_id,
                ApiKey.revoked_at.is_(None),
            )
            .order_by(ApiKey.created_at, ApiKey.id)
        )
    )


async def revoke_keys_of(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    reason: str,
    actor: Actor,
) -> list[ApiKey]:
    """Revoke every live key ``user_id`` created in the workspace (they left it); one
    ``api_key.revoked`` event per key, with ``reason`` and the creator in its details."""
    keys = await _live_keys_of(session, workspace_id, user_id)
    now = utcnow()
    changes: dict[uuid.UUID, dict[str, Any]] = {}
    for key in keys:
        key.revoked_at = now
        changes[key.id] = {}
    await _record_changes(session, keys, changes, Action.API_KEY_REVOKED, reason, actor)
    return keys


async def narrow_keys_of(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    reason: str,
    actor: Actor,
) -> list[ApiKey]:
    """Take the write scope from every live key ``user_id`` created in the workspace
    (their role no longer writes); one ``api_key.narrowed`` event per key changed. A key
    stays narrowed if the role is raised again: its creator makes a new one."""
    keys = [
        key for key in await _live_keys_of(session, workspace_id, user_id) if "write" in key.scopes
    ]
    changes: dict[uuid.UUID, dict[str, Any]] = {}
    for key in keys:
        narrowed = [scope for scope in key.scopes if scope != "write"]
        changes[key.id] = {"from": list(key.scopes), "to": narrowed}
        key.scopes = narrowed
    await _record_changes(session, keys, changes, Action.API_KEY_NARROWED, reason, actor)
    return keys


async def _record_changes(
    session: AsyncSession,
    keys: Sequence[ApiKey],
    changes: dict[uuid.UUID, dict[str, Any]],
    action: Action,
    reason: str,
    actor: Actor,
) -> None:
    """Store the keys' changes, then one audit event per key: its name, what changed, why
    and who created it."""
    await session.flush()
    for key in keys:
        await audit.record(
            session,
            action,
            actor=actor,
            workspace_id=key.workspace_id,
            target_type="api_key",
            target_id=key.id,
            details={
                "name": key.name,
                **changes[key.id],
                "reason": reason,
                "created_by": str(key.created_by_id),
            },
        )


async def authenticate(
    session: AsyncSession, token: str, *, peppers: Sequence[bytes]
) -> KeyGrant | Refusal:
    """The live key for ``token`` and its role, or why it is refused.

    The key's creator must still be a member of the key's workspace, and the key acts
    with the narrower of its scopes and the creator's role *now*: the lookup joins the
    creator's membership (one query), so a removed member's keys stop working, and a
    member lowered to viewer has read-only keys, on the very next request, whatever else
    happened. A key whose creator is gone (``created_by_id`` NULL: the user row was
    deleted) or deactivated has nobody standing behind it and is refused too, as the
    creator's own tokens are. Keys are only created by
    a signed-in owner or admin (``POST /v1/api-keys``), so every key has a creator.

    Every pepper (current and previous secret keys) is tried in the same query, so
    rotating the secret keeps keys working. ``Refusal.UNKNOWN`` for a malformed key or one
    no row has (a guess), ``Refusal.ENDED`` for a revoked or expired key or one whose
    creator no longer stands behind it.
    """
    if not looks_valid(token):
        return Refusal.UNKNOWN
    digests = [key_digest(token, pepper) for pepper in peppers]
    row = (
        await session.execute(
            select(ApiKey, Membership.role, User.id)
            .outerjoin(
                Membership,
                and_(
                    Membership.workspace_id == ApiKey.workspace_id,
                    Membership.user_id == ApiKey.created_by_id,
                ),
            )
            .outerjoin(User, and_(User.id == Membership.user_id, User.is_active.is_(True)))
            .where(ApiKey.digest.in_(digests))
        )
    ).first()
    if row is None:
        return Refusal.UNKNOWN
    key, creator_role, active_creator = row
    now = utcnow()
    if (
        key.revoked_at is not None
        or (key.expires_at is not None and key.expires_at <= now)
        or creator_role is None
        or active_creator is None
    ):
        return Refusal.ENDED
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return KeyGrant(key=key, role=_scope_role(key.scopes).at_most(creator_role))
