"""A client's asset statements, kept as text and by version, not by event id.

Every command on a client loads it from its snapshot, and a client on a daily feed of
statements holds thousands of them: kept as typed values (a time, an amount, a date) with
each one's event id in `retractable`, 2,000 statements made a snapshot of 167 KB whose
reading cost 4.8 ms of CPU, against 69 us for a new client (bench/RESULTS.md, section 20).
Kept as text, a snapshot's statements are plain JSON; a statement's event id is derived
from its client and version (`event_id`), so it is worked out only when a retraction names
one, and the values are read only by a look at a time (`assets_at`).

State version 3 of `Client` (`Client.upcast_v2_v3`): the statements of a snapshot taken
before are turned into text there, each keeping its event id in place of its version (and
in `retractable`, where it was).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from ledger.domain.base import timeline_insert


class ClientAssets:
    """The statements `Client` keeps: `[effective_at, version, amount, as_of]` each, as ISO
    text and the amount's text, in effective order (ties in recorded order); `version` is
    the event id of one kept before state version 3."""

    id: UUID
    retracted: dict[str, str]
    assets: list[list[Any]]
    # The versions of retracted statements kept by version.
    retracted_assets: list[int]

    def init_assets(self) -> None:
        self.assets = []
        self.retracted_assets = []

    @staticmethod
    def upcast_assets(state: dict[str, Any]) -> None:
        """A state before version 3: typed statements, each with its event id."""
        state["assets"] = [
            [when.isoformat(), report_id, str(amount), as_of.isoformat()]
            for when, report_id, amount, as_of in state["assets"]
        ]
        state["retracted_assets"] = []

    def asset_reported(
        self, version: int, effective_at: datetime, amount: Decimal, as_of: date
    ) -> None:
        entry = [effective_at.isoformat(), version, str(amount), as_of.isoformat()]
        timeline_insert(self.assets, entry, _effective)

    def assets_at(self, at: datetime) -> tuple[Decimal | None, date | None]:
        """The amount and its date of the statement in force at `at`, if any."""
        current: tuple[Decimal | None, date | None] = (None, None)
        retracted = set(self.retracted_assets)
        for when, version, amount, as_of in self.assets:
            if datetime.fromisoformat(when) > at:
                break
            gone = version in retracted if isinstance(version, int) else version in self.retracted
            if not gone:
                current = (Decimal(amount), date.fromisoformat(as_of))
        return current


def _effective(entry: list[Any]) -> datetime:
    return datetime.fromisoformat(entry[0])
