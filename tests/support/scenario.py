"""Small builders for tests: random ids, a settable clock, and a bank tree to post against."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.domain import InvalidInput, LedgerError, RuleViolation

# A fixed "now" keeps effective times reproducible; tests move it forward explicitly.
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
ADMIN = "admin:test"
# Staff joined a year before "now"; clients register 60 days before it, so tests can
# backdate freely in between.
STAFF_SINCE = NOW - timedelta(days=365)
REGISTERED_AT = NOW - timedelta(days=60)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Clock:
    """A clock the test sets and moves; the ledger reads it for "now"."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass(frozen=True)
class Bank:
    """One branch > department > sub-branch > outlet, with a staff member per team role."""

    branch: str
    department: str
    sub_branch: str
    outlet: str
    president: str
    vice_president: str
    director: str
    manager: str
    other_manager: str


def build_bank(ledger: Ledger, *, staff_since: datetime) -> Bank:
    branch, department = new_id("BR"), new_id("DEP")
    sub_branch, outlet = new_id("SUB"), new_id("OUT")
    ledger.create_unit(unit_id=branch, name="Branch", kind="branch", parent_id=None, **by())
    ledger.create_unit(
        unit_id=department, name="Department", kind="department", parent_id=branch, **by()
    )
    ledger.create_unit(
        unit_id=sub_branch, name="Sub-branch", kind="sub_branch", parent_id=department, **by()
    )
    ledger.create_unit(unit_id=outlet, name="Outlet", kind="outlet", parent_id=sub_branch, **by())
    staff = {}
    for key, unit, role in (
        ("president", sub_branch, "president"),
        ("vice_president", sub_branch, "vice_president"),
        ("director", outlet, "outlet_director"),
        ("manager", outlet, "client_manager"),
        ("other_manager", outlet, "client_manager"),
    ):
        staff[key] = new_id("ST")
        ledger.join_staff(
            staff_id=staff[key],
            name=key.replace("_", " ").title(),
            unit_id=unit,
            role=role,
            effective_at=staff_since,
            **by(),
        )
    return Bank(branch=branch, department=department, sub_branch=sub_branch, outlet=outlet, **staff)


def register(ledger: Ledger, bank: Bank, *, at: datetime, tier: str = "standard") -> str:
    client_id = new_id("C")
    ledger.register_client(
        client_id=client_id,
        name="Client " + client_id,
        unit_id=bank.outlet,
        tier=tier,
        occurred_at=at,
        recorded_by=ADMIN,
    )
    return client_id


def record_prospect(ledger: Ledger, bank: Bank, **when: Any) -> str:
    """A prospect of the outlet's manager (`occurred_at` if given); its id."""
    found = {"name": "Li Lei", "source": "organisation", "owner_staff_id": bank.manager}
    prospect_id = new_id("P")
    ledger.record_prospect(prospect_id=prospect_id, unit_id=bank.outlet, **found, **by(), **when)
    return prospect_id


def log_contacts(
    ledger: Ledger, client_id: str, staff_id: str, times: Iterable[datetime], channel: str = "sms"
) -> None:
    """A contact at each of `times`, each its own command through the service."""
    for at in times:
        ledger.log_contact(
            client_id=client_id, channel=channel, staff_id=staff_id, occurred_at=at, **by()
        )


def domain_contacts(
    client: Any, staff_id: str, times: Iterable[datetime], channel: str = "phone"
) -> None:
    """A contact at each of `times` on the client in hand (saved together by the caller)."""
    for at in times:
        client.log_contact(
            channel=channel,
            staff_id=staff_id,
            purpose=None,
            summary=None,
            recorded_by=ADMIN,
            effective_at=at,
        )


def by() -> dict[str, str]:
    """`recorded_by` for a command written by the admin."""
    return {"recorded_by": ADMIN}


@contextmanager
def rejected(
    ledger: Ledger,
    error: type[LedgerError],
    *,
    field: str | None = None,
    rule: str | None = None,
) -> Iterator[pytest.ExceptionInfo[LedgerError]]:
    """Expect the command in the block to be refused with `error` naming `field` or `rule`,
    and the ledger to hold exactly the events it held before."""
    before = ledger.position
    with pytest.raises(error) as info:
        yield info
    if field is not None:
        assert isinstance(info.value, InvalidInput)
        assert info.value.field == field
    if rule is not None:
        assert isinstance(info.value, RuleViolation)
        assert info.value.rule == rule
    assert str(info.value)
    assert ledger.position == before


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same moment; return results or exceptions."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            outcomes[index] = call()
        except Exception as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes
