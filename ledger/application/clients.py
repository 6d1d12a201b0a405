"""A client's life in the ledger: registered, served, churned, won back, corrected.

Each use case checks what spans aggregates (the home unit is an outlet, the referrer is a
client, the staff member is active) and leaves the client's own rules to `Client`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ledger.application.organisation import OrganisationUseCases
from ledger.application.results import WriteResult
from ledger.domain import Client, Forbidden, InvalidInput, RuleViolation
from ledger.domain.values import check_date


class ClientUseCases(OrganisationUseCases):
    def register_client(
        self,
        *,
        client_id: str,
        name: str,
        unit_id: str,
        tier: str = "standard",
        occurred_at: datetime | None = None,
        source: str | None = None,
        referred_by: str | None = None,
        recorded_by: str,
    ) -> WriteResult:
        occurred_at = self.check_registering(client_id, unit_id, referred_by, occurred_at)
        return self.create(
            Client.register,
            client_id=client_id,
            name=name,
            unit_id=unit_id,
            tier=tier,
            source=source,
            referred_by=referred_by,
            recorded_by=recorded_by,
            effective_at=occurred_at,
        )

    def check_registering(
        self, client_id: str, unit_id: str, referred_by: str | None, occurred_at: datetime | None
    ) -> datetime:
        """What a registration checks beyond the client itself; when it takes effect."""
        occurred_at = self.effective("occurred_at", occurred_at)
        self.check_home_unit(unit_id)
        if referred_by is not None and referred_by != client_id:
            self.check_exists(Client, referred_by, field="referred_by")
        return occurred_at

    def check_home_unit(self, unit_id: str) -> None:
        unit_kind = self.unit_kind(unit_id)
        if unit_kind != "outlet":
            raise RuleViolation(
                "home_unit_not_outlet",
                f"a client's home unit must be an outlet; {unit_id} is a {unit_kind}",
            )

    def update_profile(
        self,
        *,
        client_id: str,
        changes: dict[str, Any],
        recorded_by: str,
        effective_at: datetime | None = None,
        expected_version: int | None = None,
    ) -> WriteResult:
        return self.update(
            Client,
            client_id,
            expected_version,
            Client.update_profile,
            changes=changes,
            recorded_by=recorded_by,
            effective_at=self.effective("effective_at", effective_at),
        )

    def report_assets(
        self,
        *,
        client_id: str,
        amount: Any,
        as_of: date,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        self.check_as_of(as_of)
        return self.update(
            Client,
            client_id,
            expected_version,
            Client.report_assets,
            amount=amount,
            as_of=as_of,
            recorded_by=recorded_by,
        )

    def check_as_of(self, as_of: date) -> None:
        # The client has no clock: "not in the future" is checked here, on a checked date.
        if check_date("as_of", as_of) > self.clock().date():
            raise InvalidInput("as_of", "must not be in the future")

    def change_tier(
        self,
        *,
        client_id: str,
        tier: str,
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        return self.update(
            Client,
            client_id,
            expected_version,
            Client.change_tier,
            tier=tier,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=self.effective("effective_at", effective_at),
        )

    def assign(
        self,
        *,
        client_id: str,
        staff_id: str,
        role: str = "client_manager",
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self.check_assignable(staff_id, effective_at)
        return self.update(
            Client,
            client_id,
            expected_version,
            Client.assign,
            staff_id=staff_id,
            role=role,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def check_assignable(self, staff_id: str, effective_at: datetime) -> datetime:
        """The staff member may be assigned then; when the assignment takes effect."""
        effective_at = self.effective("effective_at", effective_at)
        self.check_staff_active(staff_id, effective_at, doing="be assigned to a client")
        return effective_at

    def log_contact(
        self,
        *,
        client_id: str,
        channel: str,
        staff_id: str,
        occurred_at: datetime,
        purpose: str | None = None,
        summary: str | None = None,
        satisfaction: int | None = None,
        complaint: bool = False,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        occurred_at = self.effective("occurred_at", occurred_at)
        self.check_staff_active(staff_id, occurred_at, doing="log a contact")
        return self.update(
            Client,
            client_id,
            expected_version,
            Client.log_contact,
            channel=channel,
            staff_id=staff_id,
            purpose=purpose,
            summary=summary,
            satisfaction=satisfaction,
            complaint=complaint,
            recorded_by=recorded_by,
            effective_at=occurred_at,
        )

    def churn(
        self,
        *,
        client_id: str,
        kind: str,
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        return self.update(
            Client,
            client_id,
            expected_version,
            Client.churn,
            kind=kind,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=self.effective("effective_at", effective_at),
        )

    def reactivate(
        self,
        *,
        client_id: str,
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        return self.update(
            Client,
            client_id,
            expected_version,
            Client.reactivate,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=self.effective("effective_at", effective_at),
        )

    def retract(
        self,
        *,
        client_id: str,
        event_id: str,
        reason: str,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        return self.update(
            Client,
            client_id,
            expected_version,
            Client.retract,
            retracted_event_id=event_id,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=self.clock(),
        )

    def acknowledge_assignment(
        self,
        *,
        client_id: str,
        event_id: str,
        acting_staff_id: str | None,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        """The assignee signs for a designated-manager assignment (名单制管理): a manager key
        only for its own staff member's assignments (`acting_staff_id`), admin for anyone."""

        def acknowledge(client: Client, **arguments: Any) -> None:
            assignee = client.assignee_of(event_id)
            if acting_staff_id is not None and assignee not in (None, acting_staff_id):
                raise Forbidden(
                    f"assignment {event_id} names {assignee}; only they may acknowledge it"
                )
            client.acknowledge(**arguments)

        return self.update(
            Client,
            client_id,
            expected_version,
            acknowledge,
            assignment_event_id=event_id,
            recorded_by=recorded_by,
            effective_at=self.clock(),
        )
