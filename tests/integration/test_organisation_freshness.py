"""Looks at the organisation inside `fresh_reads()` (each request over HTTP): one query to
the log serves them all, and still every change committed before the context began is
seen, whichever ledger made it; a change saved here is seen at once.

One abstract test class; one subclass per store (memory, SQLite, PostgreSQL).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.application import organisation_cache as cache_module
from ledger.application.organisation_cache import fresh_reads
from ledger.domain import RuleViolation
from support.scenario import (
    NOW,
    Bank,
    by,
    register,
)
from support.stores import TwoLedgersOnOneStore


class Counted:
    """Counts the calls of one method of an object (it still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> None:
        self.calls = 0
        original = getattr(target, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(target, name, counting)


class OrganisationFreshnessContract(TwoLedgersOnOneStore):
    def test_repeated_looks_in_one_context_ask_the_store_nothing_more(
        self, ledger: Ledger, bank: Bank, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with fresh_reads():
            assert ledger.get_staff(bank.manager).status == "active"
            assert ledger.get_unit(bank.outlet).kind == "outlet"
        fast_forwards = Counted(monkeypatch, ledger._organisation.event_store, "get")
        scans = Counted(monkeypatch, ledger.recorder, "originators_after")
        with fresh_reads():
            for _ in range(10):
                assert ledger.get_staff(bank.manager).status == "active"
                assert ledger.get_unit(bank.outlet).kind == "outlet"
        assert (fast_forwards.calls, scans.calls) == (0, 1)

    def test_the_watch_reads_each_event_s_position_and_aggregate_as_the_log_has_them(
        self, ledger: Ledger, bank: Bank
    ) -> None:
        register(ledger, bank, at=NOW - timedelta(days=3))
        log = [(n.id, n.originator_id) for n in ledger.recorder.select_notifications(1, 1000)]
        assert len(log) > 5
        assert ledger.recorder.originators_after(0, 1000) == log
        assert ledger.recorder.originators_after(log[2][0], 2) == log[3:5]
        assert ledger.recorder.originators_after(log[-1][0], 10) == []

    def test_a_departure_another_ledger_recorded_before_the_context_is_seen(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank
    ) -> None:
        client_id = register(ledger, bank, at=NOW - timedelta(days=30))
        with fresh_reads():
            assert ledger.get_staff(bank.manager).status == "active"
        other_ledger.depart_staff(
            staff_id=bank.manager, reason="left", effective_at=NOW - timedelta(days=1), **by()
        )
        with fresh_reads():
            assert ledger.get_staff(bank.manager).status == "departed"
            with pytest.raises(RuleViolation) as refused:
                ledger.log_contact(
                    client_id=client_id,
                    channel="phone",
                    staff_id=bank.manager,
                    occurred_at=NOW,
                    **by(),
                )
        assert refused.value.rule == "staff_departed"

    def test_a_key_another_ledger_revoked_is_refused_from_the_next_context_on(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank
    ) -> None:
        result, token = ledger.issue_api_key(
            role="manager", staff_id=bank.manager, label="m", **by()
        )
        with fresh_reads():
            assert ledger.authenticate(token) is not None
        other_ledger.revoke_api_key(key_id=result.id, **by())
        with fresh_reads():
            assert ledger.authenticate(token) is None

    def test_a_change_saved_here_is_seen_at_once_in_the_same_context(
        self, ledger: Ledger, bank: Bank
    ) -> None:
        result, token = ledger.issue_api_key(
            role="manager", staff_id=bank.manager, label="m", **by()
        )
        with fresh_reads():
            assert ledger.authenticate(token) is not None
            assert ledger.get_staff(bank.other_manager).unit_id == bank.outlet
            ledger.revoke_api_key(key_id=result.id, **by())
            ledger.transfer_staff(
                staff_id=bank.other_manager, unit_id=bank.sub_branch, effective_at=NOW, **by()
            )
            assert ledger.authenticate(token) is None
            assert ledger.get_staff(bank.other_manager).unit_id == bank.sub_branch

    def test_a_watch_far_behind_the_log_still_sees_every_change(
        self,
        ledger: Ledger,
        other_ledger: Ledger,
        bank: Bank,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(cache_module, "SCAN_LIMIT", 3)
        with fresh_reads():
            assert ledger.get_staff(bank.other_manager).unit_id == bank.outlet
            assert ledger.get_staff(bank.manager).status == "active"
        for n in range(5):
            register(other_ledger, bank, at=NOW - timedelta(days=10 + n))
        other_ledger.depart_staff(
            staff_id=bank.manager, reason="left", effective_at=NOW - timedelta(days=1), **by()
        )
        for n in range(5):
            register(other_ledger, bank, at=NOW - timedelta(days=5 + n))
        with fresh_reads():
            assert ledger.get_staff(bank.manager).status == "departed"
        other_ledger.transfer_staff(
            staff_id=bank.other_manager, unit_id=bank.sub_branch, effective_at=NOW, **by()
        )
        with fresh_reads():
            assert ledger.get_staff(bank.other_manager).unit_id == bank.sub_branch


class TestOrganisationFreshnessInMemory(OrganisationFreshnessContract):
    shared_between_instances = False

    @pytest.fixture
    def database_url(self) -> str:
        return "memory://"


class TestOrganisationFreshnessOnSQLite(OrganisationFreshnessContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestOrganisationFreshnessOnPostgres(OrganisationFreshnessContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
