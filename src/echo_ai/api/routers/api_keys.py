"""HTTP routes of a workspace's API keys: parse, call the service, shape the response."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from echo_ai.api.auth import ManagerPrincipal, PrincipalActor
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.api.limits import KEYS_CREATED_PER_WORKSPACE
from echo_ai.api_keys import service as api_keys
from echo_ai.api_keys.models import ApiKey
from echo_ai.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from echo_ai.security.rate_limit import RateLimiterDep, enforce_rate_limit

router = APIRouter(tags=["accounts"], responses=error_responses(422))


def _key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(key, from_attributes=True)


@router.post(
    "/v1/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=error_responses(*BODY_ERRORS, *AUTH_ERRORS, 429),
)
async def create_api_key(
    data: ApiKeyCreate,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
    actor: PrincipalActor,
) -> ApiKeyCreated:
    """Create a key for the workspace. The key is in this response only: store it now."""
    assert principal.user is not None
    await enforce_rate_limit(
        limiter, str(principal.workspace_id), KEYS_CREATED_PER_WORKSPACE, name="api-key"
    )
    key, token = await api_keys.create(
        session,
        principal.workspace_id,
        data,
        created_by=principal.user.id,
        pepper=state.keys.peppers()[0],
        actor=actor,
    )
    return ApiKeyCreated(**_key_out(key).model_dump(), key=token)


@router.get("/v1/api-keys", response_model=list[ApiKeyOut], responses=error_responses(*AUTH_ERRORS))
async def list_api_keys(principal: ManagerPrincipal, session: SessionDep) -> list[ApiKeyOut]:
    return [_key_out(key) for key in await api_keys.list_keys(session, principal.workspace_id)]


@router.delete(
    "/v1/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(*AUTH_ERRORS),
)
async def revoke_api_key(
    key_id: uuid.UUID, principal: ManagerPrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    await api_keys.revoke(session, principal.workspace_id, key_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
