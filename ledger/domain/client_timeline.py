"""A client as of any effective time: lookups in the timelines the client's events keep.

Events may be backdated, so the client keeps timelines rather than only current values;
these reads answer what was in force at a moment without replaying anything.
`ClientTimeline` is mixed into `Client` (ledger/domain/client.py), which owns the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ledger.domain.base import timeline_at
from ledger.domain.client_assets import ClientAssets
from ledger.domain.client_contacts import ClientContacts
from ledger.domain.values import (
    ACTIVE,
    CHURNED,
    DESIGNATED_MANAGER,
    TEAM_BY_TIER,
    TEAM_ROLES,
    event_id,
)


@dataclass(frozen=True)
class ClientState:
    """The client as the world was at one effective time."""

    client_id: str
    name: str
    unit_id: str
    tier: str
    status: str
    team: dict[str, str]
    profile: dict[str, str]
    assets_amount: Decimal | None
    assets_as_of: date | None
    last_contact_at: datetime | None
    version: int
    source: str | None = None
    referred_by: str | None = None
    churn_kind: str | None = None
    determinations: dict[str, dict[str, str]] = field(default_factory=dict)
    # Every role someone holds, including roles the tier does not call for (a president
    # named for a client later downgraded to gold keeps the assignment, off the team).
    assigned: dict[str, str] = field(default_factory=dict)
    erased: bool = False

    @property
    def designated_manager(self) -> str | None:
        return self.team.get(DESIGNATED_MANAGER)


class ClientTimeline(ClientContacts, ClientAssets):
    """Queries at an effective time, over the state `Client.__init__` and its events keep."""

    client_id: str
    name: str
    unit_id: str
    source: str | None
    referred_by: str | None
    version: int
    tiers: list[list[Any]]
    statuses: list[list[Any]]
    team_history: dict[str, list[list[Any]]]
    profile_updates: list[list[Any]]
    assets: list[list[Any]]
    retracted: dict[str, str]
    determinations: dict[str, dict[str, str]]

    @property
    def is_erased(self) -> bool:
        # Snapshots taken before erasure existed carry no `erased_at`.
        return getattr(self, "erased_at", None) is not None

    @property
    def churn_case_ids(self) -> list[str]:
        return [entry[3] for entry in self.statuses if entry[1] == CHURNED]

    def assignee_of(self, assignment_event_id: str) -> str | None:
        for entry in self.team_history.get(DESIGNATED_MANAGER, []):
            if entry[2] == assignment_event_id:
                return str(entry[1])
        return None

    def retained_until(self, years: int) -> datetime | None:
        """When the retention period after the latest churn ends; None while active."""
        at, status = self.statuses[-1][0], self.statuses[-1][1]
        if status != CHURNED:
            return None
        try:
            return at.replace(year=at.year + years)
        except ValueError:  # 29 February
            return at.replace(year=at.year + years, day=28)

    def tier_at(self, at: datetime) -> str:
        entry = timeline_at(self.tiers, at)
        return str(entry[1]) if entry else str(self.tiers[0][1])

    def status_at(self, at: datetime) -> str:
        entry = timeline_at(self.statuses, at)
        return str(entry[1]) if entry else ACTIVE

    def holder_at(self, role: str, at: datetime) -> str | None:
        entry = timeline_at(self.team_history.get(role, []), at)
        return str(entry[1]) if entry else None

    def team_at(self, at: datetime) -> dict[str, str]:
        team = {}
        for role in TEAM_ROLES:
            holder = self.holder_at(role, at)
            if holder is not None:
                team[role] = holder
        return team

    def profile_at(self, at: datetime) -> dict[str, str]:
        profile: dict[str, str] = {}
        for effective_at, update_id, changes in self.profile_updates:
            if effective_at > at:
                break
            if update_id in self.retracted:
                continue
            for name, value in changes.items():
                if value is None:
                    profile.pop(name, None)
                else:
                    profile[name] = value
        return profile

    def kept_by_version(self, wanted: str) -> tuple[str, int] | None:
        """`("contact" | "assets", version)` of the contact or statement kept by version
        whose event id is `wanted`, or None. Ids are worked out for those versions only,
        the latest first down to the one named (a retraction is mostly of a recent event),
        whichever kind each is."""
        kinds = {
            v: "contact" for first, last in self.contact_versions for v in range(first, last + 1)
        }
        kinds.update((entry[1], "assets") for entry in self.assets if isinstance(entry[1], int))
        for version in range(self.version, 0, -1):
            kind = kinds.get(version)
            if kind is not None and event_id(self.id, version) == wanted:
                return kind, version
        return None

    def state_at(self, at: datetime) -> ClientState:
        amount, as_of = self.assets_at(at)
        status_entry = timeline_at(self.statuses, at)
        tier = self.tier_at(at)
        assigned = self.team_at(at)
        return ClientState(
            client_id=self.client_id,
            name=self.name,
            unit_id=self.unit_id,
            tier=tier,
            status=self.status_at(at),
            team={role: staff for role, staff in assigned.items() if role in TEAM_BY_TIER[tier]},
            profile=self.profile_at(at),
            assets_amount=amount,
            assets_as_of=as_of,
            last_contact_at=self.last_contact_at(at),
            version=self.version,
            source=self.source,
            referred_by=self.referred_by,
            churn_kind=status_entry[2] if status_entry else None,
            determinations=dict(self.determinations),
            assigned=assigned,
            erased=self.is_erased,
        )
