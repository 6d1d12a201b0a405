"""Merkle proofs over HTTP on SQLite and PostgreSQL, checked by the auditor's own RFC 9162
verifier (tests/rfc9162.py) from the events as the library reads them back; and a
missing link answered as a mismatch, with nothing written."""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

import support.rfc9162 as rfc9162
from ledger.bootstrap import Container
from ledger.store import library_environment
from support.api_world import ADMIN, World, WorldCase, assert_problem, ok

FAR = 10**12


class ProofsContract(WorldCase):
    position_column: str
    placeholder: str

    def sql(self, url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    @pytest.fixture
    def world(self, app: tuple[TestClient, Container]) -> World:
        world = World(app[0]).build()
        for unit in ("O1", "O2", "O3", "O1", "O2"):
            world.client(unit=unit)
        return world

    def leaves(self, container: Container) -> dict[int, bytes]:
        """Each stored event's leaf hash by position, computed here from what the
        library reads back (its own select, not the ledger's chain code)."""
        stored = container.ledger.recorder.select_notifications(start=1, limit=10_000)
        return {
            n.id: rfc9162.leaf(
                rfc9162.leaf_input(
                    n.id, UUID(str(n.originator_id)), n.originator_version, n.topic, n.state
                )
            )
            for n in stored
        }

    def test_every_event_is_proved_in_the_digest_tree(
        self, app: tuple[TestClient, Container], world: World
    ) -> None:
        leaves = self.leaves(app[1])
        digest = ok(world.api.get("/v1/integrity/digest", headers=ADMIN))
        assert digest["tree_size"] == len(leaves)
        assert digest["position"] == max(leaves)
        assert digest["root_hash"] == rfc9162.mth(list(leaves.values())).hex()
        root = bytes.fromhex(digest["root_hash"])
        for index, (position, leaf) in enumerate(leaves.items()):
            proof = ok(
                world.api.get(
                    f"/v1/integrity/proofs/events/{position}",
                    params={"tree_size": digest["tree_size"]},
                    headers=ADMIN,
                )
            )
            assert (proof["position"], proof["leaf_index"]) == (position, index)
            assert (proof["leaf_hash"], proof["root_hash"]) == (leaf.hex(), digest["root_hash"])
            path = [bytes.fromhex(node) for node in proof["audit_path"]]
            assert rfc9162.verify_inclusion(index, digest["tree_size"], leaf, path, root)

    def test_an_earlier_digest_is_proved_a_prefix_of_a_later_one(
        self, app: tuple[TestClient, Container], world: World
    ) -> None:
        earlier = ok(world.api.get("/v1/integrity/digest", headers=ADMIN))
        world.client()
        world.client(unit="O3")
        later = ok(world.api.get("/v1/integrity/digest", headers=ADMIN))
        first, second = earlier["tree_size"], later["tree_size"]
        assert second == first + 2
        proof = ok(
            world.api.get(
                "/v1/integrity/consistency",
                params={"first": first, "second": second},
                headers=ADMIN,
            )
        )
        assert (proof["first_root"], proof["second_root"]) == (
            earlier["root_hash"],
            later["root_hash"],
        )
        assert rfc9162.verify_consistency(
            first,
            second,
            bytes.fromhex(earlier["root_hash"]),
            bytes.fromhex(later["root_hash"]),
            [bytes.fromhex(node) for node in proof["proof"]],
        )
        # An inclusion proof at the earlier size leads to the earlier root.
        old = ok(
            world.api.get(
                "/v1/integrity/proofs/events/1", params={"tree_size": first}, headers=ADMIN
            )
        )
        assert old["root_hash"] == earlier["root_hash"]

    def test_unknown_positions_are_404_and_bad_sizes_422(self, world: World) -> None:
        size = ok(world.api.get("/v1/integrity/digest", headers=ADMIN))["tree_size"]
        proof = "/v1/integrity/proofs/events/{}"
        assert_problem(world.api.get(proof.format(FAR), headers=ADMIN), 404)
        for position, params in [
            (0, {}),
            ("x", {}),
            (3, {"tree_size": 0}),
            (3, {"tree_size": 2}),  # the event at 3 is leaf 2, not in a tree of 2
            (3, {"tree_size": size + 1}),
            (3, {"tree_size": "many"}),
        ]:
            answer = world.api.get(proof.format(position), params=params, headers=ADMIN)
            assert_problem(answer, 422)
        for first, second in [(0, 1), (2, 1), (1, size + 1), (1, "x")]:
            answer = world.api.get(
                "/v1/integrity/consistency",
                params={"first": first, "second": second},
                headers=ADMIN,
            )
            assert_problem(answer, 422)

    def test_only_auditors_and_admins_get_proofs(self, world: World) -> None:
        for role, status in (("auditor", 200), ("compliance", 403), ("manager", 403)):
            _, headers = world.key(role, "M1" if role == "manager" else None)
            inclusion = world.api.get("/v1/integrity/proofs/events/1", headers=headers)
            consistency = world.api.get(
                "/v1/integrity/consistency", params={"first": 1, "second": 2}, headers=headers
            )
            assert (inclusion.status_code, consistency.status_code) == (status, status), role
        assert_problem(world.api.get("/v1/integrity/proofs/events/1"), 401)

    def test_verify_checks_the_tree_head_of_the_digest_too(self, world: World) -> None:
        digest = ok(world.api.get("/v1/integrity/digest", headers=ADMIN))
        assert ok(world.api.post("/v1/integrity/verify", json=digest, headers=ADMIN))["ok"]
        wrong_root = {**digest, "root_hash": "ab" * 32}
        result = ok(world.api.post("/v1/integrity/verify", json=wrong_root, headers=ADMIN))
        assert (result["ok"], result["first_mismatch"]) == (False, digest["position"])
        wrong_size = {**digest, "tree_size": digest["tree_size"] - 1}
        result = ok(world.api.post("/v1/integrity/verify", json=wrong_size, headers=ADMIN))
        assert (result["ok"], result["first_mismatch"]) == (False, digest["position"])

    def test_a_missing_link_is_a_mismatch_at_its_position_and_verify_writes_nothing(
        self, app: tuple[TestClient, Container], world: World
    ) -> None:
        url = app[1].settings.database_url
        digest = ok(world.api.get("/v1/integrity/digest", headers=ADMIN))
        position = max(self.leaves(app[1])) - 3
        self.sql(url, f"DELETE FROM event_hashes WHERE position = {self.placeholder}", (position,))
        links = self.sql(url, "SELECT count(*) FROM event_hashes")
        result = ok(world.api.post("/v1/integrity/verify", json=digest, headers=ADMIN))
        assert (result["ok"], result["first_mismatch"]) == (False, position)
        assert self.sql(url, "SELECT count(*) FROM event_hashes") == links


class TestProofsOnSQLite(ProofsContract):
    placeholder = "?"

    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url

    def sql(self, url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(library_environment(url)["SQLITE_DBNAME"]) as conn:
            return conn.execute(statement, params).fetchall()


class TestProofsOnPostgres(ProofsContract):
    placeholder = "%s"

    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url

    def sql(self, url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute(statement, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []
