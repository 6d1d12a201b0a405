"""The maintenance read model's queries (DOMAIN.md 1.1), the interface its SQL view
(`maintenance.py`) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from decimal import Decimal
from typing import Any

from ledger.domain.values import DEFAULT_LIMIT
from ledger.projections.maintenance_files import Page

# API.md 1.1's defaults, for the API and the console alike: leader visits look at clients
# with at least this much, and an assignment is unacknowledged once this many days old.
DEFAULT_MIN_ASSETS = "5000000"
DEFAULT_UNACKNOWLEDGED_DAYS = 7


class MaintenanceView(ABC):
    """The queries of the maintenance read model; each list is `{items, next_cursor}`. Each
    report takes `known_at` (recorded time): the report as the ledger knew it then."""

    @abstractmethod
    def duties_overdue(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        role: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        """`[{client_id, tier, role, staff_id, last_contact_at, days_overdue}]`."""

    @abstractmethod
    def team_gaps(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        """`[{client_id, tier, missing: [role]}]` of active VIP clients."""

    @abstractmethod
    def leader_visits(
        self,
        unit_id: str,
        start: datetime,
        end: datetime,
        *,
        min_assets: Decimal,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        """`[{client_id, assets, visited_by_leader, last_leader_visit_at}]`: active clients
        with assets of at least `min_assets` at `end`."""

    @abstractmethod
    def unacknowledged_assignments(
        self,
        unit_id: str,
        *,
        older_than_days: int,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        """`[{client_id, staff_id, event_id, effective_at}]`."""

    @abstractmethod
    def at_risk(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        """`[{client_id, tier, reasons, accountable}]` of active VIP clients at risk."""

    @abstractmethod
    def referral_tree(self, client_id: str) -> dict[str, Any]:
        """`{client_id, referred: [...]}`; NotFound for an unknown client."""

    @abstractmethod
    def referrals(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """`{by_manager: [{staff_id, clients, assets}], total: {clients, assets}}`."""

    @abstractmethod
    def segments(
        self,
        unit_id: str,
        by: str,
        *,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        """`{by, segments: {value: {clients, assets}}}` of active clients."""

    @abstractmethod
    def matching(
        self,
        unit_id: str,
        filters: dict[str, Any],
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """`{items: [client_id], next_cursor}`: clients of the subtree registered by
        `as_of` matching the roster's filters there (`tier`, `status`, `manager_id`, the
        preferences, `source`, `min_assets`, `max_assets`), in client id order."""
