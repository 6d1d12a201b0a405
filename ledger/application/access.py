"""Who is calling, and what they may do: API keys, the caller, roles and scope.

A principal's `name` becomes the `recorded_by` of every event it writes: `admin` for the
admin token, `key:<key_id>` for an API key (the key's Issued event in the log says which
role and staff member it belongs to). A refusal is `Forbidden`; an unknown token is no
principal at all (the edge answers 401).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from ledger.application.history import HistoryUseCases
from ledger.application.organisation import StaffSummary
from ledger.application.results import WriteResult
from ledger.config import DEFAULT_MANAGER_BACKDATE_DAYS
from ledger.domain import Forbidden, InvalidInput, LedgerError, NotFound, Staff
from ledger.domain.api_key import ApiKey, hash_secret, is_legacy_hash, legacy_hash_secret

log = logging.getLogger(__name__)

MANAGER = "manager"
# A manager's commands that date an accountability-relevant fact, and the field that dates it
# (a registration's `occurred_at` and an asset statement's `as_of` are not limited).
BACKDATE_LIMITED: dict[str, str] = {
    "assign": "effective_at",
    "change_tier": "effective_at",
    "churn": "effective_at",
    "reactivate": "effective_at",
    "log_contact": "occurred_at",
}
# A manager's commands that name a staff member by `staff_id`.
NAMES_STAFF = frozenset({"assign", "log_contact"})


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    staff_id: str | None = None


ADMIN = Principal(name="admin", role="admin")


@dataclass(frozen=True)
class ApiKeySummary:
    key_id: str
    role: str
    staff_id: str | None
    label: str


@dataclass(frozen=True)
class ApiKeyRecord(ApiKeySummary):
    """A key as an access review lists it: never its token or hash."""

    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class _KeySecrets(ApiKeySummary):
    salt: str
    secret_hash: str
    valid: bool


def _key_fields(key: ApiKey) -> tuple[str, str, str | None, str]:
    return key.key_id, key.role, key.staff_id, key.label


def _key_times(key: ApiKey) -> tuple[datetime, datetime | None, datetime | None]:
    return key.created_at, key.expires_at, key.revoked_at


def _key_secrets(key: ApiKey, *, at: datetime) -> _KeySecrets:
    return _KeySecrets(*_key_fields(key), key.salt, key.secret_hash, key.valid_at(at))


def _departed_at(staff: Staff) -> datetime | None:
    return staff.departed_at


# Checked against when a token names no known key, so that an unknown key id costs the same
# HMAC as a known one: the answer's timing does not tell which key ids exist.
_DECOY_SALT = secrets.token_hex(16)
_DECOY_HASH = hash_secret(secrets.token_urlsafe(32), _DECOY_SALT)
# `last_used_at` is written at most this often per key and process (see `note_use`).
LAST_USE_GRAIN = timedelta(minutes=1)


def check_role(principal: Principal, roles: tuple[str, ...], doing: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"the {principal.role} role may not {doing}")


class AccessUseCases(HistoryUseCases):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.manager_backdate = timedelta(days=DEFAULT_MANAGER_BACKDATE_DAYS)
        self._last_used: dict[str, datetime] = {}

    # ---- keys -------------------------------------------------------------------------

    def issue_api_key(
        self,
        *,
        role: str,
        staff_id: str | None,
        label: str,
        recorded_by: str,
        expires_at: datetime | None = None,
    ) -> tuple[WriteResult, str]:
        """A new key and its token `<key_id>.<secret>`; only a keyed hash is stored."""
        if staff_id is not None:
            self.check_staff_active(staff_id, self.clock(), doing="hold an API key")
        key_id = f"k{secrets.token_hex(8)}"
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        result = self.create(
            ApiKey.issue,
            key_id=key_id,
            role=role,
            staff_id=staff_id,
            label=label,
            salt=salt,
            secret_hash=hash_secret(secret, salt),
            recorded_by=recorded_by,
            effective_at=self.clock(),
            expires_at=expires_at,
        )
        return result, f"{key_id}.{secret}"

    def revoke_api_key(self, *, key_id: str, recorded_by: str) -> WriteResult:
        return self.update(
            ApiKey, key_id, None, ApiKey.revoke, recorded_by=recorded_by, effective_at=self.clock()
        )

    def authenticate(self, token: str) -> ApiKeySummary | None:
        """The key a token belongs to, if it is neither revoked nor expired and its staff
        member (if any) has not departed by now; else None."""
        now = self.clock()
        key_id, _, secret = token.partition(".")
        key: _KeySecrets | None = None
        if secret:
            try:
                key = self.read(ApiKey, key_id, partial(_key_secrets, at=now), field="key_id")
            except (NotFound, InvalidInput):
                key = None
        if key is not None and is_legacy_hash(key.secret_hash):
            matches = self._check_legacy_secret(key, secret, now)
        else:
            salt, stored = (key.salt, key.secret_hash) if key else (_DECOY_SALT, _DECOY_HASH)
            matches = hmac.compare_digest(hash_secret(secret, salt), stored)
        if key is None or not matches or not key.valid:
            return None
        if key.staff_id is not None:
            departed = self.read(Staff, key.staff_id, _departed_at)
            if departed is not None and departed <= now:
                return None
        self.note_use(key.key_id, now)
        return ApiKeySummary(key.key_id, key.role, key.staff_id, key.label)

    def _check_legacy_secret(self, key: _KeySecrets, secret: str, now: datetime) -> bool:
        """A key issued before API 1.1 holds a scrypt hash: checked once, then re-hashed."""
        if not hmac.compare_digest(legacy_hash_secret(secret, key.salt), key.secret_hash):
            return False
        salt = secrets.token_hex(16)
        with contextlib.suppress(LedgerError):  # another request re-hashed it first
            self.update(
                ApiKey,
                key.key_id,
                None,
                ApiKey.rehash,
                salt=salt,
                secret_hash=hash_secret(secret, salt),
                recorded_by=f"key:{key.key_id}",
                effective_at=now,
            )
        return True

    def note_use(self, key_id: str, now: datetime) -> None:
        """When the key was last used, to the minute, in the store's `api_key_use` table
        (ledger/store/key_use.py: not an event, a use is not a fact of the ledger). Written
        at most once a minute per key; a failed write costs the request nothing and is
        tried again on the next use."""
        last = self._last_used.get(key_id)
        if last is not None and now - last < LAST_USE_GRAIN:
            return
        self._last_used[key_id] = now
        try:
            self.key_uses.record(key_id, now)
        except Exception as error:  # a busy or read-only store: the use is noted next time
            self._last_used.pop(key_id, None)
            log.warning("could not note the use of key %s: %s", key_id, type(error).__name__)

    def api_keys(self) -> list[ApiKeyRecord]:
        """Every key ever issued, oldest first, for an access review."""
        last_uses = self.key_uses.last_uses()
        records = []
        for originator_id in self.originators(ApiKey.Issued):
            key = self.repository.get(originator_id)
            last_used = last_uses.get(key.key_id)
            records.append(ApiKeyRecord(*_key_fields(key), *_key_times(key), last_used))
        return records

    def identify(self, token: str, *, admin_token: str | None) -> Principal | None:
        """The caller a bearer token names (the admin token or a valid key), or None."""
        if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
            return ADMIN
        key = self.authenticate(token)
        if key is None:
            return None
        return Principal(name=f"key:{key.key_id}", role=key.role, staff_id=key.staff_id)

    # ---- the scope of a manager key -----------------------------------------------------
    # API.md 1.1, "Scope of a manager key": every rule that limits what a manager key may
    # touch lives in this section, each a `check_*` that passes any other role and raises
    # Forbidden (or InvalidInput for a date too far back). The HTTP routers and the console
    # both call these, so a rule holds whichever door a request comes through.

    def check_unit_scope(self, principal: Principal, unit_id: str) -> None:
        """A manager acts on and reads only units of its own unit's subtree."""
        if principal.role != MANAGER:
            return
        manager = self._acting_manager(principal)
        if manager.unit_id not in self.unit_ancestry(unit_id):
            raise Forbidden(
                f"unit {unit_id} is outside the subtree of "
                f"{manager.staff_id}'s unit {manager.unit_id}"
            )

    def check_client_scope(self, principal: Principal, client_id: str) -> None:
        """A manager acts on and reads only clients whose home unit is in its subtree."""
        if principal.role == MANAGER:
            self.check_unit_scope(principal, self.client_unit(client_id))

    def scoped_unit(self, principal: Principal, unit_id: str | None) -> str | None:
        """The unit a read covers: for a manager, one of its subtree (its own unit when it
        names none); for every other role, what it asked for (None: every unit)."""
        if principal.role != MANAGER:
            return unit_id
        if unit_id is None:
            return self._acting_manager(principal).unit_id
        self.check_unit_scope(principal, unit_id)
        return unit_id

    def check_staff_read_scope(self, principal: Principal, staff_id: str) -> None:
        """A manager reads the records and portfolios of staff of its own subtree only."""
        if principal.role == MANAGER:
            self.check_unit_scope(principal, self.get_staff(staff_id).unit_id)

    def check_named_staff(self, principal: Principal, staff_id: str) -> None:
        """Staff a manager names (an assignee, a contact's author) must be active staff of
        its subtree or of a unit above it: the president and vice president above an
        outlet belong to its teams; a colleague of another sub-branch does not."""
        if principal.role != MANAGER:
            return
        manager = self._acting_manager(principal)
        named = self.get_staff(staff_id)
        if not self._active_now(staff_id):
            raise Forbidden(f"staff {staff_id} is not active staff")
        below = manager.unit_id in self.unit_ancestry(named.unit_id)
        above = named.unit_id in self.unit_ancestry(manager.unit_id)
        if not (below or above):
            raise Forbidden(
                f"staff {staff_id} works in unit {named.unit_id}, neither in nor above "
                f"{manager.staff_id}'s unit {manager.unit_id}"
            )

    def check_backdating(self, principal: Principal, field: str, moment: datetime | None) -> None:
        """A manager may date accountability-relevant events only `manager_backdate` before
        the moment they are recorded (DOMAIN.md: 责任不能转嫁, not rewrite last quarter)."""
        if principal.role != MANAGER or moment is None:
            return
        earliest = self.clock() - self.manager_backdate
        if moment < earliest:
            raise InvalidInput(
                field,
                f"a manager may date this at most {self.manager_backdate.days} days back "
                f"(not before {earliest.isoformat(timespec='seconds')})",
            )

    def check_client_command(
        self, principal: Principal, command: str, fields: Mapping[str, Any]
    ) -> None:
        """Every rule for a manager's client command `command(**fields)`."""
        if principal.role != MANAGER:
            return
        if command == "register_client":
            self.check_unit_scope(principal, fields["unit_id"])
        else:
            self.check_client_scope(principal, fields["client_id"])
        dated = BACKDATE_LIMITED.get(command)
        if dated is not None:
            self.check_backdating(principal, dated, fields.get(dated))
        if command in NAMES_STAFF and fields.get("staff_id") is not None:
            self.check_named_staff(principal, fields["staff_id"])

    def _acting_manager(self, principal: Principal) -> StaffSummary:
        """The active staff member a manager key is bound to."""
        assert principal.staff_id is not None
        try:
            staff = self.get_staff(principal.staff_id)
        except NotFound:
            raise Forbidden("this manager key's staff member is unknown") from None
        if not self._active_now(staff.staff_id):
            raise Forbidden(f"staff {staff.staff_id} has departed and may not write")
        return staff

    def _active_now(self, staff_id: str) -> bool:
        return self.read(Staff, staff_id, partial(Staff.is_active_at, at=self.clock()))
