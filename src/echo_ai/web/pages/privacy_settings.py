"""The workspace's privacy settings page (``/settings/privacy``): its retention of raw
answers and the scrubbing of e-mail addresses and phone numbers, through the use cases the
API calls (:mod:`echo_ai.accounts.privacy_settings`): managers change them, every member
sees them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from echo_ai.accounts import privacy_settings
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.web.forms import form_fields
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, ManagerViewer, Viewer

router = APIRouter(include_in_schema=False)


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    *,
    status_code: int = 200,
    days: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    found = await privacy_settings.get(session, viewer.workspace_id, state.settings)
    done = request.query_params.get("done")
    return render(
        request,
        "settings/privacy.html",
        status_code=status_code,
        viewer=viewer,
        section="privacy",
        privacy=found,
        days=(
            days
            if days is not None
            else ("" if found.answer_retention_days is None else str(found.answer_retention_days))
        ),
        errors=errors or {},
        notice="Privacy settings saved." if done == "saved" else None,
    )


@router.get("/settings/privacy")
async def privacy_page(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    return await _page(request, viewer, session, state)


@router.post("/settings/privacy")
async def save_privacy(
    request: Request, viewer: ManagerViewer, session: SessionDep, state: StateDep
) -> Response:
    fields = await form_fields(request)
    text = fields.get("answer_retention_days", "").strip()
    found = await privacy_settings.get(session, viewer.workspace_id, state.settings)
    days: int | None = None
    if text:
        if not text.isdigit() or not 1 <= int(text) <= 36_500:
            errors = {"answer_retention_days": "Enter a number of days from 1, or leave it empty."}
            return await _page(
                request, viewer, session, state, status_code=422, days=text, errors=errors
            )
        days = int(text)
    if days is not None and days > found.plan_answer_retention_days:
        errors = {
            "answer_retention_days": (
                f"Your plan keeps answers {found.plan_answer_retention_days} days: "
                "you can only shorten that."
            )
        }
        return await _page(
            request, viewer, session, state, status_code=422, days=text, errors=errors
        )
    await privacy_settings.set_answer_retention(
        session, viewer.workspace_id, days, actor=viewer.actor, settings=state.settings
    )
    await privacy_settings.set_scrubbing(
        session,
        viewer.workspace_id,
        fields.get("scrub_personal_data") == "on",
        actor=viewer.actor,
        settings=state.settings,
    )
    return see_other(request, "/settings/privacy?done=saved")
