"""Who is calling, and what they may do.

A principal's `name` becomes the `recorded_by` of every event it writes: `admin` for the
`LEDGER_ADMIN_TOKEN`, `key:<key_id>` for an API key (the key's Issued event in the log
says which role and staff member it belongs to).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException

from ledger.application import Ledger
from ledger.domain import NotFound


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    staff_id: str | None = None


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def identify(ledger: Ledger, admin_token: str | None, token: str) -> Principal:
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(name="admin", role="admin")
    key = ledger.authenticate(token)
    if key is None:
        raise unauthorized("the bearer token is unknown or revoked")
    return Principal(name=f"key:{key.key_id}", role=key.role, staff_id=key.staff_id)


def check_role(principal: Principal, roles: tuple[str, ...], doing: str) -> None:
    if principal.role not in roles:
        raise HTTPException(403, f"the {principal.role} role may not {doing}")


def check_unit_scope(ledger: Ledger, principal: Principal, unit_id: str) -> None:
    """A manager acts only on clients whose home unit lies in its own unit's subtree."""
    if principal.role != "manager":
        return
    assert principal.staff_id is not None
    try:
        staff = ledger.get_staff(principal.staff_id)
    except NotFound:
        raise HTTPException(403, "this manager key's staff member is unknown") from None
    if staff.status != "active":
        raise HTTPException(403, f"staff {staff.staff_id} has departed and may not write")
    if staff.unit_id not in ledger.unit_ancestry(unit_id):
        raise HTTPException(
            403, f"unit {unit_id} is outside the subtree of {staff.staff_id}'s unit {staff.unit_id}"
        )


def check_client_scope(ledger: Ledger, principal: Principal, client_id: str) -> None:
    if principal.role == "manager":
        check_unit_scope(ledger, principal, ledger.client_unit(client_id))
