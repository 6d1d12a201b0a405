"""The fund manager's half (DOMAIN.md 1.1): prospects won or dropped, and campaigns, each a
contact of every client it names. Both write several aggregates in one `save()`, so a
conversion or a campaign is stored whole or not at all."""

from __future__ import annotations

from datetime import datetime

from ledger.application.access import MANAGER, AccessUseCases, Principal
from ledger.application.clients import ClientUseCases
from ledger.application.results import WriteResult
from ledger.domain import Client, RuleViolation, StaleVersion
from ledger.domain.base import recording_clock
from ledger.domain.campaign import Campaign, check_attendees
from ledger.domain.prospect import Prospect


class OutreachUseCases(ClientUseCases, AccessUseCases):
    def check_prospect_scope(self, principal: Principal, prospect_id: str) -> None:
        """A manager acts only on prospects of its own unit's subtree."""
        if principal.role == MANAGER:
            self.check_unit_scope(principal, self.load(Prospect, prospect_id).unit_id)

    def record_prospect(
        self,
        *,
        prospect_id: str,
        name: str,
        unit_id: str,
        source: str,
        owner_staff_id: str,
        occurred_at: datetime | None = None,
        recorded_by: str,
    ) -> WriteResult:
        occurred_at = self.effective("occurred_at", occurred_at)
        self.check_home_unit(unit_id)  # a converted prospect is registered there
        self.check_staff_active(owner_staff_id, occurred_at, doing="own a prospect")
        return self.create(
            Prospect.record,
            prospect_id=prospect_id,
            name=name,
            unit_id=unit_id,
            source=source,
            owner_staff_id=owner_staff_id,
            recorded_by=recorded_by,
            effective_at=occurred_at,
        )

    def convert_prospect(
        self,
        *,
        prospect_id: str,
        client_id: str,
        tier: str = "standard",
        occurred_at: datetime | None = None,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        """The prospect's client registered (its name, unit and source) and the prospect
        marked converted with the client's id, in one transaction."""
        occurred_at = self.effective("occurred_at", occurred_at)

        def attempt() -> WriteResult:
            prospect = self.load(Prospect, prospect_id)
            if expected_version is not None and prospect.version != expected_version:
                raise StaleVersion(expected_version, prospect.version)
            with recording_clock(self.clock):
                client = Client.register(
                    client_id=client_id,
                    name=prospect.name,
                    unit_id=prospect.unit_id,
                    tier=tier,
                    source=prospect.source,
                    recorded_by=recorded_by,
                    effective_at=occurred_at,
                )
                prospect.convert(
                    client_id=client_id, recorded_by=recorded_by, effective_at=occurred_at
                )
            return self.save_new(client, prospect)

        return self.retrying("prospect", prospect_id, attempt)

    def drop_prospect(
        self,
        *,
        prospect_id: str,
        reason: str,
        effective_at: datetime | None = None,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        return self.update(
            Prospect,
            prospect_id,
            expected_version,
            Prospect.drop,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=self.effective("effective_at", effective_at),
        )

    def hold_campaign(
        self,
        *,
        campaign_id: str,
        name: str,
        channel: str,
        staff_id: str,
        client_ids: list[str],
        occurred_at: datetime | None = None,
        recorded_by: str,
    ) -> WriteResult:
        """The campaign and a contact of each client it names, in one `save()`: one client
        that is unknown, or churned by then, or registered after it, writes nothing."""
        occurred_at = self.effective("occurred_at", occurred_at)
        check_attendees(client_ids)
        self.check_staff_active(staff_id, occurred_at, doing="run a campaign")

        def attempt() -> WriteResult:
            clients = [
                self.load(Client, client_id, field=f"client_ids[{index}]")
                for index, client_id in enumerate(client_ids)
            ]
            with recording_clock(self.clock):
                campaign = Campaign.hold(
                    campaign_id=campaign_id,
                    name=name,
                    channel=channel,
                    staff_id=staff_id,
                    client_ids=client_ids,
                    recorded_by=recorded_by,
                    effective_at=occurred_at,
                )
                for index, client in enumerate(clients):
                    try:
                        client.log_contact(
                            channel=channel,
                            staff_id=staff_id,
                            purpose=name,
                            summary=None,
                            campaign_id=campaign_id,
                            recorded_by=recorded_by,
                            effective_at=occurred_at,
                        )
                    except RuleViolation as refused:
                        raise RuleViolation(
                            refused.rule, f"client_ids[{index}]: {refused.message}"
                        ) from None
            return self.save_new(campaign, *clients)

        return self.retrying("campaign", campaign_id, attempt)
