"""Routing: each resource's router passes over a path none of its routes begins like
(`LeadingRouter`), and every route of the app is still the one a request to its path
reaches; a path with another method is still a 405, an unknown one a 404."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Match

from ledger.api.app import create_app
from ledger.api.routing import LeadingRouter
from ledger.bootstrap import build
from ledger.config import Settings


@pytest.fixture(scope="module")
def app() -> Iterator[FastAPI]:
    container = build(Settings(database_url="memory://"))
    yield create_app(container, follow=False)
    container.close()


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def api_routes(app: FastAPI) -> list[tuple[APIRoute, object]]:
    """Every API route, in the order the app tries them, each with the entry of the app's
    router that holds it (FastAPI keeps an included router's routes apart)."""
    found: list[tuple[APIRoute, object]] = []
    for entry in app.router.routes:
        pending = [entry]
        while pending:
            route = pending.pop(0)
            original = getattr(route, "original_router", None)
            if original is not None:
                pending.extend(original.routes)
            elif isinstance(route, APIRoute) and route.path.startswith("/v1"):
                found.append((route, entry))
    return found


def reached(app: FastAPI, method: str, path: str) -> tuple[Match, object]:
    """What the app's router reaches for the request: FULL and the entry that takes it,
    else the best match (PARTIAL: the path of a route with another method) and None."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    best = Match.NONE
    for entry in app.router.routes:
        match, _ = entry.matches(scope)
        if match == Match.FULL:
            return match, entry
        if match == Match.PARTIAL:
            best = Match.PARTIAL
    return best, None


def test_a_router_passes_over_a_path_none_of_its_routes_begins_like() -> None:
    router = LeadingRouter(prefix="/v1/things")

    @router.get("/{thing_id}/parts")
    def parts(thing_id: str) -> list[str]:
        return []

    @router.post("")
    def add() -> None:
        return None

    app = FastAPI()
    app.include_router(router)
    included = app.router.routes[-1]
    scope = {"type": "http", "method": "GET", "root_path": "", "headers": []}
    assert included.matches({**scope, "path": "/v1/other/1/parts"})[0] == Match.NONE
    assert included.matches({**scope, "path": "/v1/things/1/parts"})[0] == Match.FULL
    assert included.matches({**scope, "path": "/v1/things"})[0] == Match.PARTIAL


def test_every_route_is_reached_by_its_own_path_and_methods(app: FastAPI) -> None:
    routes = api_routes(app)
    assert len(routes) >= 59
    for route, _ in routes:
        path = concrete(route.path)
        for method in route.methods:
            match, entry = reached(app, method, path)
            assert match == Match.FULL, (method, route.path)
            # The first route, in the app's order, that takes this path and method (another
            # may come before it: `/v1/audit/events` before `/v1/audit/{x}`) is held by the
            # entry that took the request.
            first = next(
                holder
                for other, holder in routes
                if method in other.methods and other.path_regex.match(path)
            )
            assert entry is first, (method, route.path)
        other_method = next(m for m in ("PUT", "PATCH", "DELETE") if m not in route.methods)
        assert reached(app, other_method, path)[0] != Match.NONE, route.path


def test_another_method_is_a_405_and_an_unknown_path_a_404(app: FastAPI) -> None:
    with TestClient(app) as api:
        assert api.put("/v1/clients/nobody/contacts", json={}).status_code == 405
        assert api.get("/v1/clients/nobody/contacts").status_code in (401, 405)
        assert api.get("/v1/nothing-here").status_code == 404
        assert api.delete("/v1/audit/events").status_code == 405
