"""The referral and segment reports from the kept standings (`maintenance_standings.py`):
totals over a subtree, now or as known at a past position of the log. The standings hold
what is known now; as known at a position, a client whose standing moved after it (or
changed after the report's time) is worked out anew from its file as known then
(`maintenance_known.stored_file`), and every other client's standing is the one kept."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.values import ACTIVE
from ledger.projections.kit import BatchView
from ledger.projections.kit.text import chunks, from_utc_text, placeholders, utc_text
from ledger.projections.maintenance_assets import file_text, loaded
from ledger.projections.maintenance_filters import segment_of, value_in_team
from ledger.projections.maintenance_known import stored_file
from ledger.projections.maintenance_rules import ClientFile, assets_at, status_at
from ledger.projections.maintenance_standing import (
    SEGMENT_COLUMNS,
    segment_assets,
    segment_contribution,
)

# A standing (`s`, joined by `StandingTallies.changes_join`) that moved after a position of
# the log (one parameter), or may have (kept before its moves were): as known at that
# position it is worked out anew.
MOVED = "(ch.seq IS NULL OR ch.seq > ?)"
# Summed per outlet, segment key and value (`segment_contribution`).
COUNTED = ("clients", "assets_high", "assets_low", "tenths", "cents")


class StandingTallies:
    """Mixed into `ClientStandings`: its reports that total a subtree."""

    prefix: str
    view: BatchView

    def changes_join(self) -> str:
        """Joins each standing `s` to when it last moved (`ch`, see `MOVED`)."""
        return f"LEFT JOIN {self.prefix}_standing_changes ch ON ch.aid = s.aid "

    def referrals(
        self, unit_id: str, start: str, end: str, upto: int | None = None
    ) -> dict[str, Any]:
        """Clients of the subtree registered in `[start, end)` through a referrer, credited
        to the referrer's designated manager at the registration (以点带面), with their
        assets just before `end` (a statement after that: read from the file); with `upto`,
        as known at that position."""
        p, moved, joins, known = self.prefix, "", "", ()
        if upto is not None:
            moved, joins, known = f", {MOVED} AS moved", self.changes_join(), (upto,)
        rows = self.view.query(
            f"SELECT s.aid AS aid, s.referral_manager AS manager, s.assets AS assets, "
            f"s.assets_from AS assets_from, s.referred_by AS referred_by{moved} "
            f"FROM {p}_standings s {joins}WHERE s.ancestor_id = ? "
            "AND s.referred_by IS NOT NULL AND s.registered_at >= ? AND s.registered_at < ?",
            (*known, unit_id, start, end),
        )
        before = utc_text(from_utc_text(end) - timedelta(microseconds=1))  # type: ignore[operator]
        anew = [row for row in rows if row.get("moved")]
        later = [row["aid"] for row in rows if (row["assets_from"] or "") > before]
        files = self._files_as_stored([*later, *(row["aid"] for row in anew)])
        referrers = self._files_by_client([row["referred_by"] for row in anew])
        by_manager: dict[str | None, dict[str, Any]] = {}
        for row in rows:
            manager = row["manager"]
            if row.get("moved"):
                file = stored_file(files.get(row["aid"]), upto)
                if file is None:
                    continue
                referrer = stored_file(referrers.get(row["referred_by"]), upto)
                manager = value_in_team(referrer, file["registered_at"]) if referrer else None
                assets = assets_at(file, before)
            elif row["aid"] in files:
                assets = assets_at(loaded(files[row["aid"]]), before)
            else:
                assets = None if row["assets"] is None else Decimal(row["assets"])
            entry = by_manager.setdefault(
                manager, {"staff_id": manager, "clients": 0, "assets": Decimal(0)}
            )
            entry["clients"] += 1
            entry["assets"] += assets or Decimal(0)
        items = sorted(
            by_manager.values(), key=lambda e: (e["staff_id"] is None, e["staff_id"] or "")
        )
        total = sum((e["assets"] for e in items), Decimal(0))
        return {
            "by_manager": [{**e, "assets": str(e["assets"])} for e in items],
            "total": {"clients": sum(e["clients"] for e in items), "assets": str(total)},
        }

    def _files_as_stored(self, keys: Sequence[str]) -> dict[str, str]:
        """The clients' files, as stored (JSON text), by key."""
        found = {}
        for part in chunks(list(keys)):
            for row in self.view.query(
                f"SELECT aid, {file_text('f')} AS text FROM {self.prefix}_files f "
                f"WHERE aid IN {placeholders(part)}",
                part,
            ):
                found[row["aid"]] = row["text"]
        return found

    def _files_by_client(self, client_ids: Sequence[str]) -> dict[str, str]:
        """The files of the clients (by business id), as stored (JSON text)."""
        found = {}
        for part in chunks(sorted(set(client_ids))):
            for row in self.view.query(
                f"SELECT client_id, {file_text('f')} AS text FROM {self.prefix}_files f "
                f"WHERE client_id IN {placeholders(part)}",
                part,
            ):
                found[row["client_id"]] = row["text"]
        return found

    def segments(
        self, unit_id: str, by: str, moment: str, upto: int | None = None
    ) -> dict[str, Any]:
        """`{by, segments}` at `moment`: the kept counts, the clients that changed after it
        (with `upto`: or whose standing moved after that position) taken out and put back
        as they were then (as known then)."""
        counts = self.segment_counts(unit_id, by)
        for row in self.settling(unit_id, moment, upto):
            contributions: list[tuple[int, dict[str, Any]]] = [(-1, row)]
            file: ClientFile | None = stored_file(row["text"], upto)
            if file is not None:
                assets = assets_at(file, moment)
                then = {
                    "unit_id": row["unit_id"],
                    "active": status_at(file, moment) == ACTIVE,
                    f"seg_{by}": segment_of(file, by, moment) or "unknown",
                    "assets": None if assets is None else str(assets),
                }
                contributions.append((+1, then))
            for sign, contribution in contributions:
                for _, value, *values in segment_contribution(contribution, (by,)):
                    totals = counts.setdefault(value, [0] * len(values))
                    for index, amount in enumerate(values):
                        totals[index] += sign * amount
        return {
            "by": by,
            "segments": {
                value: {"clients": totals[0], "assets": segment_assets(*totals[1:])}
                for value, totals in sorted(counts.items())
                if totals[0] > 0
            },
        }

    def segment_counts(self, unit_id: str, by: str) -> dict[str, list[int]]:
        """The subtree's counts per value of `by`, every client as it stands now."""
        p = self.prefix
        sums = ", ".join(f"SUM(k.{n}) AS {n}" for n in COUNTED)
        rows = self.view.query(
            f"SELECT k.value AS value, {sums} FROM {p}_segment_counts k "
            f"JOIN {p}_unit_paths u ON u.unit_id = k.unit_id AND u.ancestor_id = ? "
            "WHERE k.by_key = ? GROUP BY k.value",
            (unit_id, by),
        )
        return {row["value"]: [int(row[n] or 0) for n in COUNTED] for row in rows}

    def settling(self, unit_id: str, at: str, upto: int | None = None) -> list[dict[str, Any]]:
        """The subtree's clients that changed after `at` (with `upto`: and those whose
        standing moved after that position): their standing and file. Each part read by
        an index of its own (an OR of the two, or a join from the moved ones, walked every
        standing of the subtree: 335 ms of CPU for a branch of 100,000 clients)."""
        p = self.prefix
        own = ", ".join(f"s.{n} AS {n}" for n in ("aid", "unit_id", "active", *SEGMENT_COLUMNS))
        select = f"SELECT {own}, {file_text('f')} AS text FROM "
        rows = self.view.query(
            f"{select}{p}_standings s JOIN {p}_files f ON f.aid = s.aid "
            "WHERE s.ancestor_id = ? AND s.stable_from > ?",
            (unit_id, at),
        )
        if upto is None:
            return rows
        seen = {row["aid"] for row in rows}
        moved = [
            row["aid"]
            for row in self.view.query(
                f"SELECT ch.aid AS aid FROM {p}_standing_changes ch WHERE {MOVED}", (upto,)
            )
            if row["aid"] not in seen
        ]
        size = self.view.query(
            f"SELECT COUNT(*) AS n FROM {p}_standings WHERE ancestor_id = ?", (unit_id,)
        )[0]["n"]
        if len(moved) > size:
            # Far back, most of the bank moved since: walk the subtree instead.
            walked = self.view.query(
                f"{select}{p}_standings s JOIN {p}_files f ON f.aid = s.aid "
                f"{self.changes_join()}WHERE s.ancestor_id = ? AND {MOVED}",
                (unit_id, upto),
            )
            return [*rows, *(row for row in walked if row["aid"] not in seen)]
        for part in chunks(moved):
            # Found by their ids: `|| ''` keeps SQLite from walking the subtree's rows
            # instead (the unit's key matches 100,000 rows of a branch).
            rows += self.view.query(
                f"{select}{p}_standings s JOIN {p}_files f ON f.aid = s.aid "
                f"WHERE s.aid IN {placeholders(part)} AND s.ancestor_id || '' = ?",
                (*part, unit_id),
            )
        return rows
