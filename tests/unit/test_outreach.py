"""Campaigns and prospects in memory: several aggregates, one save (DOMAIN.md 1.1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.application import Ledger
from ledger.domain import AlreadyExists, Client, InvalidInput, NotFound, RuleViolation
from support.scenario import (
    NOW,
    REGISTERED_AT,
    Bank,
    by,
    new_id,
    record_prospect,
    register,
    rejected,
)


def campaign(ledger: Ledger, bank: Bank, client_ids: list[str], **extra: object) -> None:
    ledger.hold_campaign(
        campaign_id=extra.pop("campaign_id", new_id("K")),  # type: ignore[arg-type]
        name="Spring Festival client day",
        channel="event",
        staff_id=bank.director,
        client_ids=client_ids,
        occurred_at=NOW - timedelta(hours=2),
        **by(),
    )


def test_a_campaign_logs_a_contact_of_each_client_it_names(ledger: Ledger, bank: Bank) -> None:
    clients = [register(ledger, bank, at=REGISTERED_AT, tier="gold") for _ in range(3)]
    campaign(ledger, bank, clients, campaign_id="K1")
    for client_id in clients:
        *_, event = ledger.events.get(Client.id_for(client_id))
        assert isinstance(event, Client.ContactLogged)
        assert (event.campaign_id, event.staff_id, event.channel) == ("K1", bank.director, "event")
        assert ledger.get_client(client_id).last_contact_at == NOW - timedelta(hours=2)
    with pytest.raises(AlreadyExists):
        campaign(ledger, bank, clients, campaign_id="K1")


@pytest.mark.parametrize("bad", ["unknown", "churned", "twice"])
def test_one_bad_client_writes_nothing(ledger: Ledger, bank: Bank, bad: str) -> None:
    good = register(ledger, bank, at=REGISTERED_AT)
    other = register(ledger, bank, at=REGISTERED_AT)
    if bad == "churned":
        ledger.churn(
            client_id=other,
            kind="normal",
            reason="moved",
            effective_at=NOW - timedelta(days=1),
            **by(),
        )
    names = {"unknown": [good, "NOSUCH"], "churned": [good, other], "twice": [good, good]}[bad]
    error = {"unknown": NotFound, "churned": RuleViolation, "twice": InvalidInput}[bad]
    with rejected(ledger, error):
        campaign(ledger, bank, names)


def test_a_conversion_registers_the_client_of_the_prospect(ledger: Ledger, bank: Bank) -> None:
    prospect_id, client_id = record_prospect(ledger, bank, occurred_at=REGISTERED_AT), new_id("C")
    ledger.convert_prospect(
        prospect_id=prospect_id, client_id=client_id, tier="gold", occurred_at=NOW, **by()
    )
    client = ledger.get_client(client_id)
    assert (client.name, client.tier, client.source) == ("Li Lei", "gold", "organisation")
    with rejected(ledger, RuleViolation, rule="prospect_converted"):
        ledger.drop_prospect(prospect_id=prospect_id, reason="late", **by())
