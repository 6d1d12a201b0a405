"""What a determination stands on, in memory: stale when the case's facts moved, the
outcome standing against each party, and which entries are late."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.application import Ledger
from ledger.domain import Client, InvalidInput
from ledger.projections.churn_cases import PENDING, is_stale, late_changes, party_outcomes
from support.scenario import NOW, by, rejected

FACTS = {
    "accountability_tier": "diamond",
    "designated_manager": "M1",
    "unit_head": None,
    "prior_holders": ["M0"],
}


def ruling(outcome: str, party: str | None = None, facts: dict | None = FACTS) -> dict:
    return {"outcome": outcome, "party": party, "facts": facts}


def test_a_determination_is_stale_once_any_fact_it_was_made_on_moves() -> None:
    assert not is_stale(FACTS, dict(FACTS))
    for name, value in (
        ("unit_head", "E002"),
        ("designated_manager", "M3"),
        ("accountability_tier", "platinum"),
        ("prior_holders", []),
    ):
        assert is_stale(FACTS, {**FACTS, name: value}), name


def test_a_determination_stored_without_facts_is_never_stale() -> None:
    assert not is_stale(None, {**FACTS, "unit_head": "E002"})


def test_the_latest_determination_covering_a_party_stands_against_it() -> None:
    moved = {**FACTS, "unit_head": "E002"}
    assert party_outcomes(FACTS, []) == {"designated_manager": PENDING, "unit_head": PENDING}
    assert party_outcomes(FACTS, [ruling("confirmed")]) == {
        "designated_manager": "confirmed",
        "unit_head": "confirmed",
    }
    rulings = [ruling("confirmed"), ruling("waived", "unit_head", moved)]
    assert party_outcomes(moved, rulings) == {
        "designated_manager": PENDING,  # the whole-case ruling was made before the head came
        "unit_head": "waived",
    }


def test_late_entries_are_those_recorded_after_the_churn_or_days_after_they_took_effect() -> None:
    case = {"case_id": "K", "effective_at": "2025-03-01T00:00:00.000000"}

    def entry(event_id: str, effective: str, recorded: str) -> dict:
        return {
            "event_id": event_id,
            "type": "Assigned",
            "effective_at": f"2025-{effective}T00:00:00.000000",
            "recorded_at": f"2025-{recorded}T00:00:00.000000",
            "recorded_by": "admin",
        }

    entries = [
        entry("on-time", "01-10", "01-11"),
        entry("three-days-late", "01-10", "01-13"),
        entry("after-the-churn", "02-27", "03-02"),
        entry("effective-after-the-churn", "03-05", "03-20"),
        entry("K", "03-01", "03-01"),
    ]
    late = late_changes(case, "2025-03-01T12:00:00.000000", entries, late_days=2)
    assert [e["event_id"] for e in late] == ["three-days-late", "after-the-churn"]
    assert late_changes(case, None, entries, late_days=5) == []


def test_a_determination_names_a_known_party(ledger: Ledger, client_id: str) -> None:
    churn = ledger.churn(
        client_id=client_id, kind="abnormal", reason="lost", effective_at=NOW - timedelta(1), **by()
    )

    def determine(party: str) -> None:
        ledger.determine(
            client_id=client_id,
            case_id=churn.event_id,
            outcome="confirmed",
            reason="r",
            party=party,
            facts=FACTS,
            **by(),
        )

    with rejected(ledger, InvalidInput, field="party"):
        determine("president")
    determine("unit_head")
    (entry,) = [e for e in ledger.client_history(client_id) if e.type == "ChurnDetermined"]
    assert (entry.data["party"], entry.data["facts"]) == ("unit_head", FACTS)


@pytest.mark.parametrize("missing", ["party", "facts"])
def test_a_determination_stored_before_1_1_reads_with_defaults(missing: str) -> None:
    # The library restores an event's stored state onto the class: a field missing from
    # an old event reads as the class's default.
    assert getattr(Client.ChurnDetermined, missing) is None
