"""The hash chain on SQLite and PostgreSQL: tampering with the database directly is found
at exactly the position tampered with; untouched history verifies."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import DatabaseError, IntegrityError

from integrity_support import outlet_of, populate, register
from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.domain import Client
from ledger.integrity import Digest, UnlinkedLog, verify_bundle
from ledger.store import library_environment

CLIENTS = 7  # 3 organisation events + 7 registrations = positions 1..10
EVENTS = 10


class IntegrityContract:
    """Each backend says how to run raw SQL against its database and how it names the
    position column; the behaviour is the same on both."""

    position_column: str
    placeholder: str
    refused_insert_skips_a_position: int

    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    def execute(self, url: str, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        raise NotImplementedError

    def count(self, url: str, table: str) -> int:
        raise NotImplementedError

    def rows(self, container: Container) -> dict[str, int]:
        """Rows in each table the chain and the tree keep."""
        url = container.settings.database_url
        return {t: self.count(url, t) for t in ("event_hashes", "merkle_leaves", "merkle_nodes")}

    @pytest.fixture
    def container(self, database_url: str) -> Iterator[Container]:
        built = build(Settings(database_url=database_url))
        yield built
        built.close()

    def tamper(self, container: Container, *statements: tuple[str, tuple[Any, ...]]) -> None:
        events = container.ledger.recorder.events_table_name  # type: ignore[attr-defined]
        formatted = [
            (
                sql.format(events=events, pos=self.position_column, p=self.placeholder),
                params,
            )
            for sql, params in statements
        ]
        self.execute(container.settings.database_url, formatted)

    def forge(self, container: Container) -> Digest:
        """Issue 12 item 5: history edited at position 2, every link deleted; the digest
        from before."""
        populate(container.ledger, CLIENTS)
        earlier = container.integrity.digest()
        self.tamper(
            container,
            ("UPDATE {events} SET state = {p} WHERE {pos} = {p}", (b'{"x":1}', 2)),
            ("DELETE FROM event_hashes", ()),
        )
        return earlier

    def test_untouched_history_verifies(self, container: Container) -> None:
        populate(container.ledger, CLIENTS)
        assert container.integrity.verify().as_dict() == {
            "ok": True,
            "checked": EVENTS,
            "first_mismatch": None,
        }
        assert container.integrity.verify(container.integrity.digest()).ok

    def test_changed_state_bytes_fail_at_that_position(self, container: Container) -> None:
        populate(container.ledger, CLIENTS)
        digest = container.integrity.digest()
        self.tamper(
            container, ("UPDATE {events} SET state = {p} WHERE {pos} = {p}", (b'{"x":1}', 6))
        )
        expected = {"ok": False, "checked": 5, "first_mismatch": 6}
        assert container.integrity.verify().as_dict() == expected
        assert container.integrity.verify(digest).as_dict() == expected

    def test_deleted_event_fails_at_its_position(self, container: Container) -> None:
        populate(container.ledger, CLIENTS)
        digest = container.integrity.digest()
        self.tamper(container, ("DELETE FROM {events} WHERE {pos} = {p}", (4,)))
        expected = {"ok": False, "checked": 3, "first_mismatch": 4}
        assert container.integrity.verify().as_dict() == expected
        assert container.integrity.verify(digest).as_dict() == expected

    def test_two_events_swapped_fail_at_the_first(self, container: Container) -> None:
        populate(container.ledger, CLIENTS)
        self.tamper(
            container,
            ("UPDATE {events} SET {pos} = -1 WHERE {pos} = {p}", (5,)),
            ("UPDATE {events} SET {pos} = 5 WHERE {pos} = {p}", (8,)),
            ("UPDATE {events} SET {pos} = 8 WHERE {pos} = {p}", (-1,)),
        )
        assert container.integrity.verify().as_dict() == {
            "ok": False,
            "checked": 4,
            "first_mismatch": 5,
        }

    def test_a_forged_log_with_its_hashes_deleted_does_not_verify(
        self, container: Container
    ) -> None:
        earlier = self.forge(container)
        before = self.rows(container)
        container.close()
        rebuilt = build(container.settings)
        try:
            assert rebuilt.integrity.verify().as_dict() == {
                "ok": False,
                "checked": 0,
                "first_mismatch": 1,  # the first event without its link
            }
            result = rebuilt.integrity.verify(earlier)
            assert (result.ok, result.first_mismatch) == (False, 1)
            rebuilt.integrity.digest()
            rebuilt.integrity.unhashed()
            assert self.rows(rebuilt) == before  # neither start nor verify wrote a row
        finally:
            rebuilt.close()

    def test_history_rewritten_with_its_hashes_fails_against_an_earlier_digest(
        self, container: Container
    ) -> None:
        earlier = self.forge(container)
        # Relinked on purpose, as a forger with the database could: only a digest kept
        # from before, or the tree, finds it.
        assert container.integrity.backfill().linked == EVENTS
        assert container.integrity.verify().ok
        result = container.integrity.verify(earlier)
        assert (result.ok, result.first_mismatch) == (False, earlier.position)

    def test_earlier_digest_still_verifies_after_more_writes(self, container: Container) -> None:
        clients = populate(container.ledger, CLIENTS)
        earlier = container.integrity.digest()
        outlet = outlet_of(container.ledger, clients[0])
        for _ in range(3):
            register(container.ledger, outlet)
        assert container.integrity.digest().position == EVENTS + 3
        assert container.integrity.verify(earlier).as_dict() == {
            "ok": True,
            "checked": EVENTS,
            "first_mismatch": None,
        }

    def test_a_log_from_before_the_chain_is_hashed_by_backfill_only(
        self, container: Container
    ) -> None:
        clients = populate(container.ledger, CLIENTS)
        live = container.integrity.digest()
        self.tamper(
            container,
            ("DELETE FROM event_hashes", ()),
            ("DELETE FROM merkle_leaves", ()),
            ("DELETE FROM merkle_nodes", ()),
        )
        container.close()
        rebuilt = build(container.settings)
        try:
            assert rebuilt.integrity.unhashed() == 1
            assert rebuilt.integrity.verify().first_mismatch == 1
            with pytest.raises(DatabaseError, match="chain backfill"):
                register(rebuilt.ledger, outlet_of(rebuilt.ledger, clients[0]))
            assert rebuilt.integrity.backfill().as_dict() == {"linked": EVENTS, "leaves": EVENTS}
            assert rebuilt.integrity.digest() == live
            assert rebuilt.integrity.verify(live).ok
            assert rebuilt.integrity.unhashed() is None
            register(rebuilt.ledger, outlet_of(rebuilt.ledger, clients[0]))
            assert rebuilt.integrity.verify().as_dict()["checked"] == EVENTS + 1
        finally:
            rebuilt.close()

    def test_a_store_from_before_the_tree_keeps_writing_and_backfill_grows_it(
        self, container: Container
    ) -> None:
        clients = populate(container.ledger, CLIENTS)
        live = container.integrity.digest()
        self.tamper(container, ("DELETE FROM merkle_leaves", ()), ("DELETE FROM merkle_nodes", ()))
        register(container.ledger, outlet_of(container.ledger, clients[0]))
        assert container.integrity.unhashed() == 1
        assert container.integrity.digest().tree_size == 0
        assert container.integrity.backfill().as_dict() == {"linked": 0, "leaves": EVENTS + 1}
        assert container.integrity.unhashed() is None
        assert container.integrity.consistency(EVENTS, EVENTS + 1).first_root == live.root_hash
        register(container.ledger, outlet_of(container.ledger, clients[0]))
        assert container.integrity.digest().tree_size == EVENTS + 2

    def test_backfill_refuses_to_link_events_after_an_existing_chain(
        self, container: Container
    ) -> None:
        populate(container.ledger, CLIENTS)
        self.tamper(container, ("DELETE FROM event_hashes WHERE position > {p}", (EVENTS - 2,)))
        before = self.rows(container)
        with pytest.raises(UnlinkedLog) as refused:
            container.integrity.backfill()
        assert refused.value.position == EVENTS - 1
        assert self.rows(container) == before

    def test_backfill_refuses_to_put_a_changed_event_in_the_tree(
        self, container: Container
    ) -> None:
        populate(container.ledger, CLIENTS)
        self.tamper(
            container,
            ("DELETE FROM merkle_leaves", ()),
            ("DELETE FROM merkle_nodes", ()),
            ("UPDATE {events} SET state = {p} WHERE {pos} = {p}", (b'{"x":1}', 4)),
        )
        with pytest.raises(UnlinkedLog) as refused:
            container.integrity.backfill()
        assert refused.value.position == 4
        assert container.integrity.digest().tree_size == 0

    def test_an_event_without_a_hash_is_not_blessed_by_a_restart(
        self, container: Container
    ) -> None:
        populate(container.ledger, CLIENTS)
        self.tamper(container, ("DELETE FROM event_hashes WHERE position = {p}", (EVENTS,)))
        container.close()
        rebuilt = build(container.settings)
        try:
            assert rebuilt.integrity.verify().first_mismatch == EVENTS
        finally:
            rebuilt.close()

    def test_concurrent_writers_keep_one_chain(self, container: Container) -> None:
        clients = populate(container.ledger, 1)
        outlet = outlet_of(container.ledger, clients[0])
        errors: list[BaseException] = []

        def write() -> None:
            try:
                for _ in range(10):
                    register(container.ledger, outlet)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=write) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert container.integrity.verify().as_dict() == {
            "ok": True,
            "checked": 34,
            "first_mismatch": None,
        }
        digest = container.integrity.digest()
        assert digest.tree_size == 34
        assert container.integrity.verify(digest).ok  # the tree recomputed from the events

    def test_two_processes_writing_at_once_keep_one_chain_and_one_tree(
        self, container: Container
    ) -> None:
        outlet = outlet_of(container.ledger, populate(container.ledger, 1)[0])
        register(container.ledger, outlet)
        script = (
            "from integrity_support import register\n"
            "from ledger.bootstrap import build\n"
            "from ledger.config import Settings\n"
            f"c = build(Settings(database_url={container.settings.database_url!r}))\n"
            f"for _ in range(15): register(c.ledger, {outlet!r})\n"
            "c.close()\n"
        )
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
        writers = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(2)]
        assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
        # This process's writer kept the tree's edge from its own last write; the others
        # have grown the tree since, so it must read the edge afresh.
        register(container.ledger, outlet)
        digest = container.integrity.digest()
        assert digest.tree_size == 36
        assert container.integrity.verify(digest).as_dict() == {
            "ok": True,
            "checked": 36,
            "first_mismatch": None,
        }

    def test_bundle_verifies_offline_and_fails_where_the_store_was_tampered(
        self, container: Container, tmp_path: Path
    ) -> None:
        populate(container.ledger, CLIENTS)
        good = tmp_path / "good.jsonl"
        with good.open("w") as out:
            container.integrity.export(out)
        with good.open() as lines:
            assert verify_bundle(lines).as_dict() == {
                "ok": True,
                "checked": EVENTS,
                "first_mismatch": None,
            }
        self.tamper(container, ("DELETE FROM {events} WHERE {pos} = {p}", (7,)))
        bad = tmp_path / "bad.jsonl"
        with bad.open("w") as out:
            container.integrity.export(out)
        with bad.open() as lines:
            assert verify_bundle(lines).first_mismatch == 7

    def test_a_refused_write_leaves_the_chain_whole(self, container: Container) -> None:
        clients = populate(container.ledger, 2)
        outlet = outlet_of(container.ledger, clients[0])
        recorder = container.ledger.recorder
        [again] = recorder.select_events(Client.id_for(clients[0]))
        # On PostgreSQL the refused insert still takes a value from the position sequence.
        with pytest.raises(IntegrityError):
            recorder.insert_events([again])
        register(container.ledger, outlet)
        digest = container.integrity.digest()
        assert digest.position == 6 + self.refused_insert_skips_a_position
        container.integrity.page_size = 2  # windows of positions, some holding a gap
        assert container.integrity.verify().as_dict() == {
            "ok": True,
            "checked": 6,
            "first_mismatch": None,
        }
        result = container.integrity.verify(digest)
        assert (result.ok, result.checked) == (True, 6)

    def test_history_shows_the_stored_chain_hash(self, container: Container) -> None:
        clients = populate(container.ledger, CLIENTS)
        [entry] = container.ledger.client_history(clients[-1])
        digest = container.integrity.digest()
        assert (entry.position, entry.hash) == (digest.position, digest.hash)


class TestIntegritySQLite(IntegrityContract):
    position_column = "rowid"
    placeholder = "?"
    refused_insert_skips_a_position = 0

    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url

    def execute(self, url: str, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        path = library_environment(url)["SQLITE_DBNAME"]
        with sqlite3.connect(path) as conn:
            for sql, params in statements:
                conn.execute(sql, params)

    def count(self, url: str, table: str) -> int:
        with sqlite3.connect(library_environment(url)["SQLITE_DBNAME"]) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def test_a_write_after_the_last_event_was_deleted_is_refused(
        self, container: Container
    ) -> None:
        # SQLite hands the deleted last event's position to the next insert; the chain
        # already holds that position, so the write fails loudly and changes nothing.
        clients = populate(container.ledger, 2)
        self.tamper(container, ("DELETE FROM {events} WHERE {pos} = {p}", (5,)))
        with pytest.raises(DatabaseError, match="already in the hash chain"):
            register(container.ledger, outlet_of(container.ledger, clients[0]))
        assert container.ledger.position == 4
        assert container.integrity.verify().first_mismatch == 5


class TestIntegrityPostgres(IntegrityContract):
    position_column = "notification_id"
    placeholder = "%s"
    refused_insert_skips_a_position = 1

    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url

    def execute(self, url: str, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        with psycopg.connect(url) as conn:
            for sql, params in statements:
                conn.execute(sql, params)  # type: ignore[arg-type]

    def count(self, url: str, table: str) -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[arg-type]
            return int(row[0]) if row else 0
