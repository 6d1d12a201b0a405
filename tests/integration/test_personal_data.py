"""Personal data at rest (issue 15): nothing personal in plain text in the store's files or a
dump of its database, lookups by blind index, rotation of the master key without rewriting
an event, and a store from before that refuses an erasure it could not honour."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from ledger.bootstrap import Container, build
from ledger.cli import app as cli
from ledger.config import Settings
from ledger.demo import load_demo, plan_demo
from ledger.domain import Client, RuleViolation
from ledger.privacy import MasterKey
from ledger.privacy.keys import WrongMasterKey
from support.api_world import ADMIN, running_app
from support.pg import ThrowawayPostgres, find_bindir

NAME = "Zhuge Kongming"
PHONE = "13987654321"
SUMMARY = "worried about the Wuzhang plains"
COMPLAINT = "kept waiting at the Jieting counter"
PROSPECT = "Sima Zhongda"
LEGACY = Path(__file__).parent.parent / "fixtures" / "legacy" / "store-478c92c.db"


def _seed(container: Container) -> str:
    """A small demo ledger, plus one client whose name, phone and words are known; the
    read models caught up. Answers a demo client's phone."""
    ledger = container.ledger
    load_demo(ledger, clients=15, seed=3)
    org, _ = plan_demo(seed=3, clients=15)
    unit = org.outlets[0]
    staff = next(s for s in org.managers[unit] if s not in org.departures)
    now = datetime.now(UTC)
    ledger.register_client(
        client_id="K1",
        name=NAME,
        unit_id=unit,
        occurred_at=now - timedelta(days=2),
        recorded_by="t",
    )
    ledger.update_profile(client_id="K1", changes={"phone": PHONE}, recorded_by="t")
    ledger.log_contact(
        client_id="K1",
        channel="visit",
        staff_id=staff,
        purpose="tea",
        summary=SUMMARY,
        occurred_at=now - timedelta(days=1),
        recorded_by="t",
    )
    ledger.log_contact(
        client_id="K1",
        channel="phone",
        staff_id=staff,
        summary=COMPLAINT,
        complaint=True,
        occurred_at=now - timedelta(hours=20),
        recorded_by="t",
    )
    ledger.record_prospect(
        prospect_id="P1",
        name=PROSPECT,
        unit_id=unit,
        source="media",
        owner_staff_id=staff,
        occurred_at=now - timedelta(hours=10),
        recorded_by="t",
    )
    runner = container.start_projections(follow=False)
    runner.rebuild()
    demo_phone = None
    for history in (ledger.client_history(f"C{n:06d}") for n in range(15)):
        for entry in history:
            phone = entry.data.get("changes", {}).get("phone")
            if phone:
                demo_phone = phone
    assert demo_phone is not None
    return demo_phone


class PersonalDataContract:
    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def container(self, settings: Settings) -> Iterator[Container]:
        container = build(settings)
        yield container
        container.close()

    def stored_bytes(self, settings: Settings) -> bytes:
        """Everything the store keeps at rest."""
        raise NotImplementedError

    def test_nothing_personal_is_stored_in_plain_text(
        self, settings: Settings, container: Container
    ) -> None:
        demo_phone = _seed(container)
        ledger = container.ledger
        # Read back whole: the data is there, sealed.
        assert ledger.get_client("K1").name == NAME
        assert ledger.get_client("K1").profile == {"phone": PHONE}
        unit = ledger.get_client("K1").unit_id
        names = [r["name"] for r in container.views.roster.roster(unit)["items"]]
        assert NAME in names
        week = (datetime.now(UTC) - timedelta(days=7), datetime.now(UTC))
        complaints = container.views.reports.complaints(unit, *week)["items"]
        assert [c["summary"] for c in complaints if c["client_id"] == "K1"] == [COMPLAINT]
        container.close()
        stored = self.stored_bytes(settings)
        assert b"Registered" in stored  # the search does see the events
        for secret in (NAME, PHONE, SUMMARY, COMPLAINT, PROSPECT, demo_phone):
            assert secret.encode() not in stored, secret

    def test_a_client_is_found_by_phone_and_name_until_erased(self, container: Container) -> None:
        _seed(container)
        ledger = container.ledger
        subject = str(Client.id_for("K1"))
        assert ledger.find_clients("phone", "139 8765 4321") == ["K1"]
        assert ledger.find_clients("name", "zhuge  KONGMING") == ["K1"]
        assert ledger.find_clients("name", "Kongming") == ["K1"]
        assert ledger.find_clients("phone", "13900000000") == []
        ledger.keyring.erase(subject)
        assert ledger.find_clients("phone", PHONE) == []
        assert ledger.get_client("K1").name == "[erased]"

    def test_rotation_rewraps_every_key_and_rewrites_no_event(
        self, settings: Settings, container: Container
    ) -> None:
        _seed(container)
        before = container.integrity.digest()
        new = MasterKey.generate_text()
        count = container.ledger.keyring.rotate(MasterKey.from_text(new))
        assert count >= 16  # the demo's clients, K1 and the blind-index key
        assert container.integrity.digest() == before
        container.close()
        rotated = build(settings.model_copy(update={"master_key": SecretStr(new)}))
        try:
            assert rotated.ledger.get_client("K1").name == NAME
            assert rotated.integrity.verify(before).ok
        finally:
            rotated.close()
        # The old key opens nothing any more: refused when the ledger is built, not at a read.
        with pytest.raises(WrongMasterKey, match="does not open this store's keys"):
            build(settings)

    def test_adding_many_keys_counts_those_inserted(self, container: Container) -> None:
        table = container.ledger.keyring.table
        table.add("S-had", b"first", "k")
        keys = [("S-had", b"second", "k"), ("S-new", b"new", "k"), ("S-other", b"other", "k")]
        assert table.add_many(keys, [(b"d" * 32, "S-new")]) == 2
        assert table.get("S-had") == (b"first", "k")
        assert table.find(b"d" * 32) == ["S-new"]
        assert table.add_many(keys, []) == 0


