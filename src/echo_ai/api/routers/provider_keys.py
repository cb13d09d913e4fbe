"""HTTP routes of a workspace's own provider keys: write-only (never returned), managers only."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response, status

from echo_ai.api.auth import ManagerPrincipal, PrincipalActor
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.credentials.schemas import ProviderKeyIn, ProviderKeyOut
from echo_ai.credentials.vault import Vault
from echo_ai.workspaces import provider_keys

router = APIRouter(tags=["accounts"], responses=error_responses(422))

Vendor = Literal[
    "openai", "anthropic", "perplexity", "gemini", "openai_compatible", "openai-compatible"
]
"""The vendors of :data:`echo_ai.credentials.store.STORABLE_VENDORS` (``openai-compatible``
accepted for ``openai_compatible``); ``tests/api/test_provider_keys.py`` keeps them equal."""
VendorPath = Annotated[Vendor, Path(description="The vendor the key is for.")]


@router.get(
    "/v1/provider-keys",
    response_model=list[ProviderKeyOut],
    responses=error_responses(*AUTH_ERRORS),
)
async def list_provider_keys(
    principal: ManagerPrincipal, session: SessionDep
) -> list[ProviderKeyOut]:
    """The workspace's own provider keys: vendor, last four characters, base URL, when and
    by whom they were set. The keys themselves are never returned."""
    return await provider_keys.list_keys(session, principal.workspace_id)


@router.put(
    "/v1/provider-keys/{vendor}",
    response_model=ProviderKeyOut,
    responses=error_responses(*BODY_ERRORS, *AUTH_ERRORS),
)
async def set_provider_key(
    vendor: VendorPath,
    data: ProviderKeyIn,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> ProviderKeyOut:
    """Store (or replace) the workspace's key for a vendor, encrypted; the workspace's runs
    use it instead of the server's. `openai_compatible` needs `base_url`, which must not
    reach a private, loopback or link-local network (422 `unsafe_base_url`)."""
    assert principal.user is not None
    row = await provider_keys.set_key(
        session,
        principal.workspace_id,
        vendor,
        data,
        vault=Vault(state.keys),
        allow_private_base_urls=state.settings.billing.allow_private_base_urls,
        set_by=principal.user.id,
        actor=actor,
    )
    return provider_keys.show(row, principal.user.email)


@router.delete(
    "/v1/provider-keys/{vendor}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(*AUTH_ERRORS),
)
async def delete_provider_key(
    vendor: VendorPath, principal: ManagerPrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    """Forget the workspace's key for a vendor: its runs use the server's key again."""
    await provider_keys.delete_key(session, principal.workspace_id, vendor, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
