from __future__ import annotations

from ledger.api.deps import IdPath, KeyAdminDep, LedgerDep
from ledger.api.routing import WRITE_PROBLEMS, resource_router
from ledger.api.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyPublic,
    ApiKeysPublic,
    WritePublic,
)

router = resource_router("/v1/api-keys", tag="api keys", problems=WRITE_PROBLEMS)


@router.post("", status_code=201, summary="Issue an API key (its token is shown once)")
def issue_key(body: ApiKeyCreate, ledger: LedgerDep, principal: KeyAdminDep) -> ApiKeyIssued:
    result, token = ledger.issue_api_key(**body.model_dump(), recorded_by=principal.name)
    return ApiKeyIssued(
        **WritePublic.model_validate(result, from_attributes=True).model_dump(),
        key_id=result.id,
        token=token,
        role=body.role,
        staff_id=body.staff_id,
        label=body.label,
        expires_at=body.expires_at,
    )


@router.get("", summary="Every key issued, for an access review (never a token or hash)")
def list_keys(ledger: LedgerDep, _: KeyAdminDep) -> ApiKeysPublic:
    return ApiKeysPublic(
        items=[ApiKeyPublic.model_validate(k, from_attributes=True) for k in ledger.api_keys()]
    )


@router.delete("/{key_id}", summary="Revoke an API key")
def revoke_key(key_id: IdPath, ledger: LedgerDep, principal: KeyAdminDep) -> WritePublic:
    result = ledger.revoke_api_key(key_id=key_id, recorded_by=principal.name)
    return WritePublic.model_validate(result, from_attributes=True)
