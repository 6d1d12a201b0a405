"""Units and staff: the events that build the bank's tree, and the rules that guard it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.application import Ledger
from ledger.domain import AlreadyExists, InvalidInput, NotFound, RuleViolation, Staff, Unit
from support.scenario import ADMIN, NOW, Bank, Clock, by, new_id, rejected


def unit_event_types(ledger: Ledger, unit_id: str) -> list[str]:
    return [type(e).__name__ for e in ledger.events.get(Unit.id_for(unit_id))]


def staff_event_types(ledger: Ledger, staff_id: str) -> list[str]:
    return [type(e).__name__ for e in ledger.events.get(Staff.id_for(staff_id))]


# ---- units ------------------------------------------------------------------------


def test_creating_a_root_branch_records_unit_created(ledger: Ledger) -> None:
    unit_id = new_id("BR")
    result = ledger.create_unit(
        unit_id=unit_id, name="Head branch", kind="branch", parent_id=None, recorded_by=ADMIN
    )
    assert (result.id, result.type, result.version) == (unit_id, "Created", 1)
    assert result.recorded_by == ADMIN
    assert result.position == ledger.position == 1
    unit = ledger.get_unit(unit_id)
    assert (unit.name, unit.kind, unit.parent_id, unit.children) == (
        "Head branch",
        "branch",
        None,
        [],
    )
    assert unit.head_staff_id is None


def test_creating_a_child_unit_attaches_it_to_its_parent(ledger: Ledger, bank: Bank) -> None:
    outlet = new_id("OUT")
    before = ledger.position
    result = ledger.create_unit(
        unit_id=outlet, name="Second outlet", kind="outlet", parent_id=bank.sub_branch, **by()
    )
    # One command, two events: the child's creation and the parent's ChildAttached.
    assert ledger.position == before + 2
    assert result.type == "Created"
    assert outlet in ledger.get_unit(bank.sub_branch).children
    assert unit_event_types(ledger, bank.sub_branch)[-1] == "ChildAttached"
    assert ledger.get_unit(outlet).parent_id == bank.sub_branch


def test_unit_ancestry_runs_from_the_unit_up_to_the_root(ledger: Ledger, bank: Bank) -> None:
    assert ledger.unit_ancestry(bank.outlet) == [
        bank.outlet,
        bank.sub_branch,
        bank.department,
        bank.branch,
    ]


def test_a_unit_kind_may_skip_a_level_but_never_climb(ledger: Ledger, bank: Bank) -> None:
    # Strictly descending kinds is the rule; a sub-branch directly under a branch is allowed.
    skipped = new_id("SUB")
    ledger.create_unit(
        unit_id=skipped, name="Direct", kind="sub_branch", parent_id=bank.branch, **by()
    )
    assert ledger.get_unit(skipped).parent_id == bank.branch


@pytest.mark.parametrize(
    ("kind", "parent"),
    [
        ("outlet", "outlet"),
        ("department", "sub_branch"),
        ("branch", "branch"),
        ("sub_branch", "outlet"),
    ],
)
def test_a_unit_cannot_sit_under_a_unit_of_its_own_or_a_lower_kind(
    ledger: Ledger, bank: Bank, kind: str, parent: str
) -> None:
    with rejected(ledger, RuleViolation, rule="unit_hierarchy"):
        ledger.create_unit(
            unit_id=new_id("U"),
            name="Misplaced",
            kind=kind,
            parent_id=getattr(bank, parent),
            **by(),
        )


def test_a_unit_other_than_a_branch_needs_a_parent(ledger: Ledger) -> None:
    with rejected(ledger, InvalidInput, field="parent_id"):
        ledger.create_unit(
            unit_id=new_id("O"), name="Orphan", kind="outlet", parent_id=None, **by()
        )


def test_a_unit_under_an_unknown_parent_is_refused(ledger: Ledger) -> None:
    with rejected(ledger, NotFound) as info:
        ledger.create_unit(
            unit_id=new_id("O"), name="Lost", kind="outlet", parent_id="NO-SUCH-UNIT", **by()
        )
    assert info.value.kind == "unit"


def test_an_unknown_unit_kind_is_refused(ledger: Ledger) -> None:
    with rejected(ledger, InvalidInput, field="kind"):
        ledger.create_unit(unit_id=new_id("X"), name="Kiosk", kind="kiosk", parent_id=None, **by())


def test_a_unit_id_is_taken_for_ever(ledger: Ledger, bank: Bank) -> None:
    # The duplicate's parent would also get a ChildAttached: neither event may land.
    with rejected(ledger, AlreadyExists):
        ledger.create_unit(
            unit_id=bank.outlet, name="Twin", kind="outlet", parent_id=bank.sub_branch, **by()
        )
    assert ledger.get_unit(bank.sub_branch).children == [bank.outlet]


@pytest.mark.parametrize("unit_id", ["", "has space", "x" * 65, "-leading-dash", "ünï"])
def test_a_malformed_unit_id_is_refused(ledger: Ledger, unit_id: str) -> None:
    with rejected(ledger, InvalidInput, field="unit_id"):
        ledger.create_unit(unit_id=unit_id, name="Bad", kind="branch", parent_id=None, **by())


def test_an_oversized_unit_name_is_refused(ledger: Ledger) -> None:
    with rejected(ledger, InvalidInput, field="name"):
        ledger.create_unit(
            unit_id=new_id("B"), name="n" * 201, kind="branch", parent_id=None, **by()
        )


def test_appointing_a_head_records_head_appointed(ledger: Ledger, bank: Bank) -> None:
    result = ledger.appoint_head(
        unit_id=bank.outlet, staff_id=bank.director, effective_at=NOW - timedelta(days=30), **by()
    )
    assert (result.type, result.id) == ("HeadAppointed", bank.outlet)
    assert ledger.get_unit(bank.outlet).head_staff_id == bank.director


def test_a_new_head_replaces_the_previous_one(ledger: Ledger, bank: Bank) -> None:
    ledger.appoint_head(
        unit_id=bank.outlet, staff_id=bank.director, effective_at=NOW - timedelta(days=30), **by()
    )
    ledger.appoint_head(
        unit_id=bank.outlet, staff_id=bank.manager, effective_at=NOW - timedelta(days=1), **by()
    )
    events = list(ledger.events.get(Unit.id_for(bank.outlet)))
    assert events[-1].previous_head == bank.director
    assert ledger.get_unit(bank.outlet).head_staff_id == bank.manager


def test_a_head_appointed_in_the_future_is_not_yet_the_head(
    ledger: Ledger, bank: Bank, clock: Clock
) -> None:
    ledger.appoint_head(
        unit_id=bank.outlet, staff_id=bank.director, effective_at=NOW + timedelta(minutes=4), **by()
    )
    assert ledger.get_unit(bank.outlet).head_staff_id is None
    clock.advance(minutes=5)
    assert ledger.get_unit(bank.outlet).head_staff_id == bank.director


def test_reappointing_the_sitting_head_is_refused(ledger: Ledger, bank: Bank) -> None:
    ledger.appoint_head(
        unit_id=bank.outlet, staff_id=bank.director, effective_at=NOW - timedelta(days=3), **by()
    )
    with rejected(ledger, RuleViolation, rule="head_unchanged"):
        ledger.appoint_head(unit_id=bank.outlet, staff_id=bank.director, effective_at=NOW, **by())


def test_a_departed_staff_member_cannot_be_appointed_head(ledger: Ledger, bank: Bank) -> None:
    ledger.depart_staff(
        staff_id=bank.director, reason="retired", effective_at=NOW - timedelta(days=2), **by()
    )
    with rejected(ledger, RuleViolation, rule="staff_departed"):
        ledger.appoint_head(unit_id=bank.outlet, staff_id=bank.director, effective_at=NOW, **by())


def test_appointing_a_head_of_an_unknown_unit_or_staff_is_refused(
    ledger: Ledger, bank: Bank
) -> None:
    with rejected(ledger, NotFound) as info:
        ledger.appoint_head(unit_id="NO-UNIT", staff_id=bank.director, effective_at=NOW, **by())
    assert info.value.kind == "unit"
    with rejected(ledger, NotFound) as info:
        ledger.appoint_head(unit_id=bank.outlet, staff_id="NO-STAFF", effective_at=NOW, **by())
    assert info.value.kind == "staff"


def test_unknown_unit_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        ledger.get_unit("NO-SUCH-UNIT")


# ---- staff ------------------------------------------------------------------------


def test_joining_records_staff_joined(ledger: Ledger, bank: Bank) -> None:
    staff_id = new_id("ST")
    result = ledger.join_staff(
        staff_id=staff_id,
        name="Li Wei",
        unit_id=bank.outlet,
        role="teller",
        effective_at=None,
        **by(),
    )
    assert (result.type, result.id, result.version) == ("Joined", staff_id, 1)
    staff = ledger.get_staff(staff_id)
    assert (staff.name, staff.unit_id, staff.role, staff.status) == (
        "Li Wei",
        bank.outlet,
        "teller",
        "active",
    )


def test_a_staff_id_is_taken_for_ever(ledger: Ledger, bank: Bank) -> None:
    with rejected(ledger, AlreadyExists):
        ledger.join_staff(
            staff_id=bank.manager,
            name="Twin",
            unit_id=bank.outlet,
            role="teller",
            effective_at=None,
            **by(),
        )


def test_joining_an_unknown_unit_is_refused(ledger: Ledger) -> None:
    with rejected(ledger, NotFound) as info:
        ledger.join_staff(
            staff_id=new_id("ST"),
            name="Nobody",
            unit_id="NO-UNIT",
            role="teller",
            effective_at=None,
            **by(),
        )
    assert info.value.kind == "unit"


def test_an_unknown_staff_role_is_refused(ledger: Ledger, bank: Bank) -> None:
    with rejected(ledger, InvalidInput, field="role"):
        ledger.join_staff(
            staff_id=new_id("ST"),
            name="Chef",
            unit_id=bank.outlet,
            role="chef",
            effective_at=None,
            **by(),
        )


def test_a_transfer_moves_the_staff_member_to_another_unit(ledger: Ledger, bank: Bank) -> None:
    result = ledger.transfer_staff(
        staff_id=bank.manager, unit_id=bank.sub_branch, effective_at=NOW - timedelta(days=1), **by()
    )
    assert result.type == "Transferred"
    assert ledger.get_staff(bank.manager).unit_id == bank.sub_branch
    last = list(ledger.events.get(Staff.id_for(bank.manager)))[-1]
    assert last.previous_unit_id == bank.outlet


def test_a_transfer_to_the_same_unit_is_refused(ledger: Ledger, bank: Bank) -> None:
    with rejected(ledger, RuleViolation, rule="transfer_to_same_unit"):
        ledger.transfer_staff(staff_id=bank.manager, unit_id=bank.outlet, effective_at=NOW, **by())


def test_a_transfer_to_an_unknown_unit_or_of_unknown_staff_is_refused(
    ledger: Ledger, bank: Bank
) -> None:
    with rejected(ledger, NotFound) as info:
        ledger.transfer_staff(staff_id=bank.manager, unit_id="NO-UNIT", effective_at=NOW, **by())
    assert info.value.kind == "unit"
    with rejected(ledger, NotFound) as info:
        ledger.transfer_staff(staff_id="NO-STAFF", unit_id=bank.outlet, effective_at=NOW, **by())
    assert info.value.kind == "staff"


def test_departure_marks_the_staff_member_departed(ledger: Ledger, bank: Bank) -> None:
    result = ledger.depart_staff(
        staff_id=bank.manager, reason="joined a competitor", effective_at=NOW, **by()
    )
    assert result.type == "Departed"
    assert ledger.get_staff(bank.manager).status == "departed"
    assert staff_event_types(ledger, bank.manager) == ["Joined", "Departed"]


def test_a_departed_staff_member_can_neither_depart_again_nor_transfer(
    ledger: Ledger, bank: Bank
) -> None:
    ledger.depart_staff(staff_id=bank.manager, reason="left", effective_at=NOW, **by())
    with rejected(ledger, RuleViolation, rule="staff_departed"):
        ledger.depart_staff(staff_id=bank.manager, reason="left again", effective_at=NOW, **by())
    with rejected(ledger, RuleViolation, rule="staff_departed"):
        ledger.transfer_staff(
            staff_id=bank.manager, unit_id=bank.sub_branch, effective_at=NOW, **by()
        )


def test_a_departure_cannot_precede_the_last_transfer(ledger: Ledger, bank: Bank) -> None:
    ledger.transfer_staff(
        staff_id=bank.manager, unit_id=bank.sub_branch, effective_at=NOW - timedelta(days=5), **by()
    )
    with rejected(ledger, RuleViolation, rule="effective_time_order"):
        ledger.depart_staff(
            staff_id=bank.manager, reason="left", effective_at=NOW - timedelta(days=6), **by()
        )


def test_a_departure_needs_a_reason(ledger: Ledger, bank: Bank) -> None:
    with rejected(ledger, InvalidInput, field="reason"):
        ledger.depart_staff(staff_id=bank.manager, reason="  ", effective_at=NOW, **by())


def test_unknown_staff_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        ledger.get_staff("NO-SUCH-STAFF")
