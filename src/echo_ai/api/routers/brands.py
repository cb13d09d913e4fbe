"""HTTP routes of brand profiles."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from echo_ai.api.auth import CurrentPrincipal, PrincipalActor, WritePrincipal
from echo_ai.api.deps import SessionDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.api.pagination import Cursor, Page, aware_time, decode_cursor, page_of
from echo_ai.brands import service as brands
from echo_ai.brands.schemas import BrandProfileIn, BrandProfileOut

router = APIRouter(
    prefix="/v1/brands", tags=["brands"], responses=error_responses(*AUTH_ERRORS, 422)
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BrandProfileOut,
    responses=error_responses(*BODY_ERRORS),
)
async def create_brand(
    data: BrandProfileIn, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> BrandProfileOut:
    profile = await brands.create(session, principal.workspace_id, data, actor=actor)
    return BrandProfileOut.of(profile)


@router.get("", response_model=Page[BrandProfileOut], responses=error_responses(400))
async def list_brands(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Cursor = None,
) -> Page[BrandProfileOut]:
    before = decode_cursor(cursor, aware_time, uuid.UUID) if cursor is not None else None
    found = await brands.list_page(session, principal.workspace_id, limit=limit + 1, before=before)
    return page_of(
        found, limit, BrandProfileOut.of, lambda last: (last.created_at.isoformat(), str(last.id))
    )


@router.get("/{profile_id}", response_model=BrandProfileOut)
async def get_brand(
    profile_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> BrandProfileOut:
    return BrandProfileOut.of(await brands.get(session, principal.workspace_id, profile_id))


@router.put(
    "/{profile_id}", response_model=BrandProfileOut, responses=error_responses(*BODY_ERRORS)
)
async def replace_brand(
    profile_id: uuid.UUID,
    data: BrandProfileIn,
    principal: WritePrincipal,
    session: SessionDep,
    actor: PrincipalActor,
) -> BrandProfileOut:
    profile = await brands.replace(session, principal.workspace_id, profile_id, data, actor=actor)
    return BrandProfileOut.of(profile)


@router.delete("/{profile_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_brand(
    profile_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    await brands.delete(session, principal.workspace_id, profile_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
