"""Dependencies shared by the routers: the ledger, the caller, the read models and the
write protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger.api.schemas import Moment
from ledger.application import Ledger, Principal, check_role
from ledger.bootstrap import Container
from ledger.domain import InvalidInput
from ledger.domain.api_key import ROLES
from ledger.projections.accountability import AccountabilityView
from ledger.projections.audit import AuditView
from ledger.projections.maintenance import MaintenanceView
from ledger.projections.reports import ReportsView
from ledger.projections.roster import RosterView

IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]

bearer = HTTPBearer(auto_error=False, description="an API key or LEDGER_ADMIN_TOKEN")


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in
# the thread pool, and a hop there costs more than the dependency itself.


async def get_container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_ledger(container: ContainerDep) -> Ledger:
    return container.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise unauthorized("send Authorization: Bearer <token>")
    # Read here, not through a dependency: FastAPI solves each one on every request.
    container: Container = request.app.state.container
    principal = container.identify(credentials.credentials)
    if principal is None:
        raise unauthorized("the bearer token is unknown or revoked")
    request.state.principal = principal.name  # for the request's log line
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def role_in(*roles: str, doing: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def dependency(principal: PrincipalDep) -> Principal:
        check_role(principal, roles, doing)
        return principal

    # Read by a writer that identifies its caller in the handler's thread (`api.writers`).
    dependency.roles = (roles, doing)  # type: ignore[attr-defined]
    return dependency


ReaderDep = Annotated[Principal, Depends(role_in(*ROLES, doing="read"))]
AdminDep = Annotated[Principal, Depends(role_in("admin", doing="change the organisation"))]
ClientWriterDep = Annotated[
    Principal, Depends(role_in("admin", "manager", doing="post client events"))
]
DeterminerDep = Annotated[
    Principal, Depends(role_in("admin", "compliance", doing="record determinations"))
]
KeyAdminDep = Annotated[Principal, Depends(role_in("admin", doing="manage API keys"))]
AuditorDep = Annotated[
    Principal, Depends(role_in("admin", "auditor", doing="check the ledger's integrity"))
]


# Seconds a client is told to wait before asking again when the projections lag.
RETRY_AFTER = "1"

AfterQuery = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**62,
        description="wait (up to LEDGER_READ_WAIT_SECONDS, 5 s by default) until the read "
        "models have processed this global log position, e.g. the `position` of your last "
        "write; else 503 with Retry-After",
    ),
]

# API.md 1.1, Audit: every report takes `known_at`.
KnownAtQuery = Annotated[
    Moment | None, Query(description="the report as the ledger knew it then (recorded time)")
]

# A report's period: `from` inclusive, `to` exclusive, and `to` after `from`.
From = Annotated[Moment, Query(alias="from", description="the period's start (inclusive)")]
To = Annotated[Moment, Query(alias="to", description="the period's end (exclusive)")]


def check_period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidInput("to", "must be after from")


async def _caught_up(container: Container, name: str, after: int | None) -> None:
    """With `after`: wait (bounded, on the event loop: no worker thread is held) until the
    read model `name` has processed it; else, or at once beyond the log's end, 503."""
    if after is not None and not await container.runner.wait_async(
        after, timeout=container.settings.read_wait_seconds, names=[name]
    ):
        raise HTTPException(
            503,
            f"the read models have not yet processed position {after}; retry shortly",
            headers={"Retry-After": RETRY_AFTER},
        )


def read_model(name: str) -> Callable[..., Awaitable[Any]]:
    """The dependency that gives a reader the view of read model `name`, once it has
    processed `after` (`_caught_up`)."""

    async def view(container: ContainerDep, _: ReaderDep, after: AfterQuery = None) -> Any:
        await _caught_up(container, name, after)
        return container.views[name]

    return view


# The roster's filters the maintenance view answers (DOMAIN.md 1.1, Segments).
PROFILE_FILTERS = (
    "risk_appetite",
    "product_horizon",
    "business_interest",
    "source",
    "min_assets",
    "max_assets",
)


