"""Jinja2 templates: one environment, the filters of :mod:`.format`, one ``render``.

Autoescaping is on for every template and undefined names are errors, so a typo fails a
test instead of printing nothing. Templates get ``asset(name)`` for fingerprinted URLs
and, on signed-in pages, ``viewer`` (who, which workspace, the CSRF token, the time zone).
Templates carry no inline script or style: the CSP allows neither. After a successful
form, pages answer with :func:`see_other` (Post/Redirect/Get).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from echo_ai.experiments.history import place_text
from echo_ai.runs.adaptive import Progress
from echo_ai.web import format as fmt
from echo_ai.web.assets import assets

PRODUCT = "Echo AI"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("echo_ai.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        percent=fmt.percent,
        points=fmt.points,
        interval=fmt.interval,
        signed_points=fmt.signed_points,
        usd=fmt.usd,
        number=fmt.number,
        iso=fmt.iso,
        local_time=fmt.local_time,
        adaptive=Progress.of,
        place=place_text,
    )
    env.globals.update(asset=assets().url, product=PRODUCT)
    return env


def render_text(template: str, **context: Any) -> str:
    """A template rendered to text (pages and the fragments htmx swaps in)."""
    return environment().get_template(template).render(**context)


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """An HTML response of ``template``; the context also gets ``request_id`` and, when
    the request came from htmx, ``partial`` (a fragment, not the whole page)."""
    context.setdefault("viewer", None)
    html = render_text(
        template,
        request_id=request.scope.get("state", {}).get("request_id", "-"),
        partial=is_htmx(request),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it swaps the answer into the page)."""
    return request.headers.get("hx-request") == "true"


def see_other(request: Request, location: str) -> Response:
    """Post/Redirect/Get: a 303 to ``location``; for an htmx request, a 204 with
    ``HX-Redirect``, which htmx follows with a full page load (a redirect it would follow
    itself and swap the whole page into a fragment). Cookies set on the answer apply
    either way."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)
