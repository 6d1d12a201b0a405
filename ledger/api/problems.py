"""Every refusal as application/problem+json, in one place.

Domain errors map by class: `InvalidInput` 422 naming the field, `RuleViolation` 409 naming
the rule, `NotFound` 404, `Forbidden` 403. A store that cannot be reached (database down or
restarting, no free connection, SQLite locked too long) is a 503 with `Retry-After`: nothing
was written and the same request may be sent again. Anything unexpected is a 500 whose body
says nothing of the code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.api.schemas import Problem
from ledger.domain import Forbidden, InvalidInput, NotFound, RuleViolation
from ledger.store import STORE_UNAVAILABLE

MEDIA_TYPE = "application/problem+json"
MAX_BODY = 64 * 1024
IMPORTS_PATH = "/v1/imports"
# A name list of ~100,000 clients as CSV.
MAX_IMPORT_BODY = 64 * 1024 * 1024
RETRY_AFTER_SECONDS = 2

log = logging.getLogger("ledger.api")


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    rule: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    title = HTTPStatus(status).phrase
    body = Problem(
        type=f"urn:ledger:problem:{slug or title.lower().replace(' ', '-')}",
        title=title,
        status=status,
        detail=detail,
        errors=errors,
        rule=rule,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def _field_name(loc: Sequence[Any]) -> str:
    where, *path = loc or ("body",)
    if where == "header":
        return "-".join(part.capitalize() for part in str(path[0]).split("-")) if path else "header"
    names = [str(part) for part in path if not isinstance(part, int)] if where == "body" else path
    return ".".join(str(part) for part in names) or str(where)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            message = "is not valid JSON"
        errors.append({"field": _field_name(error.get("loc", ())), "message": message})
    return errors


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = _validation_errors(exc)
    fields = ", ".join(dict.fromkeys(error["field"] for error in errors))
    return problem_response(422, f"invalid input: {fields}", slug="invalid-input", errors=errors)


async def _on_invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
    return problem_response(
        422,
        exc.message,
        slug="invalid-input",
        errors=[{"field": exc.field, "message": exc.detail}],
    )


async def _on_rule(request: Request, exc: RuleViolation) -> JSONResponse:
    # The type ends in the rule's own name (API.md 1.1: "`type` ending `retention_period`").
    return problem_response(409, exc.message, slug=exc.rule, rule=exc.rule)


async def _on_not_found(request: Request, exc: NotFound) -> JSONResponse:
    return problem_response(404, exc.message)


async def _on_forbidden(request: Request, exc: Forbidden) -> JSONResponse:
    return problem_response(403, exc.message)


async def _on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        503,
        "the event store is unavailable; retry shortly (a retry with the same Idempotency-Key "
        "cannot write twice)",
        slug="store-unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:
        # FastAPI's only 400 is a body it could not decode (not UTF-8, say): invalid input.
        return problem_response(
            422,
            "invalid input: body",
            slug="invalid-input",
            errors=[{"field": "body", "message": "could not be decoded as UTF-8 JSON"}],
        )
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(exc.status_code, detail, headers=exc.headers)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidInput, _on_invalid_input)  # type: ignore[arg-type]
    app.add_exception_handler(RuleViolation, _on_rule)  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, _on_not_found)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, _on_forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _on_store_unavailable)


class BodyTooLarge(HTTPException):
    # An HTTPException, so FastAPI's body reader lets it through instead of making it a 400.
    def __init__(self, limit: int = MAX_BODY) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


class ProblemMiddleware:
    """Outermost layer: refuses oversized bodies (declared or streamed) with a 413, and
    turns an unexpected exception into a 500 problem, logged here with its stack trace."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body
        # A name list is a file, not a command: its route takes a larger body.
        self.max_bodies = {IMPORTS_PATH: MAX_IMPORT_BODY}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_body = self.max_bodies.get(scope["path"], self.max_body)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body):
            await self._send(send, 413, BodyTooLarge(max_body).detail)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise BodyTooLarge(max_body)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await self._send(send, 413, exc.detail)
        except Exception:
            log.exception("unexpected failure on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await self._send(send, 500, "an unexpected error occurred")

    @staticmethod
    async def _send(send: Send, status: int, detail: str) -> None:
        response = problem_response(status, detail)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})


PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route may answer."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


def canonical_json(raw: bytes) -> bytes:
    """The body as a fingerprint sees it: same JSON, same bytes, whatever the spacing."""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return raw
