"""The maintenance read model's part: each client kept as one file (its timelines in
effective time, as JSON, refolded by the pure rules of `maintenance_rules.py` at the time a
question names; its asset statements beside it, `maintenance_assets.py`) and its contacts as
rows of their own (a client may have thousands); with the staff and the heads of units (kit
parts), the organisation its rules are folded against; and the pages read from them, a
chunk of clients at a time, in client id order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from ledger.domain import Client, NotFound
from ledger.domain.values import ACTIVE, CHURNED, MAX_LIMIT
from ledger.domain.values import event_id as event_id_of
from ledger.projections import maintenance_assets as statements
from ledger.projections.kit import (
    BatchView,
    Handler,
    Part,
    RecordedTimes,
    StaffTable,
    UnitHeads,
    UnitTree,
)
from ledger.projections.kit.text import CHUNK, aggregate_key, next_chunk, placeholders, utc_text
from ledger.projections.maintenance_known import contacts_known, retract, stored_file
from ledger.projections.maintenance_latest import LatestContacts
from ledger.projections.maintenance_organisation import KeptOrganisation
from ledger.projections.maintenance_rules import (
    ClientFile,
    Contact,
    Organisation,
    insert,
    new_file,
)

# The preferences segments and roster filters read (DOMAIN.md 1.1, Segments).
PREFERENCES = ("risk_appetite", "product_horizon", "business_interests")

Page = dict[str, Any]
# What a report makes of one client, given the chunk's contacts and the organisation.
Evaluate = Callable[[ClientFile, list[Contact], Organisation], list[Any]]
# The next clients of a page: (after client id, how many) -> rows of aid, client_id, data.
Candidates = Callable[[str, int], list[dict[str, Any]]]


class ClientFiles(Part):
    """Each client's file and its contacts, and the pages read from them."""

    def __init__(
        self,
        view: BatchView,
        units: UnitTree,
        staff: StaffTable,
        heads: UnitHeads,
        recorded: RecordedTimes,
        latest: LatestContacts,
    ) -> None:
        super().__init__(view)
        self.units, self.staff, self.heads, self.recorded = units, staff, heads, recorded
        self.latest = latest
        self.organisation = KeptOrganisation(view, staff, heads)

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            # (A view built before the standings has two more columns, ever_vip and
            # peak_assets, prefilters no query reads now.)
            f"CREATE TABLE IF NOT EXISTS {p}_files (aid TEXT PRIMARY KEY, client_id TEXT, "
            "unit_id TEXT, referred_by TEXT, source TEXT, registered_at TEXT, data TEXT, "
            "assets TEXT)",
            f"CREATE TABLE IF NOT EXISTS {p}_contacts (aid TEXT, occurred_at TEXT, "
            "version BIGINT, staff_id TEXT, channel TEXT, PRIMARY KEY (aid, occurred_at, version))",
            # Each contact's place in the log, and a retracted contact kept with the place of
            # its retraction: the reports as known at a past time (`known_at`).
            f"CREATE TABLE IF NOT EXISTS {p}_contacts_known (aid TEXT, version BIGINT, "
            "seq BIGINT, PRIMARY KEY (aid, version))",
            f"CREATE TABLE IF NOT EXISTS {p}_contacts_retracted (aid TEXT, occurred_at TEXT, "
            "version BIGINT, staff_id TEXT, channel TEXT, seq BIGINT, retracted_seq BIGINT, "
            "PRIMARY KEY (aid, version))",
            # Kept while rebuilding too: the standings look up referrers and whom a client
            # referred as they go (`ClientStandings`).
            f"CREATE INDEX IF NOT EXISTS {p}_files_client ON {p}_files (client_id)",
            f"CREATE INDEX IF NOT EXISTS {p}_files_referrer ON {p}_files (referred_by)",
        ]

    def query_indexes(self) -> list[str]:
        p = self.prefix
        return [f"CREATE INDEX IF NOT EXISTS {p}_files_unit ON {p}_files (unit_id, client_id)"]

    def upgrade(self) -> None:
        """A view that kept no recorded times (before 1.1's `known_at`) replays the log."""
        statements.keep_statements_apart(self.view, self.prefix)
        with self.view.transaction() as c:
            files = self.view.fetch(c, f"SELECT aid FROM {self.prefix}_files LIMIT 1")
        if files and not self.recorded.kept_any():
            self.view.reset()

    def handlers(self) -> dict[type, Handler]:
        return {
            Client.Registered: self.registered,
            Client.TierChanged: self.tier_changed,
            Client.Assigned: self.assigned,
            Client.AssignmentAcknowledged: self.acknowledged,
            Client.Churned: self.churned,
            Client.Reactivated: self.reactivated,
            Client.AssetsReported: self.assets_reported,
            Client.ProfileUpdated: self.profile_updated,
            Client.ContactLogged: self.contact_logged,
            Client.EventRetracted: self.retracted,
        }

    # ---- updates ------------------------------------------------------------------------

    def _change(
        self, event: Any, tracking: Tracking, change: Callable[[ClientFile, str, int], None]
    ) -> None:
        """`change(file, effective_at, seq)` on the event's client file."""
        view, key = self.view, aggregate_key(event)
        with view.write() as c:
            files: dict[str, ClientFile | None] = view.batch_memo("files", dict)
            if key not in files:
                files[key] = statements.read_file(view, c, self.prefix, key)
            file = files[key]
            if file is not None:
                change(file, utc_text(event.effective_at), tracking.notification_id)
                self.recorded.note(c, tracking, event)
                view.mark("file", key, tracking.notification_id)
            view.advance(tracking)

    def registered(self, event: Client.Registered, tracking: Tracking) -> None:
        key = aggregate_key(event)
        file = new_file(
            event.client_id,
            event.unit_id,
            utc_text(event.effective_at),
            tracking.notification_id,
            event.tier,
        )
        file["source"], file["referred_by"] = event.source, event.referred_by
        with self.view.write() as c:
            self.view.batch_memo("files", dict)[key] = file
            self.recorded.note(c, tracking, event)
            self.view.mark("file", key, tracking.notification_id)
            self.view.advance(tracking)

    def tier_changed(self, event: Client.TierChanged, tracking: Tracking) -> None:
        self._change(event, tracking, lambda f, at, seq: insert(f["tiers"], [at, seq, event.tier]))

    def churned(self, event: Client.Churned, tracking: Tracking) -> None:
        self._change(event, tracking, lambda f, at, seq: insert(f["statuses"], [at, seq, CHURNED]))

    def reactivated(self, event: Client.Reactivated, tracking: Tracking) -> None:
        self._change(event, tracking, lambda f, at, seq: insert(f["statuses"], [at, seq, ACTIVE]))

    def assigned(self, event: Client.Assigned, tracking: Tracking) -> None:
        def change(file: ClientFile, at: str, seq: int) -> None:
            timeline = file["team"].setdefault(event.role, [])
            insert(timeline, [at, seq, event.staff_id, event.event_id])

        self._change(event, tracking, change)

    def acknowledged(self, event: Client.AssignmentAcknowledged, tracking: Tracking) -> None:
        def change(file: ClientFile, at: str, seq: int) -> None:
            insert(file["acks"], [at, seq, event.assignment_event_id])

        self._change(event, tracking, change)

    def assets_reported(self, event: Client.AssetsReported, tracking: Tracking) -> None:
        def change(file: ClientFile, at: str, seq: int) -> None:
            entry = [at, seq, str(event.amount), event.originator_version]
            insert(statements.statements_changed(file), entry)

        self._change(event, tracking, change)

    def profile_updated(self, event: Client.ProfileUpdated, tracking: Tracking) -> None:
        preferences = {k: v for k, v in event.changes.items() if k in PREFERENCES}
        if not preferences:
            self.view.track(tracking)
            return
        self._change(
            event,
            tracking,
            lambda f, at, seq: insert(f["prefs"], [at, seq, preferences, event.originator_version]),
        )

    def contact_logged(self, event: Client.ContactLogged, tracking: Tracking) -> None:
        """Marks the client "standing": its duties and the board move with its contacts."""
        view, p, key, version = (
            self.view,
            self.prefix,
            aggregate_key(event),
            event.originator_version,
        )
        occurred_at = utc_text(event.effective_at)
        with view.write() as c:
            view.execute(
                c,
                f"INSERT INTO {p}_contacts (aid, occurred_at, version, staff_id, channel) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (key, occurred_at, version, event.staff_id, event.channel),
            )
            self.latest.logged(key, occurred_at, event.staff_id, event.channel)
            view.execute(
                c,
                f"INSERT INTO {p}_contacts_known (aid, version, seq) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (key, version, tracking.notification_id),
            )
            self.recorded.note(c, tracking, event)
            view.mark("standing", key, tracking.notification_id)
            view.advance(tracking)

    def retracted(self, event: Client.EventRetracted, tracking: Tracking) -> None:
        client = event.originator_id

        def keep(entry: list[Any]) -> bool:
            return event_id_of(client, entry[3]) != event.retracted_event_id

        def change(file: ClientFile, at: str, seq: int) -> None:
            statements.statements_changed(file)
            for name in ("assets", "prefs"):
                retract(file, seq, name, [e for e in file[name] if not keep(e)])
                file[name] = [e for e in file[name] if keep(e)]

        self._change(event, tracking, change)
        view, key, p = self.view, aggregate_key(event), self.prefix
        with view.write() as c:
            for row in view.fetch(
                c, f"SELECT version, staff_id, channel FROM {p}_contacts WHERE aid = ?", (key,)
            ):
                if event_id_of(UUID(key), row["version"]) == event.retracted_event_id:
                    gone = (key, row["version"])
                    view.execute(
                        c,
                        f"INSERT INTO {p}_contacts_retracted (aid, occurred_at, version, "
                        "staff_id, channel, seq, retracted_seq) SELECT c.aid, c.occurred_at, "
                        f"c.version, c.staff_id, c.channel, k.seq, ? FROM {p}_contacts c JOIN "
                        f"{p}_contacts_known k ON k.aid = c.aid AND k.version = c.version "
                        "WHERE c.aid = ? AND c.version = ? ON CONFLICT DO NOTHING",
                        (tracking.notification_id, *gone),
                    )
                    view.execute(c, f"DELETE FROM {p}_contacts WHERE aid = ? AND version = ?", gone)
                    self.latest.retracted(c, key, row["staff_id"], row["channel"])

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        files: dict[str, ClientFile | None] = self.view.batch_memo("files", dict)
        rows = []
        for key in sorted(marked.get("file", ())):
            file = files.get(key)
            if file is None:
                continue
            rows.append(
                (
                    key,
                    file["client_id"],
                    file["unit_id"],
                    file.get("referred_by"),
                    file.get("source"),
                    file["registered_at"],
                    *statements.dumped(file),
                )
            )
        self.view.execute_many(
            c,
            f"INSERT INTO {self.prefix}_files (aid, client_id, unit_id, referred_by, source, "
            "registered_at, data, assets) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (aid) DO UPDATE SET data = excluded.data, assets = excluded.assets",
            rows,
        )

    # ---- reading ------------------------------------------------------------------------

    def contacts(
        self,
        keys: Sequence[str],
        before: str,
        *,
        latest_only: bool = False,
        since: str = "",
        channels: Sequence[str] = (),
        cursor: Any = None,
        upto: int | None = None,
    ) -> dict[str, list[Contact]]:
        """Each client's latest contact in `[since, before)` per staff member and channel
        (of `channels` if given); with `latest_only`, only its latest (by whom and how left
        out); with `upto`, of those known at that position of the log. Read in the open
        transaction `cursor` if given."""
        found: dict[str, list[Contact]] = defaultdict(list)
        if not keys:
            return found
        p, by = self.prefix, "" if latest_only else ", staff_id, channel"
        how = f" AND channel IN {placeholders(channels)}" if channels else ""
        contacts, known = f"{p}_contacts", ()
        if upto is not None:
            contacts, known = contacts_known(p), (upto, upto, upto)
        statement = (
            f"SELECT aid{by}, MAX(occurred_at) AS occurred_at FROM {contacts} "
            f"WHERE aid IN {placeholders(keys)} AND occurred_at >= ? AND occurred_at < ?{how} "
            f"GROUP BY aid{by}"
        )
        params = (*known, *keys, since, before, *channels)
        rows = (
            self.view.fetch(cursor, statement, params)
            if cursor is not None
            else self.view.query(statement, params)
        )
        for row in rows:
            found[row["aid"]].append(
                Contact(row.get("staff_id", ""), row.get("channel", ""), row["occurred_at"])
            )
        return found

    def page(
        self,
        unit_id: str,
        evaluate: Evaluate,
        *,
        limit: int,
        cursor: str | None,
        candidates: Candidates,
        contacts: Callable[[list[str]], dict[str, list[Contact]]] | None = None,
        upto: int | None = None,
    ) -> Page:
        """`evaluate` over the `candidates(after, size)` of the subtree (see
        `ClientStandings.candidates`) in client id order, with their `contacts` if asked, a
        chunk at a time, until the page holds `limit` items (a client's items stay on one
        page). A chunk is the page's size, the next one sized by `next_chunk`, up to
        `CHUNK`: each chunk's contacts are read whole. With `upto`, each file as known at
        that position of the log."""
        self.units.unit(unit_id)
        limit = max(1, min(limit, MAX_LIMIT))
        org = self.organisation.at(upto)
        after, items = cursor or "", []
        size = min(CHUNK, limit + 1)
        while True:
            rows, before = candidates(after, size), len(items)
            found = contacts([row["aid"] for row in rows]) if contacts else {}
            for index, row in enumerate(rows):
                file = stored_file(row["text"], upto)
                if file is not None:
                    items.extend(evaluate(file, found.get(row["aid"], []), org))
                if len(items) >= limit:
                    last = index == len(rows) - 1 and len(rows) < size
                    return {"items": items, "next_cursor": None if last else row["client_id"]}
            if len(rows) < size:
                return {"items": items, "next_cursor": None}
            gave = len(items) - before
            after, size = rows[-1]["client_id"], next_chunk(size, gave, limit - len(items))

    def subtree(self, unit_id: str) -> Candidates:
        """Every client of the subtree, as `page`'s candidates: the reports as known at a
        past time, which the standings (kept as of now) cannot tell."""
        p = self.prefix

        def read(after: str, size: int) -> list[dict[str, Any]]:
            return self.view.query(
                "SELECT f.aid AS aid, f.client_id AS client_id, "
                f"{statements.file_text('f')} AS text FROM {p}_files f "
                f"JOIN {p}_unit_paths u ON u.unit_id = f.unit_id AND u.ancestor_id = ? "
                "WHERE f.client_id > ? ORDER BY f.client_id LIMIT ?",
                (unit_id, after, size),
            )

        return read

    def referred(self, client_id: str) -> dict[str, list[str]]:
        """Who each client of `client_id`'s referral tree referred; NotFound for an
        unknown client."""
        p = self.prefix
        if not self.view.query(f"SELECT 1 AS one FROM {p}_files WHERE client_id = ?", (client_id,)):
            raise NotFound("client", client_id)
        children: dict[str, list[str]] = defaultdict(list)
        frontier, seen = [client_id], {client_id}
        while frontier:
            level = frontier[:CHUNK]
            frontier = frontier[CHUNK:]
            for row in self.view.query(
                f"SELECT client_id, referred_by FROM {p}_files "
                f"WHERE referred_by IN {placeholders(level)}",
                level,
            ):
                children[row["referred_by"]].append(row["client_id"])
                if row["client_id"] not in seen:
                    seen.add(row["client_id"])
                    frontier.append(row["client_id"])
        return children
