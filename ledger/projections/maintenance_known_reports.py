"""Referrals and segments as the ledger knew them at a past position of the log (`known_at`):
the standings (ledger/projections/maintenance_standings.py) are kept as of now, so these fold
every file of the subtree as known then (`maintenance_known.stored_file`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.values import ACTIVE
from ledger.projections.kit.text import utc_text
from ledger.projections.maintenance_assets import file_text
from ledger.projections.maintenance_filters import segment_of, value_in_team
from ledger.projections.maintenance_known import stored_file
from ledger.projections.maintenance_rules import ClientFile, assets_at, status_at


def referrals_as_known(
    view: Any, p: str, unit_id: str, start: datetime, end: datetime, upto: int
) -> dict[str, Any]:
    """The referral report (SQLMaintenanceView.referrals) from the files as known at `upto`."""
    rows = view.query(
        f"SELECT {file_text('f')} AS text, {file_text('r')} AS referrer FROM {p}_files f "
        f"JOIN {p}_unit_paths u ON u.unit_id = f.unit_id AND u.ancestor_id = ? "
        f"LEFT JOIN {p}_files r ON r.client_id = f.referred_by "
        "WHERE f.referred_by IS NOT NULL AND f.registered_at >= ? AND f.registered_at < ? "
        "ORDER BY f.client_id",
        (unit_id, utc_text(start), utc_text(end)),
    )
    last_moment = utc_text(end - timedelta(microseconds=1))
    by_manager: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        file = stored_file(row["text"], upto)
        if file is None:
            continue
        referrer = stored_file(row["referrer"], upto)
        manager = value_in_team(referrer, file["registered_at"]) if referrer is not None else None
        entry = by_manager.setdefault(
            manager, {"staff_id": manager, "clients": 0, "assets": Decimal(0)}
        )
        entry["clients"] += 1
        entry["assets"] += assets_at(file, last_moment) or Decimal(0)
    items = sorted(by_manager.values(), key=lambda e: (e["staff_id"] is None, e["staff_id"] or ""))
    total = sum((e["assets"] for e in items), Decimal(0))
    return {
        "by_manager": [{**e, "assets": str(e["assets"])} for e in items],
        "total": {"clients": sum(e["clients"] for e in items), "assets": str(total)},
    }


def active_files(files: Any, unit_id: str, moment: str, upto: int | None) -> list[ClientFile]:
    """The subtree's clients active at `moment`, their files as known at `upto`."""
    files.units.unit(unit_id)
    p = files.prefix
    rows = files.view.query(
        f"SELECT {file_text('f')} AS text FROM {p}_files f JOIN {p}_unit_paths u "
        "ON u.unit_id = f.unit_id AND u.ancestor_id = ? WHERE f.registered_at <= ?",
        (unit_id, moment),
    )
    known = [stored_file(row["text"], upto) for row in rows]
    return [file for file in known if file is not None and status_at(file, moment) == ACTIVE]


def segments_as_known(
    files: Any, unit_id: str, by: str, moment: str, upto: int | None
) -> dict[str, Any]:
    """The segments report (SQLMaintenanceView.segments) from the files as known at `upto`."""
    segments: dict[str, dict[str, Any]] = {}
    for file in active_files(files, unit_id, moment, upto):
        value = segment_of(file, by, moment) or "unknown"
        entry = segments.setdefault(value, {"clients": 0, "assets": Decimal(0)})
        entry["clients"] += 1
        entry["assets"] += assets_at(file, moment) or Decimal(0)
    return {
        "by": by,
        "segments": {
            value: {"clients": entry["clients"], "assets": str(entry["assets"])}
            for value, entry in sorted(segments.items())
        },
    }
