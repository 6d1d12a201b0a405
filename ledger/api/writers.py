"""The write protocol: a `Writer` runs one ledger command for the caller under its
Idempotency-Key and If-Match, and the dependencies that give a route one. Each dependency also
carries its `WriterRecipe`: how `routing.OneHopRoute` makes the same writer for a request
without FastAPI's dependency solving (the caller identified in the handler's own thread)."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from ledger.api.deps import AdminDep, ClientWriterDep, PrincipalDep, bearer, get_principal
from ledger.api.problems import canonical_json
from ledger.api.schemas import WritePublic
from ledger.application import Ledger, Principal, WriteResult, check_role


class Writer:
    """Runs one ledger command under the caller's Idempotency-Key and If-Match, recorded by
    the caller, and shapes the answer."""

    def __init__(
        self,
        ledger: Ledger,
        principal: Principal,
        response: Response,
        fingerprint: str | None,
        idempotency_key: str | None,
        expected_version: int | None,
        *,
        updates: bool,
    ) -> None:
        self.ledger = ledger
        self.principal = principal
        self.response = response
        self.fingerprint = fingerprint
        self.idempotency_key = idempotency_key
        self.expected_version = expected_version
        self.updates = updates

    @property
    def recorded_by(self) -> str:
        return self.principal.name

    def __call__(self, command: Callable[..., WriteResult], **fields: Any) -> WritePublic:
        """`command(**fields)` with `recorded_by`, and for an update `expected_version`."""
        fields["recorded_by"] = self.recorded_by
        if self.updates:
            fields["expected_version"] = self.expected_version
        if self.idempotency_key is None or self.fingerprint is None:
            result = command(**fields)
        else:
            result, replayed = self.ledger.idempotent(
                scope=self.principal.name,
                key=self.idempotency_key,
                fingerprint=self.fingerprint,
                write=lambda: command(**fields),
            )
            if replayed:
                self.response.headers["Idempotent-Replayed"] = "true"
        return WritePublic.model_validate(result, from_attributes=True)


async def _fingerprint(request: Request, key: str | None, if_match: str | None) -> str | None:
    # Only a write under an Idempotency-Key is compared with another: without one, the
    # canonical JSON and hash of the body would be work for nothing.
    if key is None:
        return None
    body = await request.body()
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), (if_match or "").encode()):
        digest.update(part + b"\n")
    digest.update(canonical_json(body))
    return digest.hexdigest()


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    return int(if_match.removeprefix("W/").strip('"'))


# Typed `str` (not `str | None`) so the schema says "a string, may be absent", not "or null".
IdempotencyKeyHeader = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[!-~]{1,200}$",
        description="a retry with the same key and body answers the first response",
    ),
]
IfMatchHeader = Annotated[
    str,
    Header(
        alias="If-Match",
        pattern=r'^(W/)?"?[0-9]{1,18}"?$',
        description="write only if the aggregate is at this version, else 409",
    ),
]


@dataclass(frozen=True)
class WriterRecipe:
    """How a writer dependency makes its `Writer` from the request's validated headers (an
    update's If-Match too): `terms` on the event loop (Idempotency-Key, fingerprint,
    expected version), then `writer` for the caller. FastAPI's way identifies the caller as a
    dependency first; a write route's plan (`api.write_plan`) calls `prepare`, whose writer
    identifies the caller and checks its role in the handler's thread."""

    roles: tuple[tuple[str, ...], str] | None  # (roles, doing) of the caller's role check
    updates: bool

    async def terms(
        self, request: Request, headers: dict[str, Any]
    ) -> tuple[str | None, str | None, int | None]:
        key, if_match = headers.get("idempotency_key"), headers.get("if_match")
        return key, await _fingerprint(request, key, if_match), _expected_version(if_match)

    def writer(
        self,
        request: Request,
        principal: Principal,
        response: Response,
        terms: tuple[str | None, str | None, int | None],
    ) -> Writer:
        key, fingerprint, expected = terms
        ledger = request.app.state.container.ledger
        return Writer(ledger, principal, response, fingerprint, key, expected, updates=self.updates)

    async def prepare(
        self, request: Request, headers: dict[str, Any]
    ) -> Callable[[Response], Writer]:
        terms = await self.terms(request, headers)
        credentials = await bearer(request)

        def writer(response: Response) -> Writer:
            return self.writer(request, self.caller(request, credentials), response, terms)

        return writer

    def caller(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None
    ) -> Principal:
        principal = get_principal(request, credentials)
        if self.roles is not None:
            check_role(principal, *self.roles)
        return principal


# The headers a writer reads: a create its Idempotency-Key, an update its If-Match too.
HEADERS = {"idempotency_key": IdempotencyKeyHeader, "if_match": IfMatchHeader}


def writer_dependencies(caller: Any) -> tuple[Any, Any]:
    """The dependencies giving a `Writer` for a create and for an update, for the caller as
    the dependency `caller` gives it (`PrincipalDep`, or one that also checks its role:
    taking the role's dependency here, rather than beside the writer in the route, spares
    FastAPI solving the caller's dependencies twice over on every write: 7 dependencies a
    client write, now 5). Each carries its `recipe`."""
    roles = getattr(caller.__metadata__[0].dependency, "roles", None)
    return _writer_dependency(caller, roles, False), _writer_dependency(caller, roles, True)


def _writer_dependency(caller: Any, roles: Any, updates: bool) -> Any:
    recipe = WriterRecipe(roles, updates)

    async def dependency(
        request: Request, response: Response, principal: Principal, **headers: Any
    ) -> Writer:
        return recipe.writer(request, principal, response, await recipe.terms(request, headers))

    # FastAPI reads each parameter's kind from its annotation: the caller's dependency goes
    # in as an object (this module's annotations are text); the headers as named ones.
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("response", keyword, annotation=Response),
        inspect.Parameter("principal", keyword, annotation=caller),
    ]
    for name, header in list(HEADERS.items())[: 2 if updates else 1]:
        parameters.append(inspect.Parameter(name, keyword, default=None, annotation=header))
    dependency.__signature__ = inspect.Signature(parameters, return_annotation=Writer)  # type: ignore[attr-defined]
    dependency.recipe = recipe  # type: ignore[attr-defined]
    return Annotated[Writer, Depends(dependency)]


CreateWriterDep, UpdateWriterDep = writer_dependencies(PrincipalDep)
ClientCreateWriterDep, ClientUpdateWriterDep = writer_dependencies(ClientWriterDep)
AdminCreateWriterDep, AdminUpdateWriterDep = writer_dependencies(AdminDep)
