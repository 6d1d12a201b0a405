"""A roster page opens its clients' sealed names with one read of their keys, not one per
client (a branch page of 100 new names at the 100,000-client demo: 6.1 -> 2.5 ms of CPU)."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ledger.bootstrap import Container
from ledger.domain import Client
from ledger.privacy import KeyRing
from ledger.privacy.keys import KeyTable, MemoryKeyTable
from support.projection_scenarios import BY, build_org

NOW = datetime.now(UTC)


class CountingKeys(MemoryKeyTable):
    """The ledger's keys, read through a table that counts its reads."""

    def __init__(self, table: KeyTable) -> None:
        super().__init__()
        self.table, self.reads = table, 0

    def get(self, subject: str) -> tuple[bytes | None, str | None] | None:
        self.reads += 1
        return self.table.get(subject)

    def get_many(self, subjects: Sequence[str]) -> dict[str, tuple[bytes | None, str | None]]:
        self.reads += 1
        return self.table.get_many(subjects)


def test_a_page_reads_its_clients_keys_once_and_an_erased_key_opens_no_name(
    container: Container,
) -> None:
    app = container.ledger
    build_org(app, NOW - timedelta(days=400))
    for n in range(12):
        app.register_client(
            client_id=f"C{n:02d}",
            name=f"名字 {n}",
            unit_id=("O1", "O3")[n % 2],
            occurred_at=NOW - timedelta(days=100),
            recorded_by=BY,
        )
    container.start_projections(follow=False).catch_up()
    app.keyring.erase(str(Client.id_for("C03")))
    view = container.views.roster
    # Another process's ring: no key unwrapped yet.
    keys = CountingKeys(app.keyring.table)
    view.keyring = KeyRing(app.keyring.master, keys)

    page = view.roster("B", limit=10)

    assert keys.reads == 1
    names = {row["client_id"]: row["name"] for row in page["items"]}
    assert names == {f"C{n:02d}": None if n == 3 else f"名字 {n}" for n in range(10)}
    assert "aid" not in page["items"][0]
    assert view.roster("B", limit=10, cursor=page["next_cursor"])["items"][-1]["name"] == "名字 11"
    assert keys.reads == 2
