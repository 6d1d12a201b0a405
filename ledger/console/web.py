"""The console's frame: templates, the signed-in viewer, CSRF, security headers, and one
error page for every refusal (the console answers HTML, never problem+json)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from ledger.console.i18n import LANGUAGES, choose, translator
from ledger.console.sessions import COOKIE, Session, Sessions
from ledger.console.sources import (
    CHURN_KINDS,
    CLIENT_STATUSES,
    OUTCOMES,
    PARTIES,
    TIERS,
    Forbidden,
    InvalidInput,
    LedgerError,
    NotFound,
    Principal,
    RuleViolation,
    Sources,
)

# The bank's clock: China Standard Time has no daylight saving, so one fixed offset serves.
LOCAL = timezone(timedelta(hours=8), "CST")
LANG_COOKIE = "ledger_lang"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

templates = Environment(
    loader=PackageLoader("ledger.console", "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def local_time(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _local(value).strftime("%Y-%m-%d %H:%M")


def input_time(value: datetime | None) -> str:
    """For an `<input type="datetime-local">`."""
    return _local(value).strftime("%Y-%m-%dT%H:%M") if value else ""


def day(value: datetime | None) -> str:
    """For an `<input type="date">`: the local day of a moment."""
    return _local(value).date().isoformat() if value else ""


def input_seconds(value: datetime | None) -> str:
    """For an `<input type="datetime-local" step="1">`: a recorded time to the second (two
    writes a second apart are told apart by `known_at`)."""
    return _local(value).strftime("%Y-%m-%dT%H:%M:%S") if value else ""


def _local(value: datetime) -> datetime:
    # A time an older version stored at the edge of datetime's range (0001-01-01T00:00+14:00)
    # has no local time: it is shown as recorded.
    try:
        return value.astimezone(LOCAL)
    except OverflowError:
        return value


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def money(value: Decimal | str | None) -> str:
    return "" if value is None else f"{Decimal(value):,.2f}"


templates.filters.update(
    local=local_time,
    input_time=input_time,
    input_seconds=input_seconds,
    day=day,
    percent=percent,
    money=money,
)
# The domain's closed sets, for every template's options and columns.
templates.globals.update(
    TIERS=TIERS,
    CLIENT_STATUSES=CLIENT_STATUSES,
    CHURN_KINDS=CHURN_KINDS,
    OUTCOMES=OUTCOMES,
    PARTIES=PARTIES,
)


def parse_moment(text: str | None, field: str, *, end_of_day: bool = False) -> datetime | None:
    """A form's time (`YYYY-MM-DDTHH:MM` or `YYYY-MM-DD`) in the bank's time zone, or one
    with its own offset; a date alone means its start (or, with `end_of_day`, its end)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.max if end_of_day else time.min)
            return moment.replace(tzinfo=LOCAL)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, "must be a date (YYYY-MM-DD) or a date and time") from None
    if moment.year < 1900 or moment.year > 9998:
        raise InvalidInput(field, "must be between 1900 and 9998")
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL)


class SignInNeeded(Exception):
    """No session (or an expired one): the answer is the sign-in page."""


@dataclass
class Viewer:
    """Who is looking, in which language, and what they may do."""

    principal: Principal
    session: Session
    lang: str
    sources: Sources
    staff: Any = None

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "manager")

    @property
    def can_determine(self) -> bool:
        return self.role in ("admin", "compliance")

    @property
    def can_audit(self) -> bool:
        return self.role in ("admin", "auditor")

    @property
    def can_read_audit_log(self) -> bool:
        return self.role in ("admin", "auditor", "compliance")

    @property
    def can_erase(self) -> bool:
        return self.role == "admin"

    @property
    def home_unit(self) -> str | None:
        """The manager's unit; None for roles that read every unit."""
        return self.staff.unit_id if self.staff is not None else None

    def default_unit(self) -> str | None:
        if self.home_unit is not None:
            return self.home_unit
        roots = [u["unit_id"] for u in self.sources.units() if u["parent_id"] is None]
        return roots[0] if roots else None

    def check_unit(self, unit_id: str) -> None:
        self.sources.check_unit_scope(self.principal, unit_id)

    def check_client(self, client_id: str) -> None:
        self.sources.check_client_scope(self.principal, client_id)

    def require(self, *roles: str) -> None:
        self.sources.check_role(self.principal, roles)

    def visible_units(self) -> list[dict[str, Any]]:
        units = self.sources.units()
        if self.home_unit is None:
            return units
        below = {self.home_unit}
        # Units are few (a branch has dozens): a pass per level finds the subtree.
        grew = True
        while grew:
            grew = False
            for unit in units:
                if unit["parent_id"] in below and unit["unit_id"] not in below:
                    below.add(unit["unit_id"])
                    grew = True
        return [u for u in units if u["unit_id"] in below]


