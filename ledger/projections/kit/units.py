"""The bank's tree of units as a closure table, so a subtree is one join."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain import NotFound, Unit
from ledger.projections.kit.engine import BatchView, Handler, Part
from ledger.projections.kit.text import aggregate_key


class UnitTree(Part):
    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_units (unit_id TEXT PRIMARY KEY, aid TEXT, "
            "parent_id TEXT, name TEXT, kind TEXT)",
            f"CREATE TABLE IF NOT EXISTS {p}_unit_paths (ancestor_id TEXT, unit_id TEXT, "
            "PRIMARY KEY (ancestor_id, unit_id))",
            f"CREATE INDEX IF NOT EXISTS {p}_unit_paths_unit ON {p}_unit_paths (unit_id)",
        ]

    def handlers(self) -> dict[type, Handler]:
        return {Unit.Created: self.unit_created}

    def unit_created(self, event: Unit.Created, tracking: Tracking) -> None:
        p, view = self.prefix, self.view
        with view.write() as c:
            view.execute(
                c,
                f"INSERT INTO {p}_units (unit_id, aid, parent_id, name, kind) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (unit_id) DO NOTHING",
                (event.unit_id, aggregate_key(event), event.parent_id, event.name, event.kind),
            )
            view.execute(
                c,
                f"INSERT INTO {p}_unit_paths (ancestor_id, unit_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                (event.unit_id, event.unit_id),
            )
            if event.parent_id is not None:
                view.execute(
                    c,
                    f"INSERT INTO {p}_unit_paths (ancestor_id, unit_id) "
                    f"SELECT ancestor_id, ? FROM {p}_unit_paths WHERE unit_id = ? "
                    "ON CONFLICT DO NOTHING",
                    (event.unit_id, event.parent_id),
                )
            view.advance(tracking)

    def unit(self, unit_id: str) -> dict[str, Any]:
        """`{unit_id, parent_id, name, kind}`; NotFound for a unit the view does not know."""
        rows = self.view.query(
            f"SELECT unit_id, parent_id, name, kind FROM {self.prefix}_units WHERE unit_id = ?",
            (unit_id,),
        )
        if not rows:
            raise NotFound("unit", unit_id)
        return rows[0]

    def children(self, unit_id: str) -> list[str]:
        rows = self.view.query(
            f"SELECT unit_id FROM {self.prefix}_units WHERE parent_id = ? ORDER BY unit_id",
            (unit_id,),
        )
        return [row["unit_id"] for row in rows]


class UnitsAbove:
    """Each unit's ancestors, itself among them, as a view's unit tree holds them (read
    in the open transaction `c`): the units a client-keyed row is kept under, one row per
    unit above the client. A unit the tree does not know is above itself alone."""

    def __init__(self, view: BatchView, c: Any, prefix: str) -> None:
        self._above: dict[str, list[str]] = defaultdict(list)
        for row in view.fetch(c, f"SELECT ancestor_id, unit_id FROM {prefix}_unit_paths"):
            self._above[row["unit_id"]].append(row["ancestor_id"])

    def of(self, unit_id: str) -> list[str]:
        return self._above.get(unit_id) or [unit_id]
