"""Settings → Provider keys: a workspace's own keys for the AI vendors (owners and admins).

The key is typed into a password field and never shown again (the page shows its last
four characters); a form sent back with an error never carries it either.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.routers.provider_keys import Vendor
from echo_ai.credentials.schemas import ProviderKeyIn
from echo_ai.credentials.store import BASE_URL_VENDORS, STORABLE_VENDORS
from echo_ai.credentials.vault import Vault
from echo_ai.errors import AppError
from echo_ai.web.forms import form_fields, validate
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import ManagerViewer, Viewer
from echo_ai.workspaces import provider_keys

router = APIRouter(include_in_schema=False)

VENDOR_LABELS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "perplexity": "Perplexity",
    "gemini": "Google Gemini",
    "openai_compatible": "OpenAI-compatible server",
}
NOTICES = {"deleted": "The key was deleted: runs use the server's key for that vendor again."}


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    *,
    status_code: int = 200,
    typed: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    stored = await provider_keys.list_keys(session, viewer.workspace_id)
    return render(
        request,
        "settings/provider_keys.html",
        status_code=status_code,
        viewer=viewer,
        section="provider_keys",
        stored=stored,
        vendors=[(vendor, VENDOR_LABELS[vendor]) for vendor in STORABLE_VENDORS],
        labels=VENDOR_LABELS,
        base_url_vendors=BASE_URL_VENDORS,
        typed=typed or {"vendor": "openai", "base_url": ""},
        errors=errors or {},
        notice=notice,
    )


@router.get("/settings/provider-keys")
async def provider_keys_settings(
    request: Request, viewer: ManagerViewer, session: SessionDep
) -> Response:
    notice = NOTICES.get(request.query_params.get("done", ""))
    return await _page(request, viewer, session, notice=notice)


@router.post("/settings/provider-keys")
async def set_provider_key(
    request: Request, viewer: ManagerViewer, session: SessionDep, state: StateDep
) -> Response:
    fields = await form_fields(request)
    vendor = fields.get("vendor", "")
    base_url = fields.get("base_url", "").strip()
    # What was typed comes back on an error, except the key itself.
    typed = {"vendor": vendor, "base_url": base_url}
    if vendor not in STORABLE_VENDORS:
        errors = {"vendor": "Choose a vendor from the list."}
        return await _page(request, viewer, session, status_code=422, typed=typed, errors=errors)
    data: dict[str, Any] = {"api_key": fields.get("api_key", "")}
    if vendor in BASE_URL_VENDORS:
        if not base_url:
            errors = {"base_url": "An OpenAI-compatible server needs its base URL."}
            return await _page(
                request, viewer, session, status_code=422, typed=typed, errors=errors
            )
        data["base_url"] = base_url
    checked = validate(ProviderKeyIn, data)
    if isinstance(checked, dict):
        return await _page(request, viewer, session, status_code=422, typed=typed, errors=checked)
    try:
        row = await provider_keys.set_key(
            session,
            viewer.workspace_id,
            vendor,
            checked,
            vault=Vault(state.keys),
            allow_private_base_urls=state.settings.billing.allow_private_base_urls,
            set_by=viewer.user.id,
            actor=viewer.actor,
        )
    except AppError as refused:
        errors = {"base_url": refused.message}
        return await _page(request, viewer, session, status_code=422, typed=typed, errors=errors)
    notice = f"The {VENDOR_LABELS[row.vendor]} key …{row.last4} was stored."
    return await _page(request, viewer, session, notice=notice)


@router.post("/settings/provider-keys/{vendor}/delete")
async def delete_provider_key(
    request: Request, vendor: Vendor, viewer: ManagerViewer, session: SessionDep
) -> Response:
    await provider_keys.delete_key(session, viewer.workspace_id, vendor, actor=viewer.actor)
    return see_other(request, "/settings/provider-keys?done=deleted")
