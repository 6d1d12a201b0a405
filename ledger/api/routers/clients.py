from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query, Response
from pydantic_core import to_json

from ledger.api.deps import IdPath, LedgerDep, ReadRecorderDep, ScopedClient
from ledger.api.exports import EXPORT_RESPONSES, ExportFormat, export_models
from ledger.api.routing import WRITE_PROBLEMS, resource_router
from ledger.api.schemas import (
    Acknowledgement,
    AssetsPublic,
    AssetsReport,
    Assignment,
    ChurnCreate,
    ClientCreate,
    ClientHistoryPublic,
    ClientProfileUpdate,
    ClientPublic,
    ContactCreate,
    HistoryEventPublic,
    Moment,
    Reactivation,
    Retraction,
    TierChange,
    WritePublic,
)
from ledger.api.writers import ClientCreateWriterDep, ClientUpdateWriterDep, Writer
from ledger.application import WriteResult
from ledger.domain.values import DEFAULT_LIMIT, MAX_LIMIT

router = resource_router("/v1/clients", tag="clients", problems=WRITE_PROBLEMS)


def _client_write(
    write: Writer, client_id: str, command: Callable[..., WriteResult], **fields: Any
) -> WritePublic:
    fields["client_id"] = client_id
    write.ledger.check_client_command(write.principal, command.__name__, fields)
    return write(command, **fields)


@router.post("", status_code=201, summary="Register a client")
def register_client(body: ClientCreate, write: ClientCreateWriterDep) -> WritePublic:
    fields = body.model_dump()
    write.ledger.check_client_command(write.principal, "register_client", fields)
    return write(write.ledger.register_client, **fields)


@router.post("/{client_id}/profile", status_code=201, summary="Update the profile")
def update_profile(
    client_id: IdPath, body: ClientProfileUpdate, write: ClientUpdateWriterDep
) -> WritePublic:
    changes = body.model_dump(include=body.model_fields_set - {"effective_at"})
    return _client_write(
        write,
        client_id,
        write.ledger.update_profile,
        changes=changes,
        effective_at=body.effective_at,
    )


@router.post("/{client_id}/assets", status_code=201, summary="Report assets")
def report_assets(
    client_id: IdPath, body: AssetsReport, write: ClientUpdateWriterDep
) -> WritePublic:
    return _client_write(write, client_id, write.ledger.report_assets, **body.model_dump())


@router.post("/{client_id}/tier-changes", status_code=201, summary="Change the tier")
def change_tier(client_id: IdPath, body: TierChange, write: ClientUpdateWriterDep) -> WritePublic:
    return _client_write(write, client_id, write.ledger.change_tier, **body.model_dump())


@router.post("/{client_id}/assignments", status_code=201, summary="Assign a team role")
def assign(client_id: IdPath, body: Assignment, write: ClientUpdateWriterDep) -> WritePublic:
    return _client_write(write, client_id, write.ledger.assign, **body.model_dump())


@router.post("/{client_id}/contacts", status_code=201, summary="Log a contact")
def log_contact(
    client_id: IdPath, body: ContactCreate, write: ClientUpdateWriterDep
) -> WritePublic:
    return _client_write(write, client_id, write.ledger.log_contact, **body.model_dump())


@router.post(
    "/{client_id}/assignments/{event_id}/acknowledgement",
    status_code=201,
    summary="The assignee signs for a designated-manager assignment",
)
def acknowledge_assignment(
    client_id: IdPath,
    event_id: IdPath,
    write: ClientUpdateWriterDep,
    body: Acknowledgement | None = None,
) -> WritePublic:
    acting = write.principal.staff_id if write.principal.role == "manager" else None
    return _client_write(
        write,
        client_id,
        write.ledger.acknowledge_assignment,
        event_id=event_id,
        acting_staff_id=acting,
    )


@router.post("/{client_id}/churn", status_code=201, summary="Record a churn")
def churn(client_id: IdPath, body: ChurnCreate, write: ClientUpdateWriterDep) -> WritePublic:
    return _client_write(write, client_id, write.ledger.churn, **body.model_dump())


@router.post("/{client_id}/reactivation", status_code=201, summary="Win a client back")
def reactivate(client_id: IdPath, body: Reactivation, write: ClientUpdateWriterDep) -> WritePublic:
    return _client_write(write, client_id, write.ledger.reactivate, **body.model_dump())


@router.post("/{client_id}/retractions", status_code=201, summary="Retract an earlier event")
def retract(client_id: IdPath, body: Retraction, write: ClientUpdateWriterDep) -> WritePublic:
    return _client_write(write, client_id, write.ledger.retract, **body.model_dump())


@router.get("/{client_id}", summary="Read a client as of a time, as known at a time")
def get_client(
    client_id: ScopedClient,
    ledger: LedgerDep,
    read: ReadRecorderDep,
    as_of: Moment | None = None,
    known_at: Moment | None = None,
) -> ClientPublic:
    state = ledger.get_client(client_id, as_of=as_of, known_at=known_at)
    read(client_id)
    assets = None
    if state.assets_amount is not None and state.assets_as_of is not None:
        assets = AssetsPublic(amount=str(state.assets_amount), as_of=state.assets_as_of)
    return ClientPublic(
        client_id=state.client_id,
        name=None if state.erased else state.name,
        unit_id=state.unit_id,
        tier=state.tier,  # type: ignore[arg-type]
        status=state.status,  # type: ignore[arg-type]
        designated_manager=state.designated_manager,
        team=state.team,
        profile=None if state.erased else state.profile,
        assets=assets,
        last_contact_at=state.last_contact_at,
        version=state.version,
        source=state.source,
        referred_by=state.referred_by,
        erased=state.erased,
    )


# Issue 17: a long-lived client's history a page at a time (its 10,000 events whole are
# 3.8 MB and half a second of CPU); without `limit` and `cursor`, the whole of it.
HistoryLimit = Annotated[
    int | None,
    Query(ge=1, le=MAX_LIMIT, description="events per page (100 when only a cursor is given)"),
]
HistoryCursor = Annotated[
    str | None, Query(max_length=20, description="the previous page's next_cursor")
]


@router.get(
    "/{client_id}/history",
    summary="Every event of a client, in version order; a page of them with limit or cursor",
    response_model=ClientHistoryPublic,
    responses=EXPORT_RESPONSES,
)
def client_history(
    client_id: ScopedClient,
    ledger: LedgerDep,
    read: ReadRecorderDep,
    fmt: ExportFormat = None,
    limit: HistoryLimit = None,
    cursor: HistoryCursor = None,
) -> ClientHistoryPublic | Response:
    if fmt is not None:
        entries = ledger.client_history(client_id)
        read(client_id)
        return export_models(HistoryEventPublic, entries, fmt, f"history-{client_id}")
    if limit is not None or cursor is not None:
        limit = limit or DEFAULT_LIMIT
    rows, next_cursor = ledger.client_history_rows(client_id, limit=limit, cursor=cursor)
    read(client_id)
    # Each event already in `HistoryEventPublic`'s shape and order, written to JSON as it
    # is: a model per event was a tenth of a long history's CPU (tests/e2e/
    # test_api_history_pages.py compares the bytes with the model's).
    answer = {"client_id": client_id, "events": rows, "next_cursor": next_cursor}
    return Response(to_json(answer), media_type="application/json")
