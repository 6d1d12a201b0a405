"""Use cases that moved from the HTTP edge into the application: who may act where (a
manager key's scope), who is calling, and a determination posted to a churn case."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from ledger.application import Ledger, Principal
from ledger.domain import Forbidden, InvalidInput, NotFound
from support.scenario import NOW, REGISTERED_AT, Bank, by, register, rejected


@dataclass
class FakeChurnCases:
    """The `ChurnCases` port over a dict, recording every question it is asked."""

    known: dict[str, str] = field(default_factory=dict)
    projected_after_wait: dict[str, str] = field(default_factory=dict)
    asked: list[tuple[str, int | None, float]] = field(default_factory=list)

    def client_of_case(self, case_id: str, *, after: int | None, timeout: float) -> str | None:
        self.asked.append((case_id, after, timeout))
        if after is not None:
            self.known.update(self.projected_after_wait)
        return self.known.get(case_id)

    def facts_of_case(self, case_id: str, *, after: int, timeout: float) -> dict[str, str] | None:
        return None


def manager_of(ledger: Ledger, staff_id: str) -> Principal:
    _, token = ledger.issue_api_key(role="manager", staff_id=staff_id, label="m", **by())
    principal = ledger.identify(token, admin_token=None)
    assert principal is not None
    return principal


def test_a_key_answers_its_own_id_and_identifies_its_holder(ledger: Ledger, bank: Bank) -> None:
    result, token = ledger.issue_api_key(role="manager", staff_id=bank.manager, label="m", **by())
    assert token.startswith(f"{result.id}.")
    principal = ledger.identify(token, admin_token="secret")
    assert principal == Principal(name=f"key:{result.id}", role="manager", staff_id=bank.manager)
    assert ledger.identify("secret", admin_token="secret") == Principal("admin", "admin")
    assert ledger.identify("nonsense", admin_token="secret") is None
    assert ledger.identify(f"{result.id}.wrong", admin_token=None) is None


def test_a_manager_acts_only_within_its_units_subtree(ledger: Ledger, bank: Bank) -> None:
    manager = manager_of(ledger, bank.manager)
    client_id = register(ledger, bank, at=REGISTERED_AT)
    ledger.check_unit_scope(manager, bank.outlet)
    ledger.check_client_scope(manager, client_id)
    with pytest.raises(Forbidden, match=f"unit {bank.sub_branch} is outside the subtree"):
        ledger.check_unit_scope(manager, bank.sub_branch)
    admin = Principal("admin", "admin")
    ledger.check_unit_scope(admin, bank.sub_branch)


def test_a_departed_managers_key_may_not_write(ledger: Ledger, bank: Bank) -> None:
    manager = manager_of(ledger, bank.manager)
    ledger.depart_staff(staff_id=bank.manager, reason="left", effective_at=NOW, **by())
    with pytest.raises(Forbidden, match="has departed"):
        ledger.check_unit_scope(manager, bank.outlet)


def test_a_determination_goes_to_the_cases_client(ledger: Ledger, client_id: str) -> None:
    churn = ledger.churn(
        client_id=client_id,
        kind="abnormal",
        reason="lost",
        effective_at=NOW - timedelta(days=1),
        **by(),
    )
    cases = FakeChurnCases(known={churn.event_id: client_id})
    ledger.churn_cases = cases
    result = ledger.determine_case(
        case_id=churn.event_id, outcome="confirmed", reason="no call", **by()
    )
    assert (result.id, result.type) == (client_id, "ChurnDetermined")
    assert cases.asked == [(churn.event_id, None, 0)]
    with rejected(ledger, InvalidInput, field="client_id"):
        ledger.determine_case(
            case_id=churn.event_id, outcome="waived", reason="r", client_id="other", **by()
        )


def test_a_case_not_yet_projected_waits_for_the_logs_end_then_is_unknown(
    ledger: Ledger, client_id: str
) -> None:
    churn = ledger.churn(
        client_id=client_id, kind="normal", reason="moved", effective_at=NOW, **by()
    )
    cases = FakeChurnCases(projected_after_wait={churn.event_id: client_id})
    ledger.churn_cases = cases
    ledger.case_wait = 1.5
    ledger.determine_case(case_id=churn.event_id, outcome="waived", reason="r", **by())
    assert cases.asked[-1] == (churn.event_id, churn.position, 1.5)
    with rejected(ledger, NotFound):
        ledger.determine_case(case_id="no-such-case", outcome="waived", reason="r", **by())
