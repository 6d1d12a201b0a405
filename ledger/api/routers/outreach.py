"""The fund manager's half: prospects (recorded, converted, dropped) and campaigns."""

from __future__ import annotations

from ledger.api.deps import IdPath
from ledger.api.routing import WRITE_PROBLEMS, resource_router
from ledger.api.schemas import (
    CampaignCreate,
    ProspectConversion,
    ProspectCreate,
    ProspectDrop,
    WritePublic,
)
from ledger.api.writers import ClientCreateWriterDep, ClientUpdateWriterDep

router = resource_router("/v1", tag="outreach", problems=WRITE_PROBLEMS)


@router.post("/prospects", status_code=201, summary="Record a prospect")
def record_prospect(body: ProspectCreate, write: ClientCreateWriterDep) -> WritePublic:
    write.ledger.check_unit_scope(write.principal, body.unit_id)
    write.ledger.check_named_staff(write.principal, body.owner_staff_id)
    return write(write.ledger.record_prospect, **body.model_dump())


@router.post(
    "/prospects/{prospect_id}/conversion",
    status_code=201,
    summary="Register the prospect as a client, linked to it",
)
def convert_prospect(
    prospect_id: IdPath, body: ProspectConversion, write: ClientUpdateWriterDep
) -> WritePublic:
    write.ledger.check_prospect_scope(write.principal, prospect_id)
    return write(write.ledger.convert_prospect, prospect_id=prospect_id, **body.model_dump())


@router.post("/prospects/{prospect_id}/drop", status_code=201, summary="Drop a prospect")
def drop_prospect(
    prospect_id: IdPath, body: ProspectDrop, write: ClientUpdateWriterDep
) -> WritePublic:
    write.ledger.check_prospect_scope(write.principal, prospect_id)
    return write(write.ledger.drop_prospect, prospect_id=prospect_id, **body.model_dump())


@router.post(
    "/campaigns",
    status_code=201,
    summary="Hold a campaign: one contact of each attending client, all or nothing",
)
def hold_campaign(body: CampaignCreate, write: ClientCreateWriterDep) -> WritePublic:
    # A contact of each client: the rules of a manager's contact, once for all of them.
    write.ledger.check_named_staff(write.principal, body.staff_id)
    write.ledger.check_backdating(write.principal, "occurred_at", body.occurred_at)
    for client_id in body.client_ids:
        write.ledger.check_client_scope(write.principal, client_id)
    return write(write.ledger.hold_campaign, **body.model_dump())
