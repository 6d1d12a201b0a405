"""Who is calling, and what they may do: API keys, the caller, roles and scope.

A principal's `name` becomes the `recorded_by` of every event it writes: `admin` for the
admin token, `key:<key_id>` for an API key (the key's Issued event in the log says which
role and staff member it belongs to). A refusal is `Forbidden`; an unknown token is no
principal at all (the edge answers 401).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ledger.application.caches import Memo
from ledger.application.history import HistoryUseCases
from ledger.application.organisation import StaffSummary
from ledger.application.writes import WriteResult
from ledger.domain import Forbidden, InvalidInput, NotFound
from ledger.domain.api_key import ApiKey, hash_secret

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
DEFAULT_MANAGER_BACKDATE = timedelta(days=7)


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
class _KeySecrets:
    key_id: str
    role: str
    staff_id: str | None
    label: str
    salt: str
    secret_hash: str
    active: bool


def _key_secrets(key: ApiKey) -> _KeySecrets:
    return _KeySecrets(
        key.key_id, key.role, key.staff_id, key.label, key.salt, key.secret_hash, key.active
    )


def check_role(principal: Principal, roles: tuple[str, ...], doing: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"the {principal.role} role may not {doing}")


class AccessUseCases(HistoryUseCases):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The KDF is slow on purpose; a token verified once is remembered by its digest.
        self._verified_tokens: Memo[str] = Memo()
        self.manager_backdate = DEFAULT_MANAGER_BACKDATE

    # ---- keys -------------------------------------------------------------------------

    def issue_api_key(
        self, *, role: str, staff_id: str | None, label: str, recorded_by: str
    ) -> tuple[WriteResult, str]:
        """A new key and its token `<key_id>.<secret>`; only a salted hash is stored."""
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
        )
        return result, f"{key_id}.{secret}"

    def revoke_api_key(self, *, key_id: str, recorded_by: str) -> WriteResult:
        return self.update(
            ApiKey, key_id, None, ApiKey.revoke, recorded_by=recorded_by, effective_at=self.clock()
        )

    def authenticate(self, token: str) -> ApiKeySummary | None:
        """The active key a token belongs to, or None."""
        key_id, sep, secret = token.partition(".")
        if not sep or not secret:
            return None
        try:
            key = self.read(ApiKey, key_id, _key_secrets, field="key_id")
        except (NotFound, InvalidInput):
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        if self._verified_tokens.get(digest) != key_id:
            if not hmac.compare_digest(hash_secret(secret, key.salt), key.secret_hash):
                return None
            self._verified_tokens.remember(digest, key_id)
        if not key.active:
            return None
        return ApiKeySummary(key.key_id, key.role, key.staff_id, key.label)

    def identify(self, token: str, *, admin_token: str | None) -> Principal | None:
        """The caller a bearer token names (the admin token or an active key), or None."""
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
        if named.status != "active":
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
        if staff.status != "active":
            raise Forbidden(f"staff {staff.staff_id} has departed and may not write")
        return staff
