"""A campaign (客户节, 联谊会, 节日问候): one event that many clients attended, run by one
staff member. Holding it counts as a contact of each client it names (DOMAIN.md 1.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import InvalidInput
from ledger.domain.values import (
    CHANNELS,
    MAX_NAME,
    aggregate_uuid,
    check_choice,
    check_identifier,
    check_text,
)

# A campaign is one command and one transaction: a bound on how much one save writes.
MAX_ATTENDEES = 1000


class Campaign(LedgerAggregate):
    class Held(LedgerAggregate.Created, LedgerAggregate.Event):
        campaign_id: str
        name: str
        channel: str
        staff_id: str
        client_ids: list[str]

    def __init__(
        self,
        campaign_id: str,
        name: str,
        channel: str,
        staff_id: str,
        client_ids: list[str],
        recorded_by: str,
        effective_at: datetime,
    ) -> None:
        self.campaign_id = campaign_id
        self.name = name
        self.channel = channel
        self.staff_id = staff_id
        self.client_ids = list(client_ids)
        self.held_at = effective_at

    @staticmethod
    def id_for(campaign_id: str) -> object:
        return aggregate_uuid("campaign", campaign_id)

    @classmethod
    def hold(
        cls,
        *,
        campaign_id: str,
        name: str,
        channel: str,
        staff_id: str,
        client_ids: Any,
        recorded_by: str,
        effective_at: datetime,
    ) -> Campaign:
        check_identifier("campaign_id", campaign_id)
        check_text("name", name, limit=MAX_NAME)
        check_choice("channel", channel, CHANNELS)
        check_identifier("staff_id", staff_id)
        check_attendees(client_ids)
        return cls._create(
            cls.Held,
            id=cls.id_for(campaign_id),
            campaign_id=campaign_id,
            name=name,
            channel=channel,
            staff_id=staff_id,
            client_ids=list(client_ids),
            recorded_by=recorded_by,
            effective_at=effective_at,
        )


def check_attendees(client_ids: Any) -> list[str]:
    """One to MAX_ATTENDEES client ids, each named once."""
    if not isinstance(client_ids, list) or not client_ids:
        raise InvalidInput("client_ids", "must name at least one client")
    if len(client_ids) > MAX_ATTENDEES:
        raise InvalidInput("client_ids", f"must name at most {MAX_ATTENDEES} clients")
    seen: set[str] = set()
    for index, client_id in enumerate(client_ids):
        check_identifier(f"client_ids[{index}]", client_id)
        if client_id in seen:
            raise InvalidInput(f"client_ids[{index}]", f"names {client_id} a second time")
        seen.add(client_id)
    return client_ids
