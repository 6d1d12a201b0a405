"""The FastAPI app, built from a wired container: routers, problems, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from ledger.api.guards import AnswerHeadersMiddleware, UniqueKeysMiddleware, defined_query_only
from ledger.api.observability import Observability
from ledger.api.problems import ProblemMiddleware, install_problem_handlers, problem_responses
from ledger.api.routers import (
    accountability,
    api_keys,
    audit,
    clients,
    health,
    imports,
    integrity,
    maintenance,
    outreach,
    privacy,
    reports,
    restatements,
    rosters,
    staff,
    units,
)
from ledger.bootstrap import Container
from ledger.console import router as console_router

DESCRIPTION = """\
An event-sourced ledger of a bank's client relationships.

Every `/v1` endpoint but `/v1/health` needs `Authorization: Bearer <token>` (an API key, or
`LEDGER_ADMIN_TOKEN`). Every write answers 201 with the event it appended; send
`Idempotency-Key` to make a retry safe and `If-Match: <version>` to write only over the
version you read. Errors are `application/problem+json`.
"""


def create_app(
    container: Container,
    *,
    close_on_shutdown: bool = False,
    follow: bool | None = None,
    apart: bool = False,
) -> FastAPI:
    """The app over a wired container; it closes the container on shutdown only if asked
    (tests and the command line own theirs).

    While the app runs, the projections follow the store: in a child process it supervises
    if `apart` (`ledger serve`), else in its own process, unless `follow` is False (by
    default: unless `LEDGER_NO_PROJECTIONS`); then the queries read the views that another
    process (`ledger project`) keeps."""
    if follow is None:
        follow = not container.settings.no_projections

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        projections = container.start_projections(follow=follow, apart=apart and follow)
        try:
            yield
        finally:
            if container.projector is not None:
                container.projector.stop()
            elif follow:
                projections.stop()
            if close_on_shutdown:
                container.close()

    app = FastAPI(
        title="Client relationship ledger",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Any route may meet the store down.
        responses=problem_responses(503),
        dependencies=[Depends(defined_query_only)],
    )
    app.state.container = container
    install_problem_handlers(app)
    for module in (
        health,
        units,
        staff,
        clients,
        outreach,
        rosters,
        accountability,
        reports,
        maintenance,
        integrity,
        privacy,
        api_keys,
        imports,
        audit,
        restatements,
    ):
        app.include_router(module.router)
    app.include_router(console_router)
    observability = Observability(container)
    app.add_api_route(
        "/metrics", observability.endpoint(), methods=["GET"], include_in_schema=False
    )
    # The last added is the outermost: headers on every answer, even ProblemMiddleware's 413
    # and 500; the body-size limit before the duplicate-key check reads a body.
    app.add_middleware(UniqueKeysMiddleware)
    app.add_middleware(ProblemMiddleware)
    app.add_middleware(AnswerHeadersMiddleware)
    # Outermost: it times and logs every answer, the problem middleware's too.
    app.add_middleware(observability.middleware)
    return app