def sessions_of(request: Request) -> Sessions:
    state = request.app.state
    if not hasattr(state, "console_sessions"):
        state.console_sessions = Sessions()
    return state.console_sessions  # type: ignore[no-any-return]


def language(request: Request) -> str:
    return choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def current_viewer(request: Request) -> Viewer:
    sources = Sources.of(request)
    idle = sources.settings.console_session_minutes * 60
    session = sessions_of(request).get(request.cookies.get(COOKIE), idle)
    if session is None:
        raise SignInNeeded
    try:
        principal = sources.identify(session.token)
    except HTTPException:
        sessions_of(request).close(session.id)
        raise SignInNeeded from None
    staff = None
    if principal.role == "manager" and principal.staff_id is not None:
        staff = sources.staff(principal.staff_id)
    return Viewer(principal, session, language(request), sources, staff)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
# A page's query parameters: an id, a date or a choice as the form sends it, and `format`.
Text = Annotated[str | None, Query(max_length=64)]
Format = Annotated[str | None, Query(max_length=8)]
Day = Annotated[str | None, Query(max_length=32)]


async def posted_form(request: Request) -> dict[str, str]:
    """The form's fields, after its CSRF token is checked against the session's (403 if it
    is missing or wrong: a page of another site cannot post in the user's name)."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    sources = Sources.of(request)
    session = sessions_of(request).get(
        request.cookies.get(COOKIE), sources.settings.console_session_minutes * 60
    )
    expected = session.csrf if session is not None else None
    sent = fields.pop("csrf", "")
    if expected is None or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, "the form's CSRF token is missing or wrong")
    return fields


FormDep = Annotated[dict[str, str], Depends(posted_form)]


def render(
    request: Request, viewer: Viewer | None, template: str, http_status: int = 200, **context: Any
) -> HTMLResponse:
    lang = viewer.lang if viewer is not None else language(request)
    html = templates.get_template(template).render(
        _=translator(lang),
        lang=lang,
        other_lang=LANGUAGES[1 - LANGUAGES.index(lang)],
        viewer=viewer,
        csrf=viewer.session.csrf if viewer is not None else "",
        form_key=secrets.token_urlsafe(16),
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        export_csv=export_link(request, "csv"),
        export_xlsx=export_link(request, "xlsx"),
        **context,
    )
    return HTMLResponse(html, status_code=http_status)


def export_link(request: Request, fmt: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("format", "cursor")]
    query.append(("format", fmt))
    return request.url.path + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query)


def safe_next(target: str | None) -> str:
    """Only a path of this site: never `//elsewhere` or `https://elsewhere`."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _status_of(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail)
    if isinstance(exc, Forbidden):
        return 403, exc.message
    if isinstance(exc, InvalidInput):
        return 422, exc.message
    if isinstance(exc, NotFound):
        return 404, exc.message
    if isinstance(exc, RuleViolation):
        return 409, exc.message
    if isinstance(exc, LedgerError):
        return 422, exc.message
    if isinstance(exc, RequestValidationError | ValidationError):
        errors = exc.errors()
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p not in ('body', 'query'))}: {e['msg']}"
            for e in errors
        )
        return 422, detail
    raise exc


def error_page(request: Request, exc: Exception) -> Response:
    status, detail = _status_of(exc)
    if status == 401:
        return _to_signin(request)
    try:
        viewer: Viewer | None = current_viewer(request)
    except (SignInNeeded, LedgerError, HTTPException):
        viewer = None
    return render(
        request, viewer, "error.html", http_status=status, status_code=status, detail=detail
    )


def _to_signin(request: Request) -> Response:
    target = request.url.path if request.method == "GET" else "/"
    return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)


class ConsoleRoute(APIRoute):
    """Every console answer carries the security headers; a refusal is an HTML page."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInNeeded:
                response = _to_signin(request)
            except (HTTPException, LedgerError, RequestValidationError, ValidationError) as exc:
                response = error_page(request, exc)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return route


def set_cookie(request: Request, response: Response, name: str, value: str, **kw: Any) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        **kw,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
