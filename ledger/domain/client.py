"""A client of the bank: tier, status, maintenance team, contacts, profile and assets.

State is kept as effective-time timelines rather than only current values, because
events may be backdated: the client "as of" any moment is a lookup, not a replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from ledger.domain.base import LedgerAggregate, timeline_at, timeline_insert
from ledger.domain.errors import InvalidInput, RuleViolation
from ledger.domain.values import (
    ACTIVE,
    CHANNELS,
    CHURN_KINDS,
    CHURNED,
    DESIGNATED_MANAGER,
    MAX_NAME,
    OUTCOMES,
    PARTIES,
    PROFILE_FIELDS,
    RISK_APPETITES,
    SOURCES,
    TEAM_BY_TIER,
    TEAM_ROLES,
    TIERS,
    aggregate_uuid,
    check_amount,
    check_choice,
    check_date,
    check_identifier,
    check_satisfaction,
    check_text,
    event_id,
)

_PROFILE_LIMIT = 500


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


class Client(LedgerAggregate):
    class Registered(LedgerAggregate.Created, LedgerAggregate.Event):
        client_id: str
        name: str
        unit_id: str
        tier: str
        source: str | None
        referred_by: str | None

    class ProfileUpdated(LedgerAggregate.Event):
        changes: dict[str, Any]

        def apply(self, client: Client) -> None:
            timeline_insert(
                client.profile_updates, [self.effective_at, self.event_id, self.changes]
            )
            client.retractable[self.event_id] = "profile"

    class AssetsReported(LedgerAggregate.Event):
        amount: Decimal
        as_of: date

        def apply(self, client: Client) -> None:
            timeline_insert(
                client.assets, [self.effective_at, self.event_id, self.amount, self.as_of]
            )
            client.retractable[self.event_id] = "assets"

    class TierChanged(LedgerAggregate.Event):
        tier: str
        previous_tier: str
        reason: str

        def apply(self, client: Client) -> None:
            timeline_insert(client.tiers, [self.effective_at, self.tier, self.event_id])

    class Assigned(LedgerAggregate.Event):
        role: str
        staff_id: str
        previous_staff_id: str | None
        reason: str

        def apply(self, client: Client) -> None:
            timeline_insert(
                client.team_history.setdefault(self.role, []),
                [self.effective_at, self.staff_id, self.event_id],
            )

    class AssignmentAcknowledged(LedgerAggregate.Event):
        """The assignee of a designated-manager assignment signed for it (签约)."""

        assignment_event_id: str
        staff_id: str

        def apply(self, client: Client) -> None:
            # A snapshot taken before version 1.1 has no acknowledgements yet.
            client.__dict__.setdefault("acknowledged", {})[self.assignment_event_id] = self.event_id

    class ContactLogged(LedgerAggregate.Event):
        channel: str
        staff_id: str
        purpose: str
        summary: str
        # Version 1.1: contacts stored before carry neither; the defaults read them back
        # (the library sets stored fields on the instance, the class holds the defaults).
        satisfaction: int | None = None
        complaint: bool = False
        # The campaign the contact was part of (a campaign is a contact of each attendee).
        campaign_id: str | None = None

        def apply(self, client: Client) -> None:
            # ISO strings keep a 10,000-contact snapshot compact.
            client.contacts[self.event_id] = self.effective_at.isoformat()
            client.retractable[self.event_id] = "contact"

    class Churned(LedgerAggregate.Event):
        kind: str
        reason: str

        def apply(self, client: Client) -> None:
            client.statuses.append([self.effective_at, CHURNED, self.kind, self.event_id])

    class Reactivated(LedgerAggregate.Event):
        reason: str

        def apply(self, client: Client) -> None:
            client.statuses.append([self.effective_at, ACTIVE, None, self.event_id])

    class EventRetracted(LedgerAggregate.Event):
        retracted_event_id: str
        reason: str

        def apply(self, client: Client) -> None:
            client.retracted[self.retracted_event_id] = self.event_id

    class ChurnDetermined(LedgerAggregate.Event):
        case_id: str
        outcome: str
        reason: str
        # Added in 1.1; a determination stored before has neither (the whole case, and
        # no facts kept).
        party: str | None = None
        facts: dict[str, Any] | None = None

        def apply(self, client: Client) -> None:
            client.determinations[self.case_id] = {
                "outcome": self.outcome,
                "reason": self.reason,
                "event_id": self.event_id,
            }

    class Erased(LedgerAggregate.Event):
        """The client's personal data erased (its key destroyed): who, why, on what basis."""

        reason: str
        legal_basis: str

        def apply(self, client: Client) -> None:
            client.erased_at = self.effective_at

    def __init__(
        self,
        client_id: str,
        name: str,
        unit_id: str,
        tier: str,
        source: str | None,
        referred_by: str | None,
        recorded_by: str,
        effective_at: datetime,
    ) -> None:
        self.client_id = client_id
        self.name = name
        self.unit_id = unit_id
        self.source = source
        self.referred_by = referred_by
        self.registered_at = effective_at
        registration_id = event_id(self.id, 1)
        self.tiers: list[list[Any]] = [[effective_at, tier, registration_id]]
        self.statuses: list[list[Any]] = [[effective_at, ACTIVE, None, registration_id]]
        self.team_history: dict[str, list[list[Any]]] = {}
        self.contacts: dict[str, str] = {}
        self.profile_updates: list[list[Any]] = []
        self.assets: list[list[Any]] = []
        self.retractable: dict[str, str] = {}
        self.retracted: dict[str, str] = {}
        self.determinations: dict[str, dict[str, str]] = {}
        self.acknowledged: dict[str, str] = {}
        self.erased_at: datetime | None = None

    @staticmethod
    def id_for(client_id: str) -> object:
        return aggregate_uuid("client", client_id)

    # ---- commands -----------------------------------------------------------------

    @classmethod
    def register(
        cls,
        *,
        client_id: str,
        name: str,
        unit_id: str,
        tier: str = "standard",
        source: str | None = None,
        referred_by: str | None = None,
        recorded_by: str,
        effective_at: datetime,
    ) -> Client:
        check_identifier("client_id", client_id)
        check_text("name", name, limit=MAX_NAME)
        check_choice("tier", tier, TIERS)
        if source is not None:
            check_choice("source", source, SOURCES)
        if referred_by is not None:
            check_identifier("referred_by", referred_by)
            if referred_by == client_id:
                raise InvalidInput("referred_by", "a client cannot refer itself")
        return cls._create(
            cls.Registered,
            id=cls.id_for(client_id),
            client_id=client_id,
            name=name,
            unit_id=unit_id,
            tier=tier,
            source=source,
            referred_by=referred_by,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def update_profile(
        self, *, changes: dict[str, Any], recorded_by: str, effective_at: datetime
    ) -> None:
        self.check_after_registration("effective_at", effective_at)
        if not changes:
            raise InvalidInput("profile", "name at least one profile field to change")
        clean: dict[str, str | None] = {}
        for name, value in changes.items():
            check_choice("profile", name, PROFILE_FIELDS)
            if value is None:
                clean[name] = None
            elif name == "risk_appetite":
                clean[name] = check_choice(name, value, RISK_APPETITES)
            else:
                clean[name] = check_text(name, value, limit=_PROFILE_LIMIT)
        self.trigger_event(
            self.ProfileUpdated, changes=clean, recorded_by=recorded_by, effective_at=effective_at
        )

    def report_assets(self, *, amount: Any, as_of: date, recorded_by: str) -> None:
        """Assets are reported as of a date; they take effect at the start of that day in
        the client's registration offset, or at registration if that is later."""
        amount = check_amount("amount", amount)
        check_date("as_of", as_of)
        if as_of < self.registered_at.date():
            raise RuleViolation(
                "effective_before_registration",
                f"as_of {as_of} precedes the client's registration on {self.registered_at.date()}",
            )
        start_of_day = datetime.combine(as_of, time(), tzinfo=self.registered_at.tzinfo)
        self.trigger_event(
            self.AssetsReported,
            amount=amount,
            as_of=as_of,
            recorded_by=recorded_by,
            effective_at=max(start_of_day, self.registered_at),
        )

    def change_tier(
        self, *, tier: str, reason: str, recorded_by: str, effective_at: datetime
    ) -> None:
        check_choice("tier", tier, TIERS)
        check_text("reason", reason)
        self.check_after_registration("effective_at", effective_at)
        self.check_active_at(effective_at, doing="change tier")
        previous = self.tier_at(effective_at)
        if previous == tier:
            raise RuleViolation("tier_unchanged", f"client {self.client_id} is already {tier}")
        self.trigger_event(
            self.TierChanged,
            tier=tier,
            previous_tier=previous,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def assign(
        self, *, staff_id: str, role: str, reason: str, recorded_by: str, effective_at: datetime
    ) -> None:
        check_choice("role", role, TEAM_ROLES)
        check_text("reason", reason)
        self.check_after_registration("effective_at", effective_at)
        previous = self.holder_at(role, effective_at)
        if previous == staff_id:
            raise RuleViolation(
                "already_assigned", f"{staff_id} already holds {role} for client {self.client_id}"
            )
        self.trigger_event(
            self.Assigned,
            role=role,
            staff_id=staff_id,
            previous_staff_id=previous,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def acknowledge(
        self, *, assignment_event_id: str, recorded_by: str, effective_at: datetime
    ) -> str:
        """The assignee signs for a designated-manager assignment; answers the assignee."""
        if not isinstance(assignment_event_id, str) or not assignment_event_id:
            raise InvalidInput("event_id", "must name an event")
        assignee = self.assignee_of(assignment_event_id)
        if assignee is None:
            raise RuleViolation(
                "not_an_assignment",
                f"event {assignment_event_id} is not a designated-manager assignment of "
                f"client {self.client_id}",
            )
        if assignment_event_id in getattr(self, "acknowledged", {}):
            raise RuleViolation(
                "already_acknowledged", f"assignment {assignment_event_id} was acknowledged"
            )
        self.trigger_event(
            self.AssignmentAcknowledged,
            assignment_event_id=assignment_event_id,
            staff_id=assignee,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )
        return assignee

    def assignee_of(self, assignment_event_id: str) -> str | None:
        for entry in self.team_history.get(DESIGNATED_MANAGER, []):
            if entry[2] == assignment_event_id:
                return str(entry[1])
        return None

    def log_contact(
        self,
        *,
        channel: str,
        staff_id: str,
        purpose: str | None,
        summary: str | None,
        recorded_by: str,
        effective_at: datetime,
        satisfaction: int | None = None,
        complaint: bool = False,
        campaign_id: str | None = None,
    ) -> None:
        check_choice("channel", channel, CHANNELS)
        purpose = check_text("purpose", purpose, limit=500, required=False)
        summary = check_text("summary", summary, required=False)
        check_satisfaction(satisfaction)
        if not isinstance(complaint, bool):
            raise InvalidInput("complaint", "must be true or false")
        self.check_after_registration("occurred_at", effective_at)
        self.check_active_at(effective_at, doing="take a contact")
        self.trigger_event(
            self.ContactLogged,
            channel=channel,
            staff_id=staff_id,
            purpose=purpose,
            summary=summary,
            satisfaction=satisfaction,
            complaint=complaint,
            campaign_id=campaign_id,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def churn(self, *, kind: str, reason: str, recorded_by: str, effective_at: datetime) -> None:
        check_choice("kind", kind, CHURN_KINDS)
        check_text("reason", reason)
        self.check_after_registration("effective_at", effective_at)
        if self.statuses[-1][1] == CHURNED:
            raise RuleViolation("already_churned", f"client {self.client_id} has already churned")
        self.check_status_order(effective_at)
        self.trigger_event(
            self.Churned,
            kind=kind,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def reactivate(self, *, reason: str, recorded_by: str, effective_at: datetime) -> None:
        check_text("reason", reason)
        if self.statuses[-1][1] != CHURNED:
            raise RuleViolation("not_churned", f"client {self.client_id} is active")
        self.check_status_order(effective_at)
        self.trigger_event(
            self.Reactivated, reason=reason, recorded_by=recorded_by, effective_at=effective_at
        )

    def retract(
        self, *, retracted_event_id: str, reason: str, recorded_by: str, effective_at: datetime
    ) -> None:
        check_text("reason", reason)
        if not isinstance(retracted_event_id, str) or not retracted_event_id:
            raise InvalidInput("event_id", "must name an event")
        if retracted_event_id not in self.retractable:
            raise RuleViolation(
                "not_retractable",
                f"event {retracted_event_id} is not a contact, assets or profile event "
                f"of client {self.client_id}",
            )
        if retracted_event_id in self.retracted:
            raise RuleViolation(
                "already_retracted",
                f"event {retracted_event_id} was already retracted by "
                f"{self.retracted[retracted_event_id]}",
            )
        self.trigger_event(
            self.EventRetracted,
            retracted_event_id=retracted_event_id,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def determine(
        self,
        *,
        case_id: str,
        outcome: str,
        reason: str,
        recorded_by: str,
        effective_at: datetime,
        party: str | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        """`facts`: the case's facts the determination is made on, as the ledger knew them."""
        check_choice("outcome", outcome, OUTCOMES)
        if party is not None:
            check_choice("party", party, PARTIES)
        check_text("reason", reason)
        if case_id not in self.churn_case_ids:
            raise RuleViolation(
                "unknown_churn_case", f"client {self.client_id} has no churn case {case_id}"
            )
        self.trigger_event(
            self.ChurnDetermined,
            case_id=case_id,
            outcome=outcome,
            reason=reason,
            party=party,
            facts=facts,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def erase(
        self,
        *,
        reason: str,
        legal_basis: str,
        retention_years: int,
        recorded_by: str,
        effective_at: datetime,
    ) -> None:
        """Identity records are kept `retention_years` after the relationship ends
        (anti-money-laundering rules); only then may the personal data go."""
        check_text("reason", reason)
        check_text("legal_basis", legal_basis, limit=500)
        if self.is_erased:
            raise RuleViolation("already_erased", f"client {self.client_id} is already erased")
        kept_until = self.retained_until(retention_years)
        if kept_until is None:
            raise RuleViolation(
                "retention_period",
                f"client {self.client_id} is active: its records are kept for "
                f"{retention_years} years after it churns",
            )
        if effective_at < kept_until:
            raise RuleViolation(
                "retention_period",
                f"client {self.client_id}'s records are kept until {kept_until.isoformat()}",
            )
        self.trigger_event(
            self.Erased,
            reason=reason,
            legal_basis=legal_basis,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def retained_until(self, years: int) -> datetime | None:
        """When the retention period after the latest churn ends; None while active."""
        at, status = self.statuses[-1][0], self.statuses[-1][1]
        if status != CHURNED:
            return None
        try:
            return at.replace(year=at.year + years)
        except ValueError:  # 29 February
            return at.replace(year=at.year + years, day=28)

    @property
    def is_erased(self) -> bool:
        # Snapshots taken before erasure existed carry no `erased_at`.
        return getattr(self, "erased_at", None) is not None

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        if self.is_erased:
            raise RuleViolation(
                "client_erased", f"client {self.client_id}'s personal data was erased"
            )
        super().trigger_event(event_class, **kwargs)

    # ---- checks -------------------------------------------------------------------

    def check_after_registration(self, field_name: str, at: datetime) -> None:
        if at < self.registered_at:
            raise RuleViolation(
                "effective_before_registration",
                f"{field_name} {at.isoformat()} precedes the client's registration at "
                f"{self.registered_at.isoformat()}",
            )

    def check_active_at(self, at: datetime, *, doing: str) -> None:
        if self.status_at(at) == CHURNED:
            raise RuleViolation(
                "client_churned", f"client {self.client_id} had churned by then and cannot {doing}"
            )

    def check_status_order(self, at: datetime) -> None:
        """Churns and reactivations form one sequence in effective time; a status change
        may not slip in before the latest one (the churn cases depend on that order)."""
        latest = self.statuses[-1][0]
        if at < latest:
            raise RuleViolation(
                "effective_time_order",
                f"a status change cannot take effect before the latest one at {latest.isoformat()}",
            )

    # ---- queries at an effective time ----------------------------------------------

    @property
    def churn_case_ids(self) -> list[str]:
        return [entry[3] for entry in self.statuses if entry[1] == CHURNED]

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

    def assets_at(self, at: datetime) -> tuple[Decimal | None, date | None]:
        current: tuple[Decimal | None, date | None] = (None, None)
        for effective_at, report_id, amount, as_of in self.assets:
            if effective_at > at:
                break
            if report_id not in self.retracted:
                current = (amount, as_of)
        return current

    def last_contact_at(self, at: datetime) -> datetime | None:
        latest: datetime | None = None
        for contact_id, when in self.contacts.items():
            if contact_id in self.retracted:
                continue
            moment = datetime.fromisoformat(when)
            if moment <= at and (latest is None or moment > latest):
                latest = moment
        return latest

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
