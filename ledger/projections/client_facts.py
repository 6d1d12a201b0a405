"""The facts the managers' reports keep of each client besides its intervals (and the staff,
`kit/staff.py`): contacts, profile updates (key-information completeness) and assets
reports (asset changes credited to the designated manager of the moment).

Contacts, assets and profile updates are kept by event id, so a retraction removes
exactly the retracted event's rows and the derived rows of its client are recomputed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from ledger.domain import Client
from ledger.domain.values import KEY_INFO_FIELDS
from ledger.domain.values import event_id as event_id_of
from ledger.projections.asset_changes import (
    ADDED,
    Statement,
    note_added,
    statement,
    work_out_added,
    write_changes,
)
from ledger.projections.kit import BatchView, ClientIntervals, Handler, Part
from ledger.projections.kit.intervals import IntervalRow
from ledger.projections.kit.text import CHUNK, aggregate_key, chunks, placeholders, utc_text
from ledger.projections.retracted_facts import keep_retracted, replay_unless_kept, retracted_tables

# A profile update's (seq, effective_at, key-information fields it sets).
ProfileUpdate = tuple[int, str, dict[str, Any]]


def _lists() -> defaultdict[str, list[Any]]:
    return defaultdict(list)


def key_info_json(key_info: dict[str, Any]) -> str:
    """The stored form of an update's key information: the same text however it was
    reached (an update, or an upgraded older view). Whether each field is set, never its
    value: completeness needs no more, and a view holds no address or phone (issue 15)."""
    return json.dumps({f: bool(v) for f, v in key_info.items()}, sort_keys=True)


def complete(updates: Iterable[ProfileUpdate]) -> int:
    """1 when the latest address, phone and employer (in effective order, then recorded
    order) are all present."""
    latest: dict[str, Any] = {}
    for _seq, _at, key_info in sorted(updates, key=lambda u: (u[1], u[0])):
        latest.update(key_info)
    return int(all(latest.get(f) for f in KEY_INFO_FIELDS))


class ClientFacts(Part):
    """Marks clients "keyinfo" and "assets" to recompute, and "assets_added" for new
    statements only (`asset_changes.py`); `intervals` must mark "assets" when a designated
    manager changes (a reassignment moves the credit)."""

    def __init__(self, view: BatchView, intervals: ClientIntervals) -> None:
        super().__init__(view)
        self.intervals = intervals
        intervals.refold_listeners.append(self._refolded)

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            # Rows of retractable events are keyed by (client, version): the key the
            # event id is derived from, and one index serves both lookups and retraction.
            f"CREATE TABLE IF NOT EXISTS {p}_contacts (aid TEXT, occurred_at TEXT, "
            "version BIGINT, staff_id TEXT, PRIMARY KEY (aid, occurred_at, version))",
            # One row per profile update: its key-information fields as a JSON object.
            f"CREATE TABLE IF NOT EXISTS {p}_profile_updates (aid TEXT, version BIGINT, "
            "seq BIGINT, effective_at TEXT, key_info TEXT, PRIMARY KEY (aid, version))",
            f"CREATE TABLE IF NOT EXISTS {p}_keyinfo (aid TEXT PRIMARY KEY, complete BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {p}_assets (aid TEXT, version BIGINT, seq BIGINT, "
            "effective_at TEXT, amount TEXT, PRIMARY KEY (aid, version))",
            f"CREATE TABLE IF NOT EXISTS {p}_asset_changes (aid TEXT, version BIGINT, "
            "effective_at TEXT, delta TEXT, manager TEXT, PRIMARY KEY (aid, version))",
            # Contacts that carried a complaint (version 1.1): a table of their own, so a
            # view built before needs no new column, and contacts stay four narrow columns.
            f"CREATE TABLE IF NOT EXISTS {p}_complaints (aid TEXT, version BIGINT, "
            "occurred_at TEXT, staff_id TEXT, summary TEXT, PRIMARY KEY (aid, version))",
            # When each contact was recorded, and retracted: the reports as known at a past
            # time (API.md 1.1, Audit). Kept apart so `contacts` stays narrow for the reads
            # of now, and a retraction leaves this row, marked.
            f"CREATE TABLE IF NOT EXISTS {p}_contacts_known (aid TEXT, version BIGINT, "
            "occurred_at TEXT, recorded_at TEXT, retracted_at TEXT, "
            "PRIMARY KEY (aid, version))",
            *retracted_tables(p),
        ]

    def query_indexes(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE INDEX IF NOT EXISTS {p}_asset_changes_manager "
            f"ON {p}_asset_changes (manager, effective_at)",
            # The complaints report starts from the period's complaints, not from every
            # client of the subtree: 143 -> 19 ms of SQL for a branch of 100,000 clients.
            f"CREATE INDEX IF NOT EXISTS {p}_complaints_at ON {p}_complaints (occurred_at)",
        ]

    def handlers(self) -> dict[type, Handler]:
        return {
            Client.ContactLogged: self.contact_logged,
            Client.ProfileUpdated: self.profile_updated,
            Client.AssetsReported: self.assets_reported,
            Client.EventRetracted: self.retracted,
        }

    def upgrade(self) -> None:
        self._upgrade_profile_rows()
        self._upgrade_baselines()
        replay_unless_kept(self.view, self.prefix)

    def _upgrade_baselines(self) -> None:
        """A view built when a client's first asset statement was credited in full: its
        baseline rows gone (DOMAIN.md 1.1, Performance credit). Done once; the marker table
        says so."""
        p, view = self.prefix, self.view
        marker = f"{p}_baselines_uncredited"
        with view.transaction() as c:
            if view.has_table(c, marker):
                return
            view.execute(
                c,
                f"DELETE FROM {p}_asset_changes WHERE NOT EXISTS (SELECT 1 FROM {p}_assets a "
                f"JOIN {p}_assets b ON b.aid = a.aid AND (b.effective_at < a.effective_at OR "
                "(b.effective_at = a.effective_at AND b.seq < a.seq)) "
                f"WHERE a.aid = {p}_asset_changes.aid AND a.version = {p}_asset_changes.version)",
            )
            view.execute(c, f"CREATE TABLE {marker} (done BIGINT)")

    def _upgrade_profile_rows(self) -> None:
        """A view built when profile updates were kept a row per field: the same updates
        a row each, and the old table gone."""
        p, view = self.prefix, self.view
        with view.transaction() as c:
            if not view.has_table(c, f"{p}_profile"):
                return
            after = ""
            while part := [
                r["aid"]
                for r in view.fetch(
                    c,
                    f"SELECT DISTINCT aid FROM {p}_profile WHERE aid > ? ORDER BY aid LIMIT ?",
                    (after, CHUNK),
                )
            ]:
                after = part[-1]
                updates: dict[tuple[str, int], tuple[int, str, dict[str, Any]]] = {}
                for row in view.fetch(
                    c,
                    f"SELECT aid, version, field, seq, effective_at, value FROM {p}_profile "
                    f"WHERE aid IN {placeholders(part)}",
                    part,
                ):
                    key = (row["aid"], row["version"])
                    update = updates.setdefault(key, (row["seq"], row["effective_at"], {}))
                    update[2][row["field"]] = row["value"]
                view.execute_many(
                    c,
                    f"INSERT INTO {p}_profile_updates (aid, version, seq, effective_at, "
                    "key_info) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        (client, version, seq, at, key_info_json(key_info))
                        for (client, version), (seq, at, key_info) in updates.items()
                    ),
                )
            view.execute(c, f"DROP TABLE IF EXISTS {p}_profile")

    # ---- updates --------------------------------------------------------------------

    def contact_logged(self, event: Client.ContactLogged, tracking: Tracking) -> None:
        view, p = self.view, self.prefix
        row = (
            aggregate_key(event),
            utc_text(event.effective_at),
            event.originator_version,
            event.staff_id,
        )
        with view.write() as c:
            view.execute(
                c,
                f"INSERT INTO {p}_contacts (aid, occurred_at, version, staff_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                row,
            )
            if event.complaint:
                view.execute(
                    c,
                    f"INSERT INTO {p}_complaints (aid, occurred_at, version, staff_id, "
                    "summary) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    # What the client complained of is personal: sealed like its name.
                    (*row, view.seal(row[0], "complaint", event.summary)),
                )
            view.execute(
                c,
                f"INSERT INTO {p}_contacts_known (aid, version, occurred_at, recorded_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (row[0], row[2], row[1], utc_text(event.timestamp)),
            )
            view.advance(tracking)

    def profile_updated(self, event: Client.ProfileUpdated, tracking: Tracking) -> None:
        view, key = self.view, aggregate_key(event)
        with view.write() as c:
            key_info = {f: v for f, v in event.changes.items() if f in KEY_INFO_FIELDS}
            if key_info:
                self.intervals.record_time(c, tracking.notification_id, event.timestamp)
                update = (tracking.notification_id, utc_text(event.effective_at), key_info)
                view.execute(
                    c,
                    f"INSERT INTO {self.prefix}_profile_updates (aid, version, seq, "
                    "effective_at, key_info) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (key, event.originator_version, *update[:2], key_info_json(key_info)),
                )
                if self._all_in_memory(key):
                    view.batch_memo("profiles", _lists)[key].append(update)
            view.mark("keyinfo", key)
            view.advance(tracking)

    def assets_reported(self, event: Client.AssetsReported, tracking: Tracking) -> None:
        view, key = self.view, aggregate_key(event)
        with view.write() as c:
            seq, moment, version = (
                tracking.notification_id,
                utc_text(event.effective_at),
                event.originator_version,
            )
            view.execute(
                c,
                f"INSERT INTO {self.prefix}_assets (aid, version, seq, effective_at, amount) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (key, version, seq, moment, str(event.amount)),
            )
            self.intervals.record_time(c, seq, event.timestamp)
            in_memory = self._all_in_memory(key)
            if in_memory:
                view.batch_memo("assets", _lists)[key].append((moment, seq, version, event.amount))
            if in_memory or view.rebuilding:  # a rebuild: a chunk of clients a query
                view.mark("assets", key)
            else:
                note_added(view, key, moment, seq)
            view.advance(tracking)

    def retracted(self, event: Client.EventRetracted, tracking: Tracking) -> None:
        """Remove the retracted contact, profile update or assets report (kept aside for
        the reports as known before, `retracted_facts.py`)."""
        p, view, key = self.prefix, self.view, aggregate_key(event)
        with view.write() as c:
            self.intervals.record_time(c, tracking.notification_id, event.timestamp)
            # What this batch holds in memory of the client is now stale: read it back.
            view.batch_memo("retracted", set).add(key)
            rows = view.fetch(
                c,
                f"SELECT version FROM {p}_contacts WHERE aid = ? UNION SELECT version FROM "
                f"{p}_profile_updates WHERE aid = ? UNION SELECT version FROM {p}_assets "
                "WHERE aid = ?",
                (key, key, key),
            )
            client = UUID(key)
            for version in (r["version"] for r in rows):
                if event_id_of(client, version) == event.retracted_event_id:
                    keep_retracted(view, c, p, key, version, tracking.notification_id)
                    for table in ("contacts", "complaints", "profile_updates", "assets"):
                        view.execute(
                            c,
                            f"DELETE FROM {p}_{table} WHERE aid = ? AND version = ?",
                            (key, version),
                        )
                    view.execute(
                        c,
                        f"UPDATE {p}_contacts_known SET retracted_at = ? "
                        "WHERE aid = ? AND version = ?",
                        (utc_text(event.timestamp), key, version),
                    )
            view.mark("keyinfo", key)
            view.mark("assets", key)
            view.advance(tracking)

    def _all_in_memory(self, key: str) -> bool:
        """The client was registered in the open batch and nothing of it was retracted:
        every row of it is in memory, and it has none in the tables from before."""
        return key in self.intervals.registered_in_batch() and key not in self.view.batch_memo(
            "retracted", set
        )

    def _refolded(self, c: Any, keys: Sequence[str], rows: list[IntervalRow]) -> None:
        # Kept for the managers of the asset changes recomputed next, so they need not be
        # read back.
        folded = self.view.batch_memo("folded", _lists)
        assets = self.view.marked.get("assets", ())
        for row in rows:
            if row[0] in assets:
                folded[row[0]].append((row[1], row[2], row[5]))

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        # Clients with new statements only: from the statement before the earliest new one
        # (`asset_changes.py`), those with none before it, or too many, worked out whole.
        assets = set(marked.get("assets", ()))
        added = sorted(marked.get(ADDED, set()) - assets)
        assets.update(work_out_added(self.view, c, self.prefix, added))
        for keys, recompute in (
            (marked.get("keyinfo", ()), self._recompute_keyinfo),
            (assets, self._recompute_assets),
        ):
            in_memory: list[str] = []
            older: list[str] = []
            for key in sorted(keys):
                (in_memory if self._all_in_memory(key) else older).append(key)
            recompute(c, in_memory, in_memory=True)
            for part in chunks(older):
                recompute(c, part, in_memory=False)

    def _inputs(
        self,
        c: Any,
        keys: Sequence[str],
        *,
        in_memory: bool,
        memo: str,
        select: str,
        row: Callable[[dict[str, Any]], tuple[Any, ...]],
        derived: str,
    ) -> dict[str, list[Any]]:
        """What the clients' derived rows are worked out from: for clients all `in_memory`,
        what the batch holds; for the others, their rows read back (`select` names the
        columns and table), their `derived` rows deleted to be written anew."""
        if in_memory:
            return self.view.batch_memo(memo, _lists)  # type: ignore[no-any-return]
        p, view = self.prefix, self.view
        found: defaultdict[str, list[Any]] = defaultdict(list)
        query = f"SELECT aid, {select.format(p=p)} WHERE aid IN {placeholders(keys)}"
        for r in view.fetch(c, query, keys):
            found[r["aid"]].append(row(r))
        view.execute(c, f"DELETE FROM {p}_{derived} WHERE aid IN {placeholders(keys)}", keys)
        return found

    def _recompute_keyinfo(self, c: Any, keys: Sequence[str], *, in_memory: bool) -> None:
        """The clients' key-information completeness, from their profile updates."""
        updates: dict[str, list[ProfileUpdate]] = self._inputs(
            c,
            keys,
            in_memory=in_memory,
            memo="profiles",
            select="seq, effective_at, key_info FROM {p}_profile_updates",
            row=lambda r: (r["seq"], r["effective_at"], json.loads(r["key_info"])),
            derived="keyinfo",
        )
        self.view.execute_many(
            c,
            f"INSERT INTO {self.prefix}_keyinfo (aid, complete) VALUES (?, ?)",
            ((key, complete(updates.get(key, ()))) for key in keys),
        )

    def _recompute_assets(self, c: Any, keys: Sequence[str], *, in_memory: bool) -> None:
        """Each assets report's change and the designated manager credited with it."""
        p, view = self.prefix, self.view
        reports: dict[str, list[Statement]] = self._inputs(
            c,
            keys,
            in_memory=in_memory,
            memo="assets",
            select="seq, version, effective_at, amount FROM {p}_assets",
            row=statement,
            derived="asset_changes",
        )
        write_changes(view, c, p, {key: reports.get(key, []) for key in keys})