class TestPersonalDataOnSQLite(PersonalDataContract):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(
            database_url=f"sqlite:///{tmp_path}/ledger.db",
            master_key=MasterKey.generate_text(),
        )

    def stored_bytes(self, settings: Settings) -> bytes:
        folder = Path(settings.database_url.removeprefix("sqlite:///")).parent
        files = sorted(p for p in folder.iterdir() if p.name.startswith("ledger."))
        assert any(".roster." in p.name for p in files)  # the views' files too
        return b"".join(p.read_bytes() for p in files)


class TestPersonalDataOnPostgres(PersonalDataContract):
    @pytest.fixture
    def settings(self, postgres_url: str, pg_server: ThrowawayPostgres) -> Settings:
        self.pg_server = pg_server
        return Settings(database_url=postgres_url, master_key=MasterKey.generate_text())

    def stored_bytes(self, settings: Settings) -> bytes:
        dump = subprocess.run(
            [str(find_bindir() / "pg_dump"), settings.database_url],
            check=True,
            capture_output=True,
        ).stdout
        assert b"roster_clients" in dump  # the views sit in the same database
        return dump


def test_the_master_key_file_is_made_owner_only_and_named_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEDGER_MASTER_KEY_FILE", raising=False)
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    container = build(Settings(**{"database_url": env["LEDGER_DATABASE_URL"]}))
    container.close()
    key_file = tmp_path / "master-key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    result = CliRunner().invoke(cli, ["keys", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    assert f'"master_key": "{key_file}"' in result.output
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_rotation_from_the_command_line_keeps_every_client_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEDGER_MASTER_KEY_FILE", raising=False)
    url = f"sqlite:///{tmp_path}/ledger.db"
    container = build(Settings(database_url=url))
    try:
        _seed(container)
        digest = container.integrity.digest()
    finally:
        container.close()
    old = (tmp_path / "master-key").read_text()
    result = CliRunner().invoke(cli, ["keys", "rotate"], env={"LEDGER_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "master-key").read_text() != old
    assert not (tmp_path / "master-key.new").exists()
    container = build(Settings(database_url=url))
    try:
        assert container.ledger.get_client("K1").profile == {"phone": PHONE}
        assert container.integrity.verify(digest).ok
    finally:
        container.close()


def test_a_store_from_before_refuses_an_erasure_it_cannot_honour(tmp_path: Path) -> None:
    copy = tmp_path / "ledger.db"
    shutil.copy(LEGACY, copy)
    with running_app(f"sqlite:///{copy}") as (api, container):
        answer = api.post(
            "/v1/clients/C2/erasure",
            json={"reason": "asked", "legal_basis": "PIPL art. 47"},
            headers=ADMIN,
        )
        assert answer.status_code == 409
        problem: dict[str, Any] = answer.json()
        assert problem["rule"] == "personal_data_stored_plain"
        assert "plain text" in problem["detail"]
        with pytest.raises(RuleViolation):
            container.ledger.erase_client(
                client_id="C1", reason="asked", legal_basis="PIPL", recorded_by="t"
            )
        # Nothing was destroyed: the old client still reads whole.
        assert api.get("/v1/clients/C2", headers=ADMIN).json()["erased"] is False
