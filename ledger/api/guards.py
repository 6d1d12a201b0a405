"""What every request and answer passes through, whatever its route (API.md 1.1): only the
query parameters the route defines, each once and on one line; a JSON body's keys once
each; and answers kept out of caches and from being sniffed as another type."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.api.problems import problem_response
from ledger.domain.values import text_fault

# Answers hold personal data: no cache (a browser's, a proxy's) may keep them.
ANSWER_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
_ANSWER_HEADER_NAMES = {name for name, _ in ANSWER_HEADERS}


# Routes are not hashable; each is kept here with its names, so its id stays its own.
_query_names_by_route: dict[int, tuple[APIRoute, frozenset[str]]] = {}


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters of the route and of every dependency it solves, as sent."""
    known = _query_names_by_route.get(id(route))
    if known is not None:
        return known[1]
    names: set[str] = set()
    dependants = [route.dependant]
    while dependants:
        dependant = dependants.pop()
        names.update(param.alias for param in dependant.query_params)
        dependants.extend(dependant.dependencies)
    _query_names_by_route[id(route)] = (route, frozenset(names))
    return frozenset(names)


async def defined_query_only(request: Request) -> None:
    """An app-wide dependency: a parameter the route does not define (a typo, or `as_of` on
    a report that cannot honour it) is a 422 naming it, not silently ignored; so is one
    given twice or holding a control character."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    defined = _query_names(route)
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name, value in request.query_params.multi_items():
        if name not in defined:
            message = "is not a parameter of this endpoint"
        elif name in seen:
            message = "is given more than once"
        else:
            message = text_fault(value, free=False) or ""
        seen.add(name)
        if message:
            errors.append({"loc": ("query", name), "msg": message, "type": "value_error"})
    if errors:
        raise RequestValidationError(errors)


# With no query string it has nothing to refuse: a write route's plan (api.write_plan) takes
# only such requests, and so may leave it out.
defined_query_only.reads_query_only = True  # type: ignore[attr-defined]


def duplicated_key(body: bytes) -> str | None:
    """The first key that an object of the JSON `body` holds twice, or None (also for a body
    that is not JSON: the route refuses that itself)."""
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) < len(items) and not duplicates:
            keys = [key for key, _ in items]
            duplicates.append(next(key for i, key in enumerate(keys) if key in keys[:i]))
        return obj

    try:
        json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    return duplicates[0] if duplicates else None


class UniqueKeysMiddleware:
    """Refuses a JSON body holding a key twice: the JSON parser would keep the last value
    silently, so `{"client_id": "A", "client_id": "B"}` would register B. Sits inside the
    body-size limit, which bounds what it reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        key = duplicated_key(body) if body else None
        if key is not None:
            response = problem_response(
                422,
                f"invalid input: {key}",
                slug="invalid-input",
                errors=[{"field": key, "message": "is given more than once"}],
            )
            await response(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class AnswerHeadersMiddleware:
    """Outermost: every answer, errors included, says `Cache-Control: no-store` and
    `X-Content-Type-Options: nosniff`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in _ANSWER_HEADER_NAMES
                ]
                message = {**message, "headers": [*headers, *ANSWER_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)
