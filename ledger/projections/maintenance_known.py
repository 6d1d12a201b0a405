"""A client's file as the ledger knew it at a past position of the log (`known_at`, API.md
1.1, Audit): every entry of its timelines carries the position of the event that made it,
and a retraction keeps what it removed (`retracted`: `[[retraction seq, timeline, entry]]`),
so what was known then is the entries made by then, less those retracted by then. Pure."""

from __future__ import annotations

from typing import Any

from ledger.projections.maintenance_assets import FACTS, loaded
from ledger.projections.maintenance_rules import ClientFile

TIMELINES = ("tiers", "statuses", "acks", "assets", "prefs")


def file_as_known(file: ClientFile, upto: int) -> ClientFile | None:
    """`file` as known at position `upto`; None before the client was registered (its
    registration is its first event: the least position of its tiers)."""
    if min(entry[1] for entry in file["tiers"]) > upto:
        return None

    def known(timeline: list[list[Any]]) -> list[list[Any]]:
        return [entry for entry in timeline if entry[1] <= upto]

    then = {**file, **{name: known(file[name]) for name in TIMELINES}}
    then.pop(FACTS, None)  # of the statements as they are now
    then["team"] = {role: known(timeline) for role, timeline in file["team"].items()}
    for retracted_at, name, entry in file.get("retracted", ()):
        if retracted_at > upto >= entry[1]:
            then[name] = sorted([*then[name], entry], key=lambda e: (e[0], e[1]))
    return then


def retract(file: ClientFile, seq: int, name: str, gone: list[list[Any]]) -> None:
    """Keep the entries of timeline `name` that the retraction at `seq` removed."""
    if gone:
        file.setdefault("retracted", []).extend([seq, name, entry] for entry in gone)


def stored_file(text: str | None, upto: int | None) -> ClientFile | None:
    """A file from its text as stored (`maintenance_assets.file_text`; with `upto`, as known
    at that position of the log; None before its client was registered)."""
    if text is None:
        return None
    file = loaded(text)
    return file if upto is None else file_as_known(file, upto)


def contacts_known(p: str) -> str:
    """The contacts known at a position of the log (three parameters, the position thrice),
    as a table `t (aid, occurred_at, staff_id, channel)`: those recorded by then, and those
    recorded by then and retracted after."""
    return (
        "(SELECT c.aid, c.occurred_at, c.staff_id, c.channel FROM "
        f"{p}_contacts c JOIN {p}_contacts_known k ON k.aid = c.aid "
        "AND k.version = c.version WHERE k.seq <= ? UNION ALL SELECT aid, "
        f"occurred_at, staff_id, channel FROM {p}_contacts_retracted "
        "WHERE seq <= ? AND retracted_seq > ?) t"
    )
