"""Sign-in, sign-out, the language switch, the static assets, and each role's first page."""

from __future__ import annotations

import hmac
import secrets
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from ledger.console.i18n import LANGUAGES
from ledger.console.pages.tables import manager_day
from ledger.console.sessions import COOKIE, MAX_AGE, SIGNIN_COOKIE
from ledger.console.sources import Sources
from ledger.console.web import (
    LANG_COOKIE,
    ConsoleRoute,
    SignInNeeded,
    ViewerDep,
    current_viewer,
    render,
    safe_next,
    sessions_of,
    set_cookie,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@router.get("/static/{name}")
def static(name: str) -> Response:
    folder = resources.files("ledger.console") / "static"
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
        raise HTTPException(404, "no such file")
    asset = folder / name
    if not asset.is_file():
        raise HTTPException(404, "no such file")
    return Response(
        asset.read_bytes(),
        media_type=STATIC_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/signin")
def signin_page(request: Request, next: str = "/") -> Response:
    # Login CSRF: the sign-in form carries a token that must match this SameSite cookie.
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        None,
        "signin.html",
        signin_token=token,
        next=safe_next(next),
        empty=Sources.of(request).position == 0,
        error=None,
    )
    set_cookie(request, response, SIGNIN_COOKIE, token, max_age=3600)
    return response


@router.post("/signin")
def signin(
    request: Request,
    token: Annotated[str, Form(max_length=500)] = "",
    signin_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not hmac.compare_digest(signin_token.encode(), expected.encode()):
        raise HTTPException(403, "the sign-in form's CSRF token is missing or wrong")
    sources = Sources.of(request)
    try:
        sources.identify(token.strip())
    except HTTPException:
        fresh = secrets.token_urlsafe(32)
        response = render(
            request,
            None,
            "signin.html",
            http_status=401,
            signin_token=fresh,
            next=safe_next(next),
            empty=sources.position == 0,
            error="msg.bad_token",
        )
        set_cookie(request, response, SIGNIN_COOKIE, fresh, max_age=3600)
        return response
    session = sessions_of(request).open(token.strip())
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, COOKIE, session.id, max_age=MAX_AGE)
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(request: Request) -> Response:
    # No CSRF check needed to end a session: the worst a forged sign-out does is sign out.
    sessions_of(request).close(request.cookies.get(COOKIE))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str = "/") -> Response:
    if lang not in LANGUAGES:
        raise HTTPException(404, "no such language")
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, LANG_COOKIE, lang, max_age=365 * 86400)
    return response


@router.get("/")
def home(request: Request) -> Response:
    try:
        viewer = current_viewer(request)
    except SignInNeeded:
        return RedirectResponse("/signin", status_code=303)
    return first_page(request, viewer)


def first_page(request: Request, viewer: ViewerDep) -> Response:
    if viewer.role == "manager":
        return render(request, viewer, "my_day.html", **manager_day(viewer))
    return render(
        request, viewer, "desk.html", empty=viewer.sources.position == 0, unit=viewer.default_unit()
    )
