"""API.md 1.1, "Scope of a manager key", as application rules (ledger/application/access.py):
whom a manager may name, how far back it may date, and what it may read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.application import Ledger, Principal
from ledger.domain import Forbidden, InvalidInput
from support.scenario import NOW, REGISTERED_AT, STAFF_SINCE, Bank, by, new_id, register

ADMIN = Principal("admin", "admin")


def manager_of(ledger: Ledger, staff_id: str) -> Principal:
    _, token = ledger.issue_api_key(role="manager", staff_id=staff_id, label="m", **by())
    principal = ledger.identify(token, admin_token=None)
    assert principal is not None
    return principal


def other_outlet(ledger: Ledger, bank: Bank) -> tuple[str, str]:
    """A sibling sub-branch of the bank's, with an outlet and a manager in it."""
    sub_branch, outlet, staff = new_id("SUB"), new_id("OUT"), new_id("ST")
    ledger.create_unit(
        unit_id=sub_branch, name="s", kind="sub_branch", parent_id=bank.department, **by()
    )
    ledger.create_unit(unit_id=outlet, name="o", kind="outlet", parent_id=sub_branch, **by())
    ledger.join_staff(
        staff_id=staff,
        name="Elsewhere",
        unit_id=outlet,
        role="client_manager",
        effective_at=STAFF_SINCE,
        **by(),
    )
    return outlet, staff


def test_a_manager_names_staff_of_its_subtree_and_of_the_units_above_it(
    ledger: Ledger, bank: Bank
) -> None:
    manager = manager_of(ledger, bank.manager)
    for staff_id in (bank.other_manager, bank.director, bank.president, bank.vice_president):
        ledger.check_named_staff(manager, staff_id)


def test_a_manager_may_not_name_staff_of_another_sub_branch(ledger: Ledger, bank: Bank) -> None:
    manager = manager_of(ledger, bank.manager)
    _, elsewhere = other_outlet(ledger, bank)
    with pytest.raises(Forbidden, match=f"staff {elsewhere} works in unit"):
        ledger.check_named_staff(manager, elsewhere)
    ledger.check_named_staff(ADMIN, elsewhere)


def test_a_manager_may_not_name_departed_staff(ledger: Ledger, bank: Bank) -> None:
    manager = manager_of(ledger, bank.manager)
    ledger.depart_staff(
        staff_id=bank.other_manager, reason="left", effective_at=NOW - timedelta(days=1), **by()
    )
    with pytest.raises(Forbidden, match="not active"):
        ledger.check_named_staff(manager, bank.other_manager)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ("assign", "effective_at"),
        ("change_tier", "effective_at"),
        ("churn", "effective_at"),
        ("reactivate", "effective_at"),
        ("log_contact", "occurred_at"),
    ],
)
def test_a_manager_dates_accountability_events_at_most_a_week_back(
    ledger: Ledger, bank: Bank, command: str, field: str
) -> None:
    manager = manager_of(ledger, bank.manager)
    client_id = register(ledger, bank, at=REGISTERED_AT)
    fields = {"client_id": client_id, "staff_id": bank.manager}
    ledger.check_client_command(manager, command, {**fields, field: NOW - timedelta(days=6)})
    too_early = {**fields, field: NOW - timedelta(days=7, seconds=1)}
    with pytest.raises(InvalidInput) as refused:
        ledger.check_client_command(manager, command, too_early)
    assert refused.value.field == field
    ledger.check_client_command(ADMIN, command, too_early)


def test_registration_and_assets_are_not_limited_in_time(ledger: Ledger, bank: Bank) -> None:
    manager = manager_of(ledger, bank.manager)
    client_id = register(ledger, bank, at=REGISTERED_AT)
    long_ago = NOW - timedelta(days=3000)
    ledger.check_client_command(
        manager,
        "register_client",
        {"client_id": new_id("C"), "unit_id": bank.outlet, "occurred_at": long_ago},
    )
    ledger.check_client_command(
        manager, "report_assets", {"client_id": client_id, "as_of": long_ago}
    )


def test_the_backdating_limit_is_a_setting(ledger: Ledger, bank: Bank) -> None:
    manager = manager_of(ledger, bank.manager)
    client_id = register(ledger, bank, at=REGISTERED_AT)
    ledger.manager_backdate = timedelta(days=30)
    fields = {"client_id": client_id, "effective_at": NOW - timedelta(days=29)}
    ledger.check_client_command(manager, "churn", fields)


def test_a_manager_reads_only_its_subtree(ledger: Ledger, bank: Bank) -> None:
    manager = manager_of(ledger, bank.manager)
    outlet, elsewhere = other_outlet(ledger, bank)
    assert ledger.scoped_unit(manager, None) == bank.outlet
    assert ledger.scoped_unit(manager, bank.outlet) == bank.outlet
    with pytest.raises(Forbidden):
        ledger.scoped_unit(manager, outlet)
    with pytest.raises(Forbidden):
        ledger.check_staff_read_scope(manager, elsewhere)
    ledger.check_staff_read_scope(manager, bank.other_manager)
    for role in ("auditor", "compliance", "admin"):
        reader = Principal(f"key:{role}", role)
        assert ledger.scoped_unit(reader, None) is None
        assert ledger.scoped_unit(reader, outlet) == outlet
        ledger.check_staff_read_scope(reader, elsewhere)
