"""A client of the bank: tier, status, maintenance team, contacts, profile and assets.

State is kept as effective-time timelines rather than only current values, because
events may be backdated: the client "as of" any moment is a lookup, not a replay.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from ledger.domain.base import LedgerAggregate, timeline_insert
from ledger.domain.client_rules import (
    ClientRules,
    check_contact,
    check_registration,
    clean_profile,
)
from ledger.domain.client_timeline import ClientState as ClientState
from ledger.domain.values import (
    ACTIVE,
    CHURNED,
    aggregate_uuid,
    check_text,
    event_id,
)


class Client(ClientRules, LedgerAggregate):
    # 2: contacts kept by version (ledger/domain/client_contacts.py); 3: asset statements
    # kept as text and by version (ledger/domain/client_assets.py).
    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        ClientRules.upcast_contacts(state)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        ClientRules.upcast_assets(state)

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
            event_id = self.event_id  # derived (a SHA-1): once, not once per use
            timeline_insert(client.profile_updates, [self.effective_at, event_id, self.changes])
            client.retractable[event_id] = "profile"

    class AssetsReported(LedgerAggregate.Event):
        amount: Decimal
        as_of: date

        def apply(self, client: Client) -> None:
            client.asset_reported(
                self.originator_version, self.effective_at, self.amount, self.as_of
            )

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
            client.contact_logged(self.originator_version, self.effective_at)

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
            retracted = self.retracted_event_id
            client.retracted[retracted] = self.event_id
            # A contact or statement kept by version is in none of `retractable`'s kinds.
            found = None if retracted in client.retractable else client.kept_by_version(retracted)
            if found is not None and found[0] == "assets":
                client.retracted_assets.append(found[1])
            else:
                client.event_retracted(retracted, found and found[1])

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
        self.init_contacts()
        self.profile_updates: list[list[Any]] = []
        self.init_assets()
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
        check_registration(client_id, name, tier, source, referred_by)
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
        self.trigger_event(
            self.ProfileUpdated,
            changes=clean_profile(changes),
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def report_assets(self, *, amount: Any, as_of: date, recorded_by: str) -> None:
        """Assets are reported as of a date; they take effect at the start of that day in
        the client's registration offset, or at registration if that is later."""
        amount = self.check_assets(amount, as_of)
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
        previous = self.check_tier_change(tier, reason, effective_at)
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
        previous = self.check_assignment(staff_id, role, reason, effective_at)
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
        assignee = self.check_acknowledgeable(assignment_event_id)
        self.trigger_event(
            self.AssignmentAcknowledged,
            assignment_event_id=assignment_event_id,
            staff_id=assignee,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )
        return assignee

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
        purpose, summary = check_contact(channel, purpose, summary, satisfaction, complaint)
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
        self.check_churn(kind, reason, effective_at)
        self.trigger_event(
            self.Churned,
            kind=kind,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def reactivate(self, *, reason: str, recorded_by: str, effective_at: datetime) -> None:
        self.check_reactivation(reason, effective_at)
        self.trigger_event(
            self.Reactivated, reason=reason, recorded_by=recorded_by, effective_at=effective_at
        )

    def retract(
        self, *, retracted_event_id: str, reason: str, recorded_by: str, effective_at: datetime
    ) -> None:
        check_text("reason", reason)
        self.check_retractable(retracted_event_id)
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
        self.check_determination(case_id, outcome, party, reason)
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
        """Once the retention period after the latest churn is over (`check_erasable`)."""
        check_text("reason", reason)
        check_text("legal_basis", legal_basis, limit=500)
        self.check_erasable(retention_years, effective_at)
        self.trigger_event(
            self.Erased,
            reason=reason,
            legal_basis=legal_basis,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        self.check_not_erased()
        super().trigger_event(event_class, **kwargs)