async def maintenance_for_filters(
    request: Request, container: ContainerDep, _: ReaderDep, after: AfterQuery = None
) -> MaintenanceView:
    """The maintenance view for a roster read: waited for only when the read filters on
    the profile, source or assets (a plain roster does not depend on it)."""
    if any(name in request.query_params for name in PROFILE_FILTERS):
        await _caught_up(container, "maintenance", after)
    return container.views.maintenance


# A manager key reads only its own subtree (API.md 1.1, "Scope of a manager key"): each read
# names its unit, client or staff member through one of these, which checks it.

IdQuery = Annotated[str, Query(min_length=1, max_length=64)]


def unit_in_scope(
    ledger: LedgerDep,
    principal: ReaderDep,
    unit_id: Annotated[str, Query(min_length=1, max_length=64, description="the subtree's root")],
) -> str:
    ledger.check_unit_scope(principal, unit_id)
    return unit_id


def client_in_scope(ledger: LedgerDep, principal: ReaderDep, client_id: IdPath) -> str:
    ledger.check_client_scope(principal, client_id)
    return client_id


def client_query_in_scope(ledger: LedgerDep, principal: ReaderDep, client_id: IdQuery) -> str:
    return client_in_scope(ledger, principal, client_id)


def staff_in_scope(ledger: LedgerDep, principal: ReaderDep, staff_id: IdPath) -> str:
    ledger.get_staff(staff_id)  # an unknown staff member is a 404, not a row of zeros
    ledger.check_staff_read_scope(principal, staff_id)
    return staff_id


def staff_query_in_scope(ledger: LedgerDep, principal: ReaderDep, staff_id: IdQuery) -> str:
    return staff_in_scope(ledger, principal, staff_id)


def optional_unit_in_scope(
    ledger: LedgerDep,
    principal: ReaderDep,
    unit_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> str | None:
    return ledger.scoped_unit(principal, unit_id)


ScopedUnit = Annotated[str, Depends(unit_in_scope)]
ScopedClient = Annotated[str, Depends(client_in_scope)]
ScopedClientQuery = Annotated[str, Depends(client_query_in_scope)]
ScopedStaff = Annotated[str, Depends(staff_in_scope)]
ScopedStaffQuery = Annotated[str, Depends(staff_query_in_scope)]
ScopedUnitOrNone = Annotated[str | None, Depends(optional_unit_in_scope)]


def read_recorder(
    request: Request, container: ContainerDep, principal: ReaderDep
) -> Callable[[str], None]:
    """Records, for the read log, that the caller read a client's personal data here."""

    def record(client_id: str) -> None:
        container.read_log.record(
            principal=principal.name,
            role=principal.role,
            path=request.url.path,
            client_id=client_id,
        )

    return record


# A handler that answers a client's personal data calls it once it has the answer.
ReadRecorderDep = Annotated[Callable[[str], None], Depends(read_recorder)]
AuditReaderDep = Annotated[
    Principal,
    Depends(role_in("admin", "auditor", "compliance", doing="read the audit log")),
]


async def audit_view(
    container: ContainerDep, _: AuditReaderDep, after: AfterQuery = None
) -> AuditView:
    await _caught_up(container, "audit", after)
    return container.views.audit


async def restated_views(
    container: ContainerDep, _: AuditReaderDep, after: AfterQuery = None
) -> Container:
    """The container, once every read model a restatement reads has processed `after`."""
    for name in ("roster", "accountability", "reports", "maintenance", "audit"):
        await _caught_up(container, name, after)
    return container


AuditDep = Annotated[AuditView, Depends(audit_view)]
RestatedDep = Annotated[Container, Depends(restated_views)]
RosterDep = Annotated[RosterView, Depends(read_model("roster"))]
AccountabilityDep = Annotated[AccountabilityView, Depends(read_model("accountability"))]
ReportsDep = Annotated[ReportsView, Depends(read_model("reports"))]
MaintenanceDep = Annotated[MaintenanceView, Depends(read_model("maintenance"))]
MaintenanceForFiltersDep = Annotated[MaintenanceView, Depends(maintenance_for_filters)]
