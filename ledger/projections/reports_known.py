"""The managers' reports as the ledger knew them at a past time (`known_at`, API.md 1.1,
Audit). The reports view's intervals and derived rows hold what is known now; what was known
then is worked out from the rows kept with their place in the log (change points, profile
updates, assets, departures) or their recorded time (contacts, prospects), recorded by then.

A retracted event counts until its retraction was recorded: a contact's recorded and
retracted times are kept with it, and a retracted profile update's, assets report's or
complaint's rows are kept aside with the retraction's place (`retracted_facts.py`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.domain.values import ACTIVE, TIERS, VIP_TIERS
from ledger.projections.client_facts import complete
from ledger.projections.kit import placeholders, utc_text
from ledger.projections.kit.intervals import FIELDS, KnownClient
from ledger.projections.kit.text import chunks
from ledger.projections.kit.timeline import asset_deltas, value_at
from ledger.projections.retracted_facts import complaints_known, rows_known

# The clients a report folds: a list, or None for every client of the subtree.
Aids = Sequence[str] | None

if TYPE_CHECKING:
    from ledger.projections.kit import ClientIntervals
    from ledger.projections.kit.staff import StaffTable


class ReportsAsKnown:
    """The reports view's queries as known at a past time (a mixin of `SQLReportsView`)."""

    view_name: str
    intervals: ClientIntervals
    staff: StaffTable

    if TYPE_CHECKING:

        def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def _completeness_rows_known_at(
        self, unit_id: str, as_of: datetime, known_at: datetime, aids: Aids = None
    ) -> list[dict[str, Any]]:
        """The intervals and completeness hold what is known now; what was known then is
        worked out from the change points and profile updates recorded by then (of the
        clients `aids` of the subtree, or of all)."""
        upto = self.intervals.known_position(known_at)
        clients = self._known_subtree(upto, unit_id, aids)
        vip = {}
        for key, client in clients.items():
            values = client.at(as_of)
            if values["status"] == ACTIVE and values["tier"] in VIP_TIERS:
                vip[key] = client
        updates = self._known_rows("profile_updates", list(vip), upto)
        by_unit: dict[str, dict[str, Any]] = {}
        for key, client in vip.items():
            row = by_unit.setdefault(
                client.unit_id, {"unit_id": client.unit_id, "vip_active": 0, "complete": 0}
            )
            row["vip_active"] += 1
            row["complete"] += complete(
                (r["seq"], r["effective_at"], json.loads(r["key_info"])) for r in updates[key]
            )
        return [by_unit[u] for u in sorted(by_unit)]

    def _known_subtree(self, upto: int, unit_id: str, aids: Aids) -> dict[str, KnownClient]:
        """The clients `aids` (every client of the subtree if None) as known at `upto`."""
        if aids is None:
            return self.intervals.known_clients(upto, unit_id=unit_id)
        found: dict[str, KnownClient] = {}
        for part in chunks(aids):
            found.update(self.intervals.known_clients(upto, aids=part))
        return found

    def _known_rows(
        self, table: str, keys: list[str], upto: int
    ) -> defaultdict[str, list[dict[str, Any]]]:
        """Rows of the clients `keys` in `table` (with `seq`) recorded by position `upto`
        and not retracted by then, by client."""
        found: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for part in chunks(keys):
            for row in self.query(
                f"SELECT * FROM {rows_known(self.view_name, table)} "
                f"WHERE t.aid IN {placeholders(part)} AND t.seq <= ?",
                (upto, *part, upto),
            ):
                found[row["aid"]].append(row)
        return found

    def _orphaned_known_at(
        self, unit_id: str, as_of: datetime, known_at: datetime, aids: Aids = None
    ) -> list[dict[str, Any]]:
        """Orphaned clients from the change points and departures recorded by `known_at`
        (of the clients `aids`, or of all), ordered by client id."""
        upto, moment = self.intervals.known_position(known_at), utc_text(as_of)
        departed = self.staff.departures_known(upto)
        rows = []
        for client in self._known_subtree(upto, unit_id, aids).values():
            values = client.at(as_of)
            manager = values["manager"]
            if values["status"] == ACTIVE and manager in departed and departed[manager] <= moment:
                rows.append(
                    {
                        "client_id": client.client_id,
                        "tier": values["tier"],
                        "former_manager": manager,
                        "since": departed[manager],
                    }
                )
        return sorted(rows, key=lambda r: r["client_id"])

    def _portfolio_known_at(
        self, staff_id: str, start: datetime, end: datetime, known_at: datetime
    ) -> dict[str, Any]:
        """The portfolio from the change points and assets reports recorded by `known_at`:
        each change credited to the designated manager of its moment as known then."""
        upto = self.intervals.known_position(known_at)
        held = self.intervals.known_clients(upto, manager=staff_id)
        clients = dict.fromkeys(TIERS, 0)
        for client in held.values():
            values = client.at(end)
            if values["status"] == ACTIVE and values["manager"] == staff_id:
                clients[values["tier"]] += 1  # type: ignore[index]
        reports = self._known_rows("assets", list(held), upto)
        first, last = utc_text(start), utc_text(end)
        change = Decimal(0)
        for key, client in held.items():
            intervals = client.intervals()
            rows = [
                (r["effective_at"], r["seq"], r["version"], Decimal(r["amount"]))
                for r in reports[key]
            ]
            for _version, at, delta in asset_deltas(rows):
                if first <= at < last and value_at(intervals, at, FIELDS.index("manager")) == (
                    staff_id
                ):
                    change += delta
        return {
            "staff_id": staff_id,
            "from": start,
            "to": end,
            "clients": clients,
            "assets_change": change,
        }

    def _contacts_known(
        self, keys: list[str], known_at: datetime, *, before: str
    ) -> defaultdict[str, list[dict[str, Any]]]:
        """The contacts of the clients `keys` that took place by `before` (inclusive),
        recorded by `known_at` and not retracted by then, by client."""
        moment = utc_text(known_at)
        found: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for part in chunks(keys):
            for row in self.query(
                f"SELECT aid, version, occurred_at FROM {self.view_name}_contacts_known "
                f"WHERE aid IN {placeholders(part)} AND occurred_at <= ? AND recorded_at <= ? "
                "AND (retracted_at IS NULL OR retracted_at > ?)",
                (*part, before, moment, moment),
            ):
                found[row["aid"]].append(row)
        return found

    def _overdue_rows_known_at(
        self, unit_id: str, as_of: datetime, known_at: datetime, tiers: list[str], aids: Aids
    ) -> list[dict[str, Any]]:
        """The rows `overdue_contacts` works from, as known at `known_at` (of the clients
        `aids`, or of all)."""
        upto, moment = self.intervals.known_position(known_at), utc_text(as_of)
        clients: dict[str, tuple[KnownClient, dict[str, str | None]]] = {}
        for key, client in self._known_subtree(upto, unit_id, aids).items():
            values = client.at(as_of)
            if values["status"] == ACTIVE and values["tier"] in tiers:
                clients[key] = (client, values)
        contacts = self._contacts_known(list(clients), known_at, before=moment)
        return [
            {
                "client_id": client.client_id,
                "registered_at": client.registered_at,
                "tier": values["tier"],
                "manager": values["manager"],
                "last": max((r["occurred_at"] for r in contacts[key]), default=None),
            }
            for key, (client, values) in clients.items()
        ]

    def _complaint_rows_known_at(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime
    ) -> list[dict[str, Any]]:
        """The rows `complaints` works from, as known at `known_at`: complaints recorded by
        then, each with the designated manager of its time as known then."""
        p, upto, moment = (
            self.view_name,
            self.intervals.known_position(known_at),
            utc_text(known_at),
        )
        clients = self.intervals.known_clients(upto, unit_id=unit_id)
        rows = []
        for part in chunks(list(clients)):
            rows += self.query(
                "SELECT k.aid AS aid, k.version AS version, k.staff_id AS staff_id, "
                f"k.occurred_at AS occurred_at, k.summary AS summary FROM {complaints_known(p)} "
                f"JOIN {p}_contacts_known r ON r.aid = k.aid AND r.version = k.version "
                f"WHERE k.aid IN {placeholders(part)} AND k.occurred_at >= ? "
                "AND k.occurred_at < ? AND r.recorded_at <= ? "
                "AND (r.retracted_at IS NULL OR r.retracted_at > ?)",
                (*part, utc_text(start), utc_text(end), moment, moment),
            )
        for row in rows:
            client = clients[row["aid"]]
            row["client_id"] = client.client_id
            row["designated_manager"] = client.at_text(row["occurred_at"])["manager"]
        rows.sort(key=lambda r: (r["occurred_at"], r["client_id"], r["version"]))
        return [{k: v for k, v in r.items() if k != "version"} for r in rows]
