"""A write answered without FastAPI's dependency solving (`routing.OneHopRoute`).

FastAPI (0.165) solves a write's dependency tree on every request (the writer, the caller's
role check, the caller, its bearer credentials), running the caller's identification in the
thread pool and the handler in it again: about half of a write's time on the event loop, and
two trips to a worker thread. A route whose only dependency is a writer's (`api.writers`) has a
`WritePlan`: it validates the path, the writer's headers and the JSON body with the route's own
fields, on the event loop, and makes one trip to the thread pool, where the caller is identified
and its role checked (the writer's `WriterRecipe`) and the handler runs; the answer is written
with the route's response field, as FastAPI writes it.

A request the plan does not take as it is (a query string, another content type, an empty
body, any field that does not validate) is answered FastAPI's own way, which identifies the
caller first (401, 403) and then answers 422 naming every field, as ever: the plan has done
nothing by then but read. An error once the caller is identified (401, 403, the ledger's
refusals) is raised as FastAPI would raise it from the same dependency or handler."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute, serialize_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

try:  # FastAPI 0.165's route as included in the app, with the app's dependencies
    from fastapi.routing import _effective_route_context_var as _included
except ImportError:  # pragma: no cover - another FastAPI: every request goes FastAPI's way
    _included = None


def effective_route(route: APIRoute) -> Any:
    """The route as FastAPI's own `get_route_handler` sees it now (the included route, its
    app's and router's dependencies with it); `WritePlan.of` takes it only if `UNDERSTOOD`."""
    context = _included.get() if isinstance(_included, ContextVar) else None
    return context if context is not None and context.original_route is route else route


def _understood() -> bool:
    """Whether this FastAPI answers as the plan knows (0.165): its route as included, and a
    response written by `serialize_response` with `dump_json`; else no route has a plan."""
    known = {"field", "response_content", "is_coroutine", "dump_json", "by_alias"}
    parameters = inspect.signature(serialize_response).parameters
    return isinstance(_included, ContextVar) and known <= parameters.keys()


UNDERSTOOD = _understood()


def _reads_query_only(call: Any) -> bool:
    return bool(getattr(call, "reads_query_only", False))


@dataclass(frozen=True)
class WritePlan:
    handler: Callable[..., Any]  # the route's plain `def`
    path_fields: tuple[Any, ...]
    header_fields: tuple[Any, ...]  # the writer's (Idempotency-Key, If-Match)
    body_field: Any
    body_name: str
    writer_name: str
    recipe: Any  # the writer's WriterRecipe
    route: Any

    @classmethod
    def of(cls, route: Any) -> WritePlan | None:
        """The plan of a write route, or None for any other (or one this FastAPI builds
        otherwise than the plan knows)."""
        if not UNDERSTOOD:
            return None
        dependant = route.dependant
        handler = getattr(dependant.call, "__wrapped__", None)
        writers = [d for d in dependant.dependencies if hasattr(d.call, "recipe")]
        others = [d for d in dependant.dependencies if not hasattr(d.call, "recipe")]
        plain = (
            handler is not None
            and not inspect.iscoroutinefunction(handler)
            and len(writers) == 1
            and all(_reads_query_only(d.call) and not d.dependencies for d in others)
            and not (dependant.query_params or dependant.header_params)
            and not (dependant.cookie_params or dependant.background_tasks_param_name)
            and len(dependant.body_params) == 1
            and route.body_field is not None
            and not route._embed_body_fields
            and not isinstance(route.body_field.field_info, params.Form)
            and all(hasattr(f, "validate") for f in (route.body_field, *dependant.path_params))
            and isinstance(route.response_class, DefaultPlaceholder)
            and route.response_field is not None
            and route.status_code is not None
        )
        if not plain:
            return None
        writer = writers[0]
        if writer.query_params or writer.body_params or writer.cookie_params:
            return None
        return cls(
            handler=handler,
            path_fields=tuple(dependant.path_params),
            header_fields=tuple(writer.header_params),
            body_field=route.body_field,
            body_name=dependant.body_params[0].name,
            writer_name=writer.name,
            recipe=writer.call.recipe,
            route=route,
        )

    async def answer(self, request: Request) -> Response | None:
        """The route's answer to `request`, or None when FastAPI's own way must answer it."""
        taken = await self._values(request)
        if taken is None:
            return None
        values, headers = taken
        make_writer = await self.recipe.prepare(request, headers)
        # As FastAPI gives a dependency that takes `Response`: its status and headers are
        # the answer's (a writer sets Idempotent-Replayed on it).
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]

        def run() -> Any:
            values[self.writer_name] = make_writer(sub_response)
            return self.handler(**values)

        raw = await run_in_threadpool(run)
        if isinstance(raw, Response):
            return raw
        route = self.route
        content = await serialize_response(
            field=route.response_field,
            response_content=raw,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
            is_coroutine=True,
            dump_json=True,
        )
        response = Response(
            content=content,
            media_type="application/json",
            status_code=sub_response.status_code or route.status_code,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    async def _values(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The handler's path and body values, and the writer's headers; None when any is
        absent or invalid, or the request has a query string (which only the app's check of
        query names reads, and refuses for a write)."""
        if request.scope.get("query_string"):
            return None
        values: dict[str, Any] = {}
        for field in self.path_fields:
            value, errors = field.validate(
                request.path_params.get(field.alias), {}, loc=("path", field.alias)
            )
            if errors:
                return None
            values[field.name] = value
        headers: dict[str, Any] = {}
        for field in self.header_fields:
            raw = request.headers.get(field.alias)
            if raw is None:
                if field.field_info.is_required():
                    return None
                continue
            value, errors = field.validate(raw, {}, loc=("header", field.alias))
            if errors:
                return None
            headers[field.name] = value
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            return None
        body = await request.body()
        if not body:
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        value, errors = self.body_field.validate(data, {}, loc=("body",))
        if errors:
            return None
        values[self.body_name] = value
        return values, headers
