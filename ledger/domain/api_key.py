"""An API key: issued to a role (a manager bound to a staff member), revoked for ever.

Only a salted hash of the secret is kept; the secret itself is shown once at issue.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import InvalidInput, RuleViolation
from ledger.domain.values import (
    MAX_NAME,
    aggregate_uuid,
    check_choice,
    check_identifier,
    check_text,
)

ROLES: tuple[str, ...] = ("admin", "manager", "auditor", "compliance")


class ApiKey(LedgerAggregate):
    class Issued(LedgerAggregate.Created, LedgerAggregate.Event):
        key_id: str
        role: str
        staff_id: str | None
        label: str
        salt: str
        secret_hash: str

    class Revoked(LedgerAggregate.Event):
        def apply(self, key: ApiKey) -> None:
            key.revoked_at = self.effective_at

    def __init__(
        self,
        key_id: str,
        role: str,
        staff_id: str | None,
        label: str,
        salt: str,
        secret_hash: str,
        recorded_by: str,
        effective_at: datetime,
    ) -> None:
        self.key_id = key_id
        self.role = role
        self.staff_id = staff_id
        self.label = label
        self.salt = salt
        self.secret_hash = secret_hash
        self.revoked_at: datetime | None = None

    @staticmethod
    def id_for(key_id: str) -> object:
        return aggregate_uuid("api_key", key_id)

    @classmethod
    def issue(
        cls,
        *,
        key_id: str,
        role: str,
        staff_id: str | None,
        label: str,
        salt: str,
        secret_hash: str,
        recorded_by: str,
        effective_at: datetime,
    ) -> ApiKey:
        check_identifier("key_id", key_id)
        check_choice("role", role, ROLES)
        check_text("label", label, limit=MAX_NAME)
        if role == "manager" and staff_id is None:
            raise InvalidInput("staff_id", "a manager key must be bound to a staff member")
        if staff_id is not None:
            check_identifier("staff_id", staff_id)
        return cls._create(
            cls.Issued,
            id=cls.id_for(key_id),
            key_id=key_id,
            role=role,
            staff_id=staff_id,
            label=label,
            salt=salt,
            secret_hash=secret_hash,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def revoke(self, *, recorded_by: str, effective_at: datetime) -> None:
        if self.revoked_at is not None:
            raise RuleViolation("api_key_revoked", f"API key {self.key_id} is already revoked")
        self.trigger_event(self.Revoked, recorded_by=recorded_by, effective_at=effective_at)


def hash_secret(secret: str, salt: str) -> str:
    """scrypt (n=2^14, r=8, p=1) of the secret with the key's own salt, hex."""
    return hashlib.scrypt(
        secret.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1, dklen=32
    ).hex()
