"""An API key: issued to a role (a manager bound to a staff member), optionally until an
expiry, revoked for ever.

Only a keyed hash of the secret is kept; the secret itself is shown once at issue. The
secret is 256 random bits, so no guess can find it and a slow KDF buys nothing: the hash is
HMAC-SHA256 keyed with the key's own random salt (`hmac-sha256:<hex>`), microseconds to
check, the same for a known and an unknown key id. Keys issued before that hold a scrypt
hash (bare hex); the first use of one re-hashes it (`SecretRehashed`).
"""

from __future__ import annotations

import hashlib
import hmac
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
        # Added in API 1.1: keys issued before read as never expiring.
        expires_at: datetime | None = None

    class SecretRehashed(LedgerAggregate.Event):
        salt: str
        secret_hash: str

        def apply(self, key: ApiKey) -> None:
            key.salt = self.salt
            key.secret_hash = self.secret_hash

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
        expires_at: datetime | None = None,
    ) -> None:
        self.key_id = key_id
        self.created_at = effective_at
        self.expires_at = expires_at
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
        expires_at: datetime | None = None,
    ) -> ApiKey:
        check_identifier("key_id", key_id)
        check_choice("role", role, ROLES)
        check_text("label", label, limit=MAX_NAME)
        if role == "manager" and staff_id is None:
            raise InvalidInput("staff_id", "a manager key must be bound to a staff member")
        if staff_id is not None:
            check_identifier("staff_id", staff_id)
        if expires_at is not None and expires_at <= effective_at:
            raise InvalidInput("expires_at", "must be in the future")
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
            expires_at=expires_at,
        )

    def valid_at(self, moment: datetime) -> bool:
        """Neither revoked nor expired at `moment`."""
        return self.revoked_at is None and (self.expires_at is None or moment < self.expires_at)

    def rehash(
        self, *, salt: str, secret_hash: str, recorded_by: str, effective_at: datetime
    ) -> None:
        self.trigger_event(
            self.SecretRehashed,
            salt=salt,
            secret_hash=secret_hash,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def revoke(self, *, recorded_by: str, effective_at: datetime) -> None:
        if self.revoked_at is not None:
            raise RuleViolation("api_key_revoked", f"API key {self.key_id} is already revoked")
        self.trigger_event(self.Revoked, recorded_by=recorded_by, effective_at=effective_at)


HMAC_PREFIX = "hmac-sha256:"


def hash_secret(secret: str, salt: str) -> str:
    """HMAC-SHA256 of the secret keyed with the key's own salt, tagged with its scheme."""
    return HMAC_PREFIX + hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def legacy_hash_secret(secret: str, salt: str) -> str:
    """scrypt (n=2^14, r=8, p=1) of the secret with the key's own salt, hex: keys issued
    before API 1.1."""
    return hashlib.scrypt(
        secret.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1, dklen=32
    ).hex()


def is_legacy_hash(secret_hash: str) -> bool:
    return not secret_hash.startswith(HMAC_PREFIX)
