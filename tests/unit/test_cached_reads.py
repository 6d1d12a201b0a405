"""Looks at cached units, staff and API keys (three per write over HTTP) read the cached
aggregate in place; only a command works on a deep copy."""

from __future__ import annotations

import copy
from datetime import timedelta

import eventsourcing.application
import pytest

from ledger.application import Ledger
from ledger.domain import NotFound, RuleViolation
from support.scenario import NOW, Bank


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    made: list[object] = []

    def counting(value: object, memo: object = None) -> object:
        made.append(value)
        return copy.deepcopy(value, memo)  # type: ignore[arg-type]

    monkeypatch.setattr(eventsourcing.application, "deepcopy", counting)
    return made


def test_reading_a_staff_member_or_a_key_copies_nothing(
    ledger: Ledger, bank: Bank, copies: list[object]
) -> None:
    _, token = ledger.issue_api_key(
        role="manager", staff_id=bank.manager, label="m", recorded_by="admin"
    )
    copies.clear()
    assert ledger.get_staff(bank.manager).status == "active"
    key = ledger.authenticate(token)
    assert key is not None and key.staff_id == bank.manager
    assert copies == []


def test_a_command_still_works_on_a_copy_and_a_refused_one_leaves_the_cache_alone(
    ledger: Ledger, bank: Bank, copies: list[object]
) -> None:
    before = ledger.get_staff(bank.manager)
    with pytest.raises(RuleViolation):
        ledger.transfer_staff(
            staff_id=bank.manager,
            unit_id=bank.outlet,
            effective_at=NOW - timedelta(days=10_000),
            recorded_by="admin",
        )
    assert copies
    assert ledger.get_staff(bank.manager) == before


def test_a_departed_staff_member_may_not_log_a_contact_and_an_unknown_one_is_404(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    ledger.depart_staff(
        staff_id=bank.other_manager, reason="left", effective_at=NOW, recorded_by="admin"
    )
    with pytest.raises(RuleViolation):
        ledger.log_contact(
            client_id=client_id,
            channel="phone",
            staff_id=bank.other_manager,
            occurred_at=NOW + timedelta(seconds=1),
            recorded_by="admin",
        )
    with pytest.raises(NotFound):
        ledger.log_contact(
            client_id=client_id,
            channel="phone",
            staff_id="nobody",
            occurred_at=NOW,
            recorded_by="admin",
        )
    assert ledger.get_staff(bank.other_manager).status == "departed"
