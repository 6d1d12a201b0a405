"""The maintenance read model's part that keeps each client's latest contact per staff member
and channel: what a client's standing reads of its contacts (`ClientStandings.recompute`).

Read from the contacts themselves, a standing cost a walk over every contact the client ever
had, for each new one: 58 us of the view's CPU a contact for a new client, 166 at 3,000
contacts, 524 at 10,000 (batches of ten; bench/RESULTS.md section 19). Kept here, a batch
costs an upsert per group its contacts fall in, and a standing a look-up per group, whatever
the client's age.

A row holds the latest `occurred_at` of the client's contacts by that member on that channel
that are not retracted (a retraction works its group out again from the contacts), less any
contact dated at the last time a view can write (`LAST_TEXT`, where times past year 9999 are
clamped), as the walk it replaces left them out. `ClientFiles` calls it as it keeps the
contacts; a view built before it fills it once from the contacts at its next start.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ledger.projections.kit import Part
from ledger.projections.kit.text import LAST_TEXT, chunks, placeholders
from ledger.projections.maintenance_rules import Contact

# The batch's latest contact per group, written at its end (`LatestContacts.flush`).
MEMO = "latest_contacts"


class LatestContacts(Part):
    """`{p}_contacts_latest (aid, staff_id, channel, occurred_at)`."""

    def tables(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} (aid TEXT, staff_id TEXT, channel TEXT, "
            "occurred_at TEXT, PRIMARY KEY (aid, staff_id, channel))"
        ]

    @property
    def table(self) -> str:
        return f"{self.prefix}_contacts_latest"

    def _upsert(self, rows_from: str) -> str:
        """The statement that keeps the later of a row and the one kept (any order)."""
        t = self.table
        return (
            f"INSERT INTO {t} (aid, staff_id, channel, occurred_at) {rows_from} "
            "ON CONFLICT (aid, staff_id, channel) DO UPDATE SET occurred_at = CASE WHEN "
            f"excluded.occurred_at > {t}.occurred_at THEN excluded.occurred_at "
            f"ELSE {t}.occurred_at END"
        )

    def logged(self, key: str, occurred_at: str, staff_id: str, channel: str) -> None:
        """Within the view's `write()`: a contact of the client `key` kept. The batch keeps
        each group's latest and writes them once (`flush`): a client's contacts are mostly
        of one group, and PostgreSQL sends an upsert's rows in one statement only while
        their keys do not repeat."""
        if occurred_at < LAST_TEXT:
            latest, group = self.view.batch_memo(MEMO, dict), (key, staff_id, channel)
            if occurred_at > latest.get(group, ""):
                latest[group] = occurred_at

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        latest = self.view.batch_memo(MEMO, dict)
        self.view.execute_many(
            c, self._upsert("VALUES (?, ?, ?, ?)"), [(*g, at) for g, at in sorted(latest.items())]
        )

    def retracted(self, c: Any, key: str, staff_id: str, channel: str) -> None:
        """Within the view's `write()`, once a contact of the group is gone from the
        contacts: the group's latest worked out again from those left."""
        group = (key, staff_id, channel)
        # The batch's contacts of the group are in the contacts by now (a DELETE sends what
        # waits first): worked out again below with the others.
        self.view.batch_memo(MEMO, dict).pop(group, None)
        self.view.execute(
            c, f"DELETE FROM {self.table} WHERE aid = ? AND staff_id = ? AND channel = ?", group
        )
        self.view.execute(
            c, self._from_contacts("aid = ? AND staff_id = ? AND channel = ? AND "), group
        )

    def _from_contacts(self, where: str) -> str:
        """The upsert of the latest of the contacts `where` (with a trailing AND) selects,
        per group."""
        return self._upsert(
            f"SELECT aid, staff_id, channel, MAX(occurred_at) FROM {self.prefix}_contacts "
            f"WHERE {where}occurred_at < '{LAST_TEXT}' GROUP BY aid, staff_id, channel"
        )

    def upgrade(self) -> None:
        """A view that kept contacts before this table: filled once from them (the marker
        table says so; a new view is marked at once)."""
        view, marker = self.view, f"{self.table}_kept"
        with view.transaction() as c:
            if view.has_table(c, marker):
                return
            view.execute(c, self._from_contacts(""))
            view.execute(c, f"CREATE TABLE {marker} (done BIGINT)")

    def of(self, keys: Sequence[str], cursor: Any) -> dict[str, list[Contact]]:
        """Each client's latest contact per staff member and channel, in the open
        transaction `cursor`."""
        found: dict[str, list[Contact]] = defaultdict(list)
        for part in chunks(list(keys)):
            for row in self.view.fetch(
                cursor,
                f"SELECT aid, staff_id, channel, occurred_at FROM {self.table} "
                f"WHERE aid IN {placeholders(part)}",
                part,
            ):
                found[row["aid"]].append(
                    Contact(row["staff_id"], row["channel"], row["occurred_at"])
                )
        return found
