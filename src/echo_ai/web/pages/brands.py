"""Brand profiles: list, create, edit (read-only for viewers) and delete.

The form is one fieldset per brand (the brand, then its competitors): name, aliases,
aliases matched only as written, domains and exclude terms, one per line. Without
JavaScript, "Add another competitor" submits the form to render it again with one more
empty competitor; empty competitors are ignored. It is validated by the API's own schema
(:class:`~echo_ai.brands.schemas.BrandProfileIn`) and its errors (``competitors.1.aliases.0``)
are shown beside the input they come from.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from echo_ai.analysis.brands import MAX_COMPETITORS
from echo_ai.api.deps import SessionDep
from echo_ai.api.pagination import Cursor, aware_time, decode_cursor, encode_cursor
from echo_ai.brands import service as brands
from echo_ai.brands.models import BrandProfile
from echo_ai.brands.schemas import BrandProfileIn
from echo_ai.web.forms import FORM_ERROR, validate
from echo_ai.web.rendering import render
from echo_ai.web.viewer import CurrentViewer, Viewer, WriteViewer

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
EMPTY_COMPETITORS = 2
"""Empty competitor fieldsets offered below the filled ones."""
BRAND_FIELDS = ("name", "aliases", "case_aliases", "domains", "exclude_terms")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass
class BrandFields:
    """One brand's inputs as typed (or as stored, for an edit)."""

    name: str = ""
    case_sensitive: bool = False
    aliases: str = ""
    case_aliases: str = ""
    """Aliases matched only as written (case-sensitive), one per line."""
    domains: str = ""
    exclude_terms: str = ""

    @property
    def blank(self) -> bool:
        return not any(getattr(self, name).strip() for name in BRAND_FIELDS)

    def definition(self) -> dict[str, Any]:
        aliases: list[Any] = _lines(self.aliases)
        aliases += [{"text": text, "case_sensitive": True} for text in _lines(self.case_aliases)]
        data: dict[str, Any] = {
            "name": self.name,
            "aliases": aliases,
            "domains": _lines(self.domains),
            "exclude_terms": _lines(self.exclude_terms),
        }
        if self.case_sensitive:
            data["case_sensitive"] = True
        return data

    @classmethod
    def of(cls, brand: dict[str, Any]) -> BrandFields:
        plain: list[str] = []
        exact: list[str] = []
        for alias in brand.get("aliases", []):
            text = alias["text"] if isinstance(alias, dict) else str(alias)
            (exact if isinstance(alias, dict) and alias.get("case_sensitive") else plain).append(
                text
            )
        return cls(
            name=brand.get("name", ""),
            case_sensitive=bool(brand.get("case_sensitive")),
            aliases="\n".join(plain),
            case_aliases="\n".join(exact),
            domains="\n".join(brand.get("domains", [])),
            exclude_terms="\n".join(brand.get("exclude_terms", [])),
        )


