"""Who heads each unit from when: the one home of the unit-head handlers the accountability
and maintenance read models both need."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain import Unit
from ledger.projections.kit.engine import BatchView, Handler, Part
from ledger.projections.kit.text import aggregate_key, utc_text
from ledger.projections.kit.timeline import Change, Interval, fold_intervals

# Told of each head event, in its transaction, before its row: (cursor, unit key, tracking,
# event).
HeadListener = Callable[[Any, str, Tracking, Any], None]


class UnitHeads(Part):
    """`{p}_heads (unit_aid, seq, effective_at, staff_id)`, a row per appointment and, with
    `vacancies`, per vacancy (staff_id NULL). Each head event marks its unit "unit".

    The maintenance view keeps appointments only, as it always has: what its reports say
    of a unit whose head left is its last head appointed, and that does not change here."""

    def __init__(self, view: BatchView, *, vacancies: bool) -> None:
        super().__init__(view)
        self.vacancies = vacancies
        self.listeners: list[HeadListener] = []

    def tables(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.prefix}_heads (unit_aid TEXT, seq BIGINT, "
            "effective_at TEXT, staff_id TEXT, PRIMARY KEY (unit_aid, seq))",
        ]

    def handlers(self) -> dict[type, Handler]:
        if self.vacancies:
            return {Unit.HeadAppointed: self.appointed, Unit.HeadVacated: self.vacated}
        return {Unit.HeadAppointed: self.appointed}

    def appointed(self, event: Unit.HeadAppointed, tracking: Tracking) -> None:
        self._head_from(event, tracking, event.staff_id)

    def vacated(self, event: Unit.HeadVacated, tracking: Tracking) -> None:
        self._head_from(event, tracking, None)

    def _head_from(self, event: Any, tracking: Tracking, staff_id: str | None) -> None:
        """From the event's effective time the unit is headed by `staff_id` (None: nobody)."""
        key = aggregate_key(event)
        with self.view.write() as c:
            for listener in self.listeners:
                listener(c, key, tracking, event)
            self.view.record(
                f"INSERT INTO {self.prefix}_heads (unit_aid, seq, effective_at, staff_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (key, tracking.notification_id, utc_text(event.effective_at), staff_id),
                tracking,
                mark="unit",
            )

    def by_unit(self, c: Any = None) -> dict[str, list[list[Any]]]:
        """Every unit's `[effective_at, seq, staff_id]` rows, in effective order (the units
        are the view's `UnitTree`); read in the open transaction `c` if given."""
        p = self.prefix
        heads: dict[str, list[list[Any]]] = defaultdict(list)
        statement = (
            f"SELECT u.unit_id AS unit_id, h.seq AS seq, h.effective_at AS effective_at, "
            f"h.staff_id AS staff_id FROM {p}_heads h JOIN {p}_units u ON u.aid = h.unit_aid "
            "ORDER BY h.effective_at, h.seq"
        )
        rows = self.view.fetch(c, statement) if c is not None else self.view.query(statement)
        for row in rows:
            heads[row["unit_id"]].append([row["effective_at"], row["seq"], row["staff_id"]])
        return heads

    def intervals(self, c: Any, unit_id: str, upto: int | None = None) -> list[Interval]:
        """Who headed `unit_id` when, from the events up to position `upto` (all of them
        when None)."""
        rows = self.view.fetch(
            c,
            f"SELECT seq, effective_at, staff_id FROM {self.prefix}_heads WHERE unit_aid = ? "
            "AND seq <= ?",
            (str(Unit.id_for(unit_id)), upto if upto is not None else 2**62),
        )
        return fold_intervals(
            (Change(r["effective_at"], r["seq"], "head", r["staff_id"]) for r in rows), ("head",)
        )
