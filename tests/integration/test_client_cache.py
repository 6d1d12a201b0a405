"""Clients kept between commands (ledger.application.client_cache): the next command on a
client loads nothing, yet what another ledger wrote meanwhile is never lost, a refused
command leaves nothing kept, and an erased client is not kept. On each store."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.application.organisation_cache import fresh_reads
from ledger.domain import Client, InvalidInput
from support.scenario import NOW, Bank, by, register
from support.stores import TwoLedgersOnOneStore

FRESH = pytest.mark.parametrize("fresh", [False, True], ids=["plain", "in-a-request"])


def contact(ledger: Ledger, bank: Bank, client_id: str, minutes: int, **more: Any) -> Any:
    fields = {"staff_id": bank.manager, **more}
    return ledger.log_contact(
        client_id=client_id,
        channel="phone",
        occurred_at=NOW - timedelta(minutes=100 - minutes),
        **fields,
        **by(),
    )


def context(fresh: bool) -> contextlib.AbstractContextManager[None]:
    return fresh_reads() if fresh else contextlib.nullcontext()


class ClientCacheContract(TwoLedgersOnOneStore):
    def test_the_next_command_on_a_client_loads_it_from_no_snapshot_or_replay(
        self, ledger: Ledger, bank: Bank, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        client_id = register(ledger, bank, at=NOW - timedelta(days=30))
        contact(ledger, bank, client_id, 1)
        loads: list[object] = []
        original = ledger.repository._reconstruct_aggregate

        def counting(*args: Any, **kwargs: Any) -> Any:
            loads.append(args[0])
            return original(*args, **kwargs)

        monkeypatch.setattr(ledger.repository, "_reconstruct_aggregate", counting)
        for minute in range(2, 6):
            with fresh_reads():
                written = contact(ledger, bank, client_id, minute)
        assert loads == []
        assert written.version == 6
        types = [entry.type for entry in ledger.client_history(client_id)]
        assert types.count("ContactLogged") == 5

    @FRESH
    def test_what_another_ledger_wrote_meanwhile_is_built_upon(
        self, ledger: Ledger, other_ledger: Ledger, bank: Bank, fresh: bool
    ) -> None:
        client_id = register(ledger, bank, at=NOW - timedelta(days=30))
        with context(fresh):
            contact(ledger, bank, client_id, 1)
        contact(other_ledger, bank, client_id, 2, purpose="elsewhere")
        with context(fresh):
            written = contact(ledger, bank, client_id, 3)
        assert written.version == 4
        # Seen before saving, not by losing to it and trying again.
        assert ledger.write_counts().conflicts == 0
        assert ledger.load(Client, client_id).version == 4
        assert other_ledger.load(Client, client_id).version == 4

    def test_a_refused_command_leaves_nothing_kept(self, ledger: Ledger, bank: Bank) -> None:
        client_id = register(ledger, bank, at=NOW - timedelta(days=30))
        contact(ledger, bank, client_id, 1)
        with pytest.raises(InvalidInput):
            contact(ledger, bank, client_id, 2, satisfaction=99)
        assert Client.id_for(client_id) not in ledger._clients._kept
        assert contact(ledger, bank, client_id, 3).version == 3

    def test_an_erased_client_is_not_kept(self, ledger: Ledger, bank: Bank) -> None:
        client_id = register(ledger, bank, at=NOW - timedelta(days=3000))
        contact(ledger, bank, client_id, 1)
        assert Client.id_for(client_id) in ledger._clients._kept
        ledger.churn(
            client_id=client_id,
            kind="normal",
            reason="moved",
            effective_at=NOW - timedelta(days=2900),
            **by(),
        )
        ledger.erase_client(client_id=client_id, reason="asked", legal_basis="PIPL 47", **by())
        assert Client.id_for(client_id) not in ledger._clients._kept


class TestClientCacheInMemory(ClientCacheContract):
    shared_between_instances = False

    @pytest.fixture
    def database_url(self) -> str:
        return "memory://"


class TestClientCacheOnSQLite(ClientCacheContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestClientCacheOnPostgres(ClientCacheContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
