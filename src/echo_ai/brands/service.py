"""Brand profiles of a workspace: create, list, read, replace, delete (the changes are
audited in the actor's name)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.brands.models import BrandProfile
from echo_ai.brands.schemas import BrandProfileIn
from echo_ai.db import keyset_after
from echo_ai.errors import NotFound
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor


def _apply(profile: BrandProfile, data: BrandProfileIn) -> None:
    profile.name = data.brand.name
    profile.description = data.description
    profile.brands = data.brand_set().model_dump(mode="json")
    profile.target_keywords = list(data.target_keywords)


async def _audited(
    session: AsyncSession, action: Action, profile: BrandProfile, *, actor: Actor
) -> BrandProfile:
    await audit.record_about(
        session,
        action,
        profile,
        target_type="brand_profile",
        actor=actor,
        details={"name": profile.name},
    )
    return profile


async def create(
    session: AsyncSession, workspace_id: uuid.UUID, data: BrandProfileIn, *, actor: Actor
) -> BrandProfile:
    profile = BrandProfile(workspace_id=workspace_id)
    _apply(profile, data)
    session.add(profile)
    await session.flush()
    return await _audited(session, Action.BRAND_PROFILE_CREATED, profile, actor=actor)


async def get(
    session: AsyncSession, workspace_id: uuid.UUID, profile_id: uuid.UUID
) -> BrandProfile:
    profile = await session.scalar(
        select(BrandProfile).where(
            BrandProfile.id == profile_id, BrandProfile.workspace_id == workspace_id
        )
    )
    if profile is None:
        raise NotFound("no such brand profile")
    return profile


async def list_page(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[BrandProfile]:
    query = (
        select(BrandProfile)
        .where(BrandProfile.workspace_id == workspace_id)
        .order_by(BrandProfile.created_at.desc(), BrandProfile.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(
            keyset_after((BrandProfile.created_at, BrandProfile.id), before, descending=True)
        )
    return list(await session.scalars(query))


async def replace(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    profile_id: uuid.UUID,
    data: BrandProfileIn,
    *,
    actor: Actor,
) -> BrandProfile:
    profile = await get(session, workspace_id, profile_id)
    _apply(profile, data)
    await session.flush()
    return await _audited(session, Action.BRAND_PROFILE_REPLACED, profile, actor=actor)


async def delete(
    session: AsyncSession, workspace_id: uuid.UUID, profile_id: uuid.UUID, *, actor: Actor
) -> None:
    profile = await get(session, workspace_id, profile_id)
    await session.delete(profile)
    await session.flush()
    await _audited(session, Action.BRAND_PROFILE_DELETED, profile, actor=actor)
