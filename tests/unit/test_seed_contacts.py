"""Satisfaction and complaint on contacts (DOMAIN.md 1.1), in memory."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.application import Ledger
from ledger.domain import Client, InvalidInput
from support.scenario import NOW, Bank, by, rejected


def contact(ledger: Ledger, bank: Bank, client_id: str, **extra: object) -> None:
    ledger.log_contact(
        client_id=client_id,
        channel="visit",
        staff_id=bank.manager,
        occurred_at=NOW - timedelta(hours=1),
        **extra,  # type: ignore[arg-type]
        **by(),
    )


def last_contact(ledger: Ledger, client_id: str) -> Client.ContactLogged:
    *_, event = ledger.events.get(Client.id_for(client_id))
    assert isinstance(event, Client.ContactLogged)
    return event


def test_a_contact_carries_satisfaction_and_complaint(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    contact(ledger, bank, client_id, satisfaction=2, complaint=True, summary="slow service")
    event = last_contact(ledger, client_id)
    assert (event.satisfaction, event.complaint) == (2, True)


def test_a_contact_without_them_has_no_satisfaction_and_no_complaint(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    contact(ledger, bank, client_id)
    event = last_contact(ledger, client_id)
    assert (event.satisfaction, event.complaint) == (None, False)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"satisfaction": 0}, "satisfaction"),
        ({"satisfaction": 6}, "satisfaction"),
        ({"satisfaction": True}, "satisfaction"),
        ({"satisfaction": 2.5}, "satisfaction"),
        ({"complaint": "yes"}, "complaint"),
    ],
)
def test_satisfaction_off_the_scale_or_a_complaint_not_boolean_is_refused(
    ledger: Ledger, bank: Bank, client_id: str, extra: dict[str, object], field: str
) -> None:
    with rejected(ledger, InvalidInput, field=field):
        contact(ledger, bank, client_id, **extra)