@dataclass
class ProfileForm:
    brand: BrandFields = field(default_factory=BrandFields)
    competitors: list[BrandFields] = field(default_factory=list)
    description: str = ""
    target_keywords: str = ""

    def with_empty_competitors(self, count: int = EMPTY_COMPETITORS) -> ProfileForm:
        room = max(0, MAX_COMPETITORS - len(self.competitors))
        self.competitors += [BrandFields() for _ in range(min(count, room))]
        return self

    def filled(self) -> list[int]:
        """Form indexes of the competitors given (blank fieldsets are ignored)."""
        return [index for index, brand in enumerate(self.competitors) if not brand.blank]

    def data(self) -> dict[str, Any]:
        return {
            "brand": self.brand.definition(),
            "competitors": [self.competitors[index].definition() for index in self.filled()],
            "description": self.description.strip() or None,
            "target_keywords": _lines(self.target_keywords),
        }

    @classmethod
    def of(cls, profile: BrandProfile) -> ProfileForm:
        return cls(
            brand=BrandFields.of(profile.brands["target"]),
            competitors=[BrandFields.of(brand) for brand in profile.brands.get("competitors", [])],
            description=profile.description or "",
            target_keywords="\n".join(profile.target_keywords),
        )

    @classmethod
    async def read(cls, request: Request) -> ProfileForm:
        form = await request.form()

        def text(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        def brand(prefix: str) -> BrandFields:
            return BrandFields(
                name=text(f"{prefix}.name"),
                case_sensitive=bool(text(f"{prefix}.case_sensitive")),
                **{name: text(f"{prefix}.{name}") for name in BRAND_FIELDS[1:]},
            )

        try:
            count = min(int(text("competitor_count") or 0), MAX_COMPETITORS + 1)
        except ValueError:
            count = 0
        return cls(
            brand=brand("brand"),
            competitors=[brand(f"competitors.{index}") for index in range(max(count, 0))],
            description=text("description"),
            target_keywords=text("target_keywords"),
        )


def field_of(path: str, form: ProfileForm) -> str:
    """The input an error of :class:`BrandProfileIn` belongs to: ``competitors.1.aliases.0``
    (the second competitor given, its first alias) is the aliases box of that competitor's
    fieldset (or its case-sensitive aliases box, for one listed there)."""
    parts = path.split(".")
    if parts[0] == "brand":
        prefix, brand, rest = "brand", form.brand, parts[1:]
    elif parts[0] == "competitors" and len(parts) > 1 and parts[1].isdigit():
        filled = form.filled()
        position = int(parts[1])
        if position >= len(filled):
            return FORM_ERROR
        index = filled[position]
        prefix, brand, rest = f"competitors.{index}", form.competitors[index], parts[2:]
    elif parts[0] in ("description", "target_keywords"):
        return parts[0]
    else:
        return FORM_ERROR
    if not rest or rest[0] in ("name", "case_sensitive"):
        return f"{prefix}.name"
    if rest[0] == "aliases":
        if len(rest) > 1 and rest[1].isdigit() and int(rest[1]) >= len(_lines(brand.aliases)):
            return f"{prefix}.case_aliases"
        return f"{prefix}.aliases"
    if rest[0] in ("domains", "exclude_terms"):
        return f"{prefix}.{rest[0]}"
    return FORM_ERROR


def form_errors(errors: dict[str, str], form: ProfileForm) -> dict[str, str]:
    """The validation errors by input (the first for each)."""
    shown: dict[str, str] = {}
    for path, message in errors.items():
        shown.setdefault(field_of(path, form), message)
    return shown


def _see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


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
        max_competitors=MAX_COMPETITORS,
        notice=notice,
    )


async def _submitted(
    request: Request, viewer: Viewer, profile: BrandProfile | None
) -> ProfileForm | BrandProfileIn | Response:
    """The valid input, or the form again (one more competitor, or the errors)."""
    form = await ProfileForm.read(request)
    if (await request.form()).get("action") == "add_competitor":
        return _form_page(request, viewer, form.with_empty_competitors(1), profile=profile)
    data = validate(BrandProfileIn, form.data())
    if isinstance(data, dict):
        if len(form.filled()) == len(form.competitors):
            form.with_empty_competitors(1)
        return _form_page(
            request,
            viewer,
            form,
            profile=profile,
            errors=form_errors(data, form),
            status_code=422,
        )
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
    return _form_page(request, viewer, ProfileForm().with_empty_competitors(3), profile=None)


@router.post("/brands/new")
async def create_brand(request: Request, viewer: WriteViewer, session: SessionDep) -> Response:
    data = await _submitted(request, viewer, None)
    if not isinstance(data, BrandProfileIn):
        assert isinstance(data, Response)
        return data
    profile = await brands.create(session, viewer.workspace_id, data, actor=viewer.actor)
    return _see_other(f"/brands/{profile.id}?saved=1")


@router.get("/brands/{profile_id}")
async def brand_page(
    request: Request, profile_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    profile = await brands.get(session, viewer.workspace_id, profile_id)
    notice = "Brand profile saved." if request.query_params.get("saved") else None
    if not viewer.can_write:
        return render(request, "brands/view.html", viewer=viewer, profile=profile, notice=None)
    form = ProfileForm.of(profile).with_empty_competitors()
    return _form_page(request, viewer, form, profile=profile, notice=notice)


@router.post("/brands/{profile_id}")
async def update_brand(
    request: Request, profile_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    profile = await brands.get(session, viewer.workspace_id, profile_id)
    data = await _submitted(request, viewer, profile)
    if not isinstance(data, BrandProfileIn):
        assert isinstance(data, Response)
        return data
    await brands.replace(session, viewer.workspace_id, profile_id, data, actor=viewer.actor)
    return _see_other(f"/brands/{profile_id}?saved=1")


@router.get("/brands/{profile_id}/delete")
async def delete_brand_page(
    request: Request, profile_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    profile = await brands.get(session, viewer.workspace_id, profile_id)
    return render(request, "brands/delete.html", viewer=viewer, profile=profile)


@router.post("/brands/{profile_id}/delete")
async def delete_brand(profile_id: uuid.UUID, viewer: WriteViewer, session: SessionDep) -> Response:
    await brands.delete(session, viewer.workspace_id, profile_id, actor=viewer.actor)
    return _see_other("/brands?deleted=1")
