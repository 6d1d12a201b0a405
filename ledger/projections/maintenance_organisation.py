"""The organisation the maintenance reports' rules read (each staff member's role and
departure, each unit's heads), kept between pages while the view stays where it was.

Read anew for every page, it was 313 staff and 33 heads' rows of the 100,000-client demo,
~0.5-0.7 of the 5-6 ms of CPU of an at-risk, duties-overdue or leader-visits page. The view
writes its rows and its tracking position in one transaction, so rows read at one set of
positions are the rows of every read at that set: one small read of the positions tells
whether the kept organisation is the view's. Positions, staff and heads are read in one
snapshot (`snapshot_transaction`: on PostgreSQL a repeatable read), never a reset half seen
under positions the rebuild then reaches again; a page read at a newer position reads them
again."""

from __future__ import annotations

from typing import Any

from ledger.projections.kit import BatchView, StaffTable, UnitHeads
from ledger.projections.maintenance_rules import Organisation


class KeptOrganisation:
    def __init__(self, view: BatchView, staff: StaffTable, heads: UnitHeads) -> None:
        self.view, self.staff, self.heads = view, staff, heads
        self._kept: tuple[tuple[Any, ...], Organisation] | None = None

    def at(self, upto: int | None = None) -> Organisation:
        """The staff and heads (with `upto`, as known at that position of the log: read
        anew, as few pages are)."""
        if upto is not None:
            roles, departed = self.staff.roles_and_departures()
            departed = {**dict.fromkeys(departed), **self.staff.departures_known(upto)}
            return Organisation(roles, departed, self.heads.by_unit(upto=upto))
        with self.view.snapshot_transaction() as c:
            positions = self.view.tracking_positions(c)
            kept = self._kept
            if kept is not None and kept[0] == positions:
                return kept[1]
            roles, departed = self.staff.roles_and_departures(c)
            organisation = Organisation(roles, departed, self.heads.by_unit(c))
        self._kept = (positions, organisation)
        return organisation
