"""The rules of layered maintenance and the at-risk board, as pure functions over a client's
file (ledger/projections/maintenance_rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.projections.kit.text import utc_text
from ledger.projections.maintenance_rules import (
    ClientFile,
    Contact,
    Moment,
    Organisation,
    accountable,
    duties_overdue,
    insert,
    new_file,
    referral_tree,
    risk_reasons,
    team_gaps,
    unacknowledged,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
CADENCE = {"client_manager": {"platinum": 60}, "vice_president": {"platinum": 180}}
ORG = Organisation(
    roles={"M1": "client_manager", "M2": "client_manager", "VP": "vice_president"},
    departed={"M1": None, "M2": None, "VP": None},
    heads={"O1": [[utc_text(START), 1, "H"]]},
)


def day(n: float) -> str:
    return utc_text(START + timedelta(days=n))


def platinum() -> ClientFile:
    file = new_file("C1", "O1", day(0), 1, "platinum")
    file["team"] = {
        "client_manager": [[day(0), 2, "M1", "e-m1"]],
        "vice_president": [[day(0), 3, "VP", "e-vp"]],
    }
    return file


def test_a_platinum_team_needs_a_vice_president_and_the_outlet_head_stands_in_as_director() -> None:
    file = platinum()
    assert team_gaps(file, day(1), ORG) == []
    del file["team"]["vice_president"]
    assert team_gaps(file, day(1), ORG) == ["vice_president"]
    no_head = Organisation(roles=ORG.roles, departed=ORG.departed)
    assert team_gaps(file, day(1), no_head) == ["vice_president", "outlet_director"]


def test_a_departed_holder_leaves_a_gap() -> None:
    gone = Organisation(roles=ORG.roles, departed={"VP": day(5)}, heads=ORG.heads)
    assert team_gaps(platinum(), day(4), gone) == []
    assert team_gaps(platinum(), day(6), gone) == ["vice_president"]


def test_a_contact_counts_only_for_its_staff_members_roles() -> None:
    at = START + timedelta(days=200)
    by_manager = [Contact("M1", "visit", day(150))]
    overdue = duties_overdue(platinum(), at, by_manager, ORG, CADENCE)
    assert [(i["role"], i["days_overdue"]) for i in overdue] == [("vice_president", 20)]
    by_vp = [*by_manager, Contact("VP", "visit", day(100))]
    assert duties_overdue(platinum(), at, by_vp, ORG, CADENCE) == []
    # A contact after the moment asked about does not count.
    later = [*by_manager, Contact("VP", "visit", day(201))]
    assert len(duties_overdue(platinum(), at, later, ORG, CADENCE)) == 1


def test_a_backdated_tier_change_moves_the_duties() -> None:
    file = platinum()
    insert(file["tiers"], [day(10), 9, "gold"])
    at = START + timedelta(days=200)
    assert duties_overdue(file, at, [Contact("M1", "visit", day(150))], ORG, CADENCE) == []


def test_an_assignment_is_unacknowledged_until_signed_as_of_the_time_asked() -> None:
    file = platinum()
    assert unacknowledged(file, day(3), day(10))["event_id"] == "e-m1"
    assert unacknowledged(file, day(0), day(10)) is None  # not old enough
    insert(file["acks"], [day(5), 7, "e-m1"])
    assert unacknowledged(file, day(3), day(10)) is None
    assert unacknowledged(file, day(3), day(4))["event_id"] == "e-m1"


def test_the_board_gives_each_reason_and_who_would_be_accountable() -> None:
    file = platinum()
    at = START + timedelta(days=100)
    lookback = timedelta(days=90)

    when = Moment(at, lookback)

    def reasons(org: Organisation = ORG, last: str | None = day(95)) -> list[str]:
        return risk_reasons(file, when, org, last_contact=last, cadence={"platinum": 60})

    assert reasons() == []
    assert reasons(last=None) == ["contact_overdue"]
    insert(file["assets"], [day(20), 4, "1000.00", 4])
    insert(file["assets"], [day(80), 5, "799.99", 5])
    assert reasons() == ["assets_down"]
    insert(file["tiers"], [day(90), 6, "gold"])
    assert reasons() == ["assets_down", "downgraded"]
    insert(file["team"]["client_manager"], [day(50), 8, "M2", "e-m2"])
    gone = Organisation(roles=ORG.roles, departed={"M1": day(60)}, heads=ORG.heads)
    assert "manager_departed" in reasons(gone)
    assert accountable(file, when, gone) == {
        "designated_manager": "M2",
        "unit_head": "H",
        "prior_holders": ["M1"],
    }
    both_gone = Organisation(roles=ORG.roles, departed={"M1": day(60), "M2": day(70)})
    assert "orphaned" in reasons(both_gone)


def test_the_referral_tree_is_safe_from_cycles() -> None:
    children = {"A": ["B"], "B": ["C", "A"], "C": ["B"]}
    assert referral_tree("A", children) == {
        "client_id": "A",
        "referred": [{"client_id": "B", "referred": [{"client_id": "C", "referred": []}]}],
    }
