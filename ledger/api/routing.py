"""How every router is made: `resource_router` (its problems documented, and the route
class with which a plain `def` handler costs one trip to the thread pool per request, not
two)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ledger.api.problems import problem_responses

# The problems the routes of a resource that writes may answer, and of one that reads the
# read models (503: the read model is not there yet).
WRITE_PROBLEMS = (401, 403, 404, 409, 413, 422, 500)
READ_PROBLEMS = (401, 403, 404, 422, 500, 503)


class OneHopRoute(APIRoute):
    """FastAPI (0.165) runs a plain `def` endpoint in the thread pool and then validates
    its answer against the response model in the thread pool again: a second hand-off
    between the event loop and a worker thread per request, for microseconds of pydantic
    work. This route gives FastAPI an `async` endpoint that runs the handler in the pool
    once; the answer is validated on the event loop. Handlers stay plain `def`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _in_thread_pool(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _in_thread_pool(handler: Callable[..., Any]) -> Callable[..., Any]:
    # `wraps` keeps the handler's signature and module globals, which FastAPI reads.
    @functools.wraps(handler)
    async def endpoint(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(handler, *args, **kwargs)

    return endpoint


def resource_router(prefix: str = "", *, tag: str, problems: Sequence[int]) -> APIRouter:
    """The router of one resource: its routes documented under `tag` with the `problems`
    they may answer, each run by `OneHopRoute`."""
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        responses=problem_responses(*problems),
        route_class=OneHopRoute,
    )
