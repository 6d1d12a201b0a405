"""How every router is made: `resource_router` (its problems documented, and the route
class with which a plain `def` handler costs one trip to the thread pool per request, not
two)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from ledger.api.problems import problem_responses
from ledger.api.write_plan import WritePlan, effective_route

# The problems the routes of a resource that writes may answer, and of one that reads the
# read models (503: the read model is not there yet).
WRITE_PROBLEMS = (401, 403, 404, 409, 413, 422, 500)
READ_PROBLEMS = (401, 403, 404, 422, 500, 503)


class OneHopRoute(APIRoute):
    """FastAPI (0.165) runs a plain `def` endpoint in the thread pool and then validates
    its answer against the response model in the thread pool again: a second hand-off
    between the event loop and a worker thread per request, for microseconds of pydantic
    work. This route gives FastAPI an `async` endpoint that runs the handler in the pool
    once; the answer is validated on the event loop. Handlers stay plain `def`.

    A write route (its one dependency a writer's, `api.writers`) is answered without
    FastAPI's dependency solving when its request is plain (`WritePlan`): about half of a
    write's time on the event loop, and a second trip to the thread pool to identify the
    caller. Any other request, and any request the plan does not find valid, goes FastAPI's
    own way, which answers its errors as ever."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _in_thread_pool(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        standard = super().get_route_handler()
        plan = WritePlan.of(effective_route(self))
        if plan is None:
            return standard

        async def handler(request: Request) -> Response:
            return await plan.answer(request) or await standard(request)

        return handler


def _in_thread_pool(handler: Callable[..., Any]) -> Callable[..., Any]:
    # `wraps` keeps the handler's signature and module globals, which FastAPI reads.
    @functools.wraps(handler)
    async def endpoint(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(handler, *args, **kwargs)

    return endpoint


class LeadingRouter(APIRouter):
    """FastAPI (0.165) matches a request against an included router by trying each of its
    routes, whatever the path: a contact posted to `/v1/clients/...` was tried against every
    route of the three routers before it (43 µs), `/metrics` against all of them (180 µs).
    This router first asks whether the path begins as one of its routes' paths does (the
    text before the route's first `{`); if not, none of them can match, not even by path
    with another method, and it is passed over."""

    _leads: tuple[int, tuple[str, ...]] = (-1, ())

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        count, leads = self._leads
        if count != len(self.routes):
            leads = tuple({getattr(r, "path", "").split("{", 1)[0] for r in self.routes})
            self._leads = (len(self.routes), leads)
        if not get_route_path(scope).startswith(leads):
            return Match.NONE, {}
        return super().matches(scope)


def resource_router(prefix: str = "", *, tag: str, problems: Sequence[int]) -> APIRouter:
    """The router of one resource: its routes documented under `tag` with the `problems`
    they may answer, each run by `OneHopRoute`."""
    return LeadingRouter(
        prefix=prefix,
        tags=[tag],
        responses=problem_responses(*problems),
        route_class=OneHopRoute,
    )
