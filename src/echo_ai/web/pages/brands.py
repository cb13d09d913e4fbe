"""Brand profiles: list, create, edit (read-only for viewers) and delete.

The brands are typed in the brand editor of every page (:mod:`echo_ai.web.brand_fields`);
the profile adds its description and target keywords. The form is validated by the API's
own schema (:class:`~echo_ai.brands.schemas.BrandProfileIn`) and its errors
(``competitors.1.aliases.0``) are shown beside the input they come from.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response

from echo_ai.api.deps import SessionDep
from echo_ai.api.pagination import Cursor, aware_time, decode_cursor, encode_cursor
from echo_ai.brands import service as brands
from echo_ai.brands.models import BrandProfile
from echo_ai.brands.schemas import BrandProfileIn
from echo_ai.web.brand_fields import (
    ADD_COMPETITOR,
    NEW_FORM_COMPETITORS,
    BrandsForm,
    lines,
)
from echo_ai.web.forms import FORM_ERROR, form_fields, validate
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, Viewer, WriteViewer

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@dataclass
class ProfileForm:
    brands: BrandsForm = field(default_factory=BrandsForm)
    description: str = ""
    target_keywords: str = ""

    def data(self) -> dict[str, Any]:
        brand_set = self.brands.brand_set_input()
        return {
            "brand": brand_set["target"],
            "competitors": brand_set["competitors"],
            "description": self.description.strip() or None,
            "target_keywords": lines(self.target_keywords),
        }

    @classmethod
    def of(cls, profile: BrandProfile) -> ProfileForm:
        return cls(
            brands=BrandsForm.of(profile.brands),
            description=profile.description or "",
            target_keywords="\n".join(profile.target_keywords),
        )

    @classmethod
    def read(cls, form: dict[str, str]) -> ProfileForm:
        return cls(
            brands=BrandsForm.read(form),
            description=form.get("description", ""),
            target_keywords=form.get("target_keywords", ""),
        )


def form_errors(errors: dict[str, str], form: ProfileForm) -> dict[str, str]:
    """The validation errors of :class:`BrandProfileIn` by input (the first of each)."""
    shown: dict[str, str] = {}
    for key, message in form.brands.errors(errors).items():
        head = key.split(".")[0]
        if not form.brands.is_input(key):
            key = head if head in ("description", "target_keywords") else FORM_ERROR
        shown.setdefault(key, message)
    return shown


def _form_page(
    request: Request,
    viewer: Viewer,
    form: ProfileForm,
    *,
    profile: BrandProfile | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    errors = errors or {}
    return render(
        request,
        "brands/form.html",
        status_code=status_code,
        viewer=viewer,
        form=form,
        profile=profile,
        errors=errors,
        error=errors.get(FORM_ERROR),
        notice=notice,
    )


async def _submitted(
    request: Request, viewer: Viewer, profile: BrandProfile | None
) -> BrandProfileIn | Response:
    """The valid input, or the form again (one more competitor, or the errors)."""
    fields = await form_fields(request)
    form = ProfileForm.read(fields)
    if fields.get("action") == ADD_COMPETITOR:
        form.brands.with_empty_competitors()
        return _form_page(request, viewer, form, profile=profile)
    data = validate(BrandProfileIn, form.data())
    if isinstance(data, dict):
        errors = form_errors(data, form)
        form.brands.padded(1)
        return _form_page(request, viewer, form, profile=profile, errors=errors, status_code=422)
    return data


@router.get("/brands")
async def list_brands(
    request: Request, viewer: CurrentViewer, session: SessionDep, cursor: Cursor = None
) -> Response:
    before = decode_cursor(cursor, aware_time, uuid.UUID) if cursor is not None else None
    found = await brands.list_page(session, viewer.workspace_id, limit=PAGE_SIZE + 1, before=before)
    profiles = found[:PAGE_SIZE]
    next_cursor = None
    if len(found) > PAGE_SIZE:
        last = profiles[-1]
        next_cursor = encode_cursor(last.created_at.isoformat(), str(last.id))
    return render(
        request,
        "brands/list.html",
        viewer=viewer,
        profiles=profiles,
        next_cursor=next_cursor,
        first_page=cursor is None,
        notice="Brand profile deleted." if request.query_params.get("deleted") else None,
    )


@router.get("/brands/new")
async def new_brand_page(request: Request, viewer: WriteViewer) -> Response:
    form = ProfileForm()
    form.brands.padded(NEW_FORM_COMPETITORS)
    return _form_page(request, viewer, form, profile=None)


@router.post("/brands/new")
async def create_brand(request: Request, viewer: WriteViewer, session: SessionDep) -> Response:
    data = await _submitted(request, viewer, None)
    if isinstance(data, Response):
        return data
    profile = await brands.create(session, viewer.workspace_id, data, actor=viewer.actor)
    return see_other(request, f"/brands/{profile.id}?saved=1")


@router.get("/brands/{profile_id}")
async def brand_page(
    request: Request, profile_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    profile = await brands.get(session, viewer.workspace_id, profile_id)
    notice = "Brand profile saved." if request.query_params.get("saved") else None
    if not viewer.can_write:
        return render(request, "brands/view.html", viewer=viewer, profile=profile, notice=None)
    form = ProfileForm.of(profile)
    form.brands.padded()
    return _form_page(request, viewer, form, profile=profile, notice=notice)


@router.post("/brands/{profile_id}")
async def update_brand(
    request: Request, profile_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    profile = await brands.get(session, viewer.workspace_id, profile_id)
    data = await _submitted(request, viewer, profile)
    if isinstance(data, Response):
        return data
    await brands.replace(session, viewer.workspace_id, profile_id, data, actor=viewer.actor)
    return see_other(request, f"/brands/{profile_id}?saved=1")


@router.get("/brands/{profile_id}/delete")
async def delete_brand_page(
    request: Request, profile_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    profile = await brands.get(session, viewer.workspace_id, profile_id)
    return render(request, "brands/delete.html", viewer=viewer, profile=profile)


@router.post("/brands/{profile_id}/delete")
async def delete_brand(
    request: Request, profile_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    await brands.delete(session, viewer.workspace_id, profile_id, actor=viewer.actor)
    return see_other(request, "/brands?deleted=1")
