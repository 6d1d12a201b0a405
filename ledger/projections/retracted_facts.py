"""What a retraction removes from the reports view's facts (profile updates, assets reports,
complaints), kept beside them with the retraction's place in the log: the reports as known
before the retraction was recorded still count the retracted event (API.md 1.1, Audit),
while the tables the reports of now read hold only what stands."""

from __future__ import annotations

from typing import Any

from ledger.projections.kit import BatchView
from ledger.projections.kit.upgrades import replay_once

# Each retractable table's columns besides `aid`. A complaint's retraction time is kept
# with its contact (`contacts_known.retracted_at`); the others note the retraction's seq.
COLUMNS = {
    "profile_updates": "version, seq, effective_at, key_info",
    "assets": "version, seq, effective_at, amount",
    "complaints": "version, occurred_at, staff_id, summary",
}
# A view that keeps retracted rows has this table: one built before replays the log once.
KEPT = "retracted_kept"


def retracted_tables(p: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {p}_profile_updates_retracted (aid TEXT, version BIGINT, "
        "seq BIGINT, effective_at TEXT, key_info TEXT, retracted_seq BIGINT, "
        "PRIMARY KEY (aid, version))",
        f"CREATE TABLE IF NOT EXISTS {p}_assets_retracted (aid TEXT, version BIGINT, "
        "seq BIGINT, effective_at TEXT, amount TEXT, retracted_seq BIGINT, "
        "PRIMARY KEY (aid, version))",
        f"CREATE TABLE IF NOT EXISTS {p}_complaints_retracted (aid TEXT, version BIGINT, "
        "occurred_at TEXT, staff_id TEXT, summary TEXT, PRIMARY KEY (aid, version))",
    ]


def keep_retracted(view: BatchView, c: Any, p: str, key: str, version: int, seq: int) -> None:
    """Within the view's `write()`, before the rows go: keep the client's rows of `version`,
    retracted by the event at `seq` of the log."""
    for table, columns in COLUMNS.items():
        retracted_seq = "" if table == "complaints" else ", retracted_seq"
        view.execute(
            c,
            f"INSERT INTO {p}_{table}_retracted (aid, {columns}{retracted_seq}) "
            f"SELECT aid, {columns}{', ?' if retracted_seq else ''} FROM {p}_{table} "
            "WHERE aid = ? AND version = ? ON CONFLICT DO NOTHING",
            (*((seq,) if retracted_seq else ()), key, version),
        )


def rows_known(p: str, table: str) -> str:
    """`table`'s rows as known at a position of the log (one parameter, the position), as a
    table `t`: those standing, and those retracted after it (filter on `t.seq` too)."""
    columns = COLUMNS[table]
    return (
        f"(SELECT aid, {columns} FROM {p}_{table} UNION ALL SELECT aid, {columns} "
        f"FROM {p}_{table}_retracted WHERE retracted_seq > ?) t"
    )


def complaints_known(p: str) -> str:
    """Every complaint, retracted or not, as a table `k` (join `contacts_known` for when)."""
    columns = COLUMNS["complaints"]
    return (
        f"(SELECT aid, {columns} FROM {p}_complaints UNION ALL SELECT aid, {columns} "
        f"FROM {p}_complaints_retracted) k"
    )


def replay_unless_kept(view: BatchView, p: str) -> None:
    """A view built before it kept retracted rows (they were deleted) replays the log once."""
    replay_once(view, f"{p}_{KEPT}", f"SELECT aid FROM {p}_clients LIMIT 1")
