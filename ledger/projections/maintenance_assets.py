"""A client's asset statements in the maintenance view: kept beside its file rather than in
it, with the few facts a standing reads of them in the file.

A client on a daily feed of statements has thousands of them after a few years. Kept in
the file, every contact of such a client read them all back (its standing is worked out
again from the file) and walked them: 2,000 statements cost the view ~2.5 ms a contact
against ~0.5 ms on a new client, in batches of one. Now the file's row holds them in a
column of their own (`assets`), read only where a rule folds them at a time of its choosing
(a report's page, a time in the past); the file (`data`) holds `asset_facts`: the latest
statement, the largest, and when each 20% fall leaves the at-risk window, which are all a
standing reads of them as of its `stable_from` (`maintenance_standing`).

A file as a report reads it is its file text (`file_text`): the data, a unit separator, and
the statements; `loaded` makes it one file again. A row written before (the statements in
the data, the column empty) reads as it did.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ledger.projections.maintenance_rules import (
    ASSETS_DOWN_SHARE,
    RISK_WINDOW,
    ClientFile,
    plus_days,
)

# Between a file's data and its statements in its text: JSON text never holds it raw (a
# control character in a string is written escaped).
SEPARATOR = "\x1f"
FACTS = "asset_facts"


def file_text(alias: str) -> str:
    """A SQL expression of the file's text, for a files table of `alias` (both stores)."""
    return f"({alias}.data || '{SEPARATOR}' || COALESCE({alias}.assets, ''))"


def loaded(text: str) -> ClientFile:
    """A file from its text (`file_text`), or from its data alone: then without its
    statements (their facts are in it), unless written before they were kept apart (then
    with them, and without facts)."""
    data, _, statements = text.partition(SEPARATOR)
    file: ClientFile = json.loads(data)
    if statements and "assets" not in file:
        file["assets"] = json.loads(statements)
    return file


def dumped(file: ClientFile) -> tuple[str, str]:
    """A file as stored: its data (with the facts of its statements), and its statements."""
    statements = file["assets"]
    # The facts last, however the file was come by: the same file is the same text.
    facts = asset_facts(file)
    data = {key: value for key, value in file.items() if key not in ("assets", FACTS)}
    data[FACTS] = facts
    return _json(data), _json(statements)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def asset_facts(file: ClientFile) -> dict[str, Any]:
    """`{latest: [effective_at, amount] | None, peak: float | None, down_until: [...]}` of
    the client's statements, as the file keeps them; worked out (`facts_of`) and kept in it
    when it has none: a file written before, or one whose statements changed (whatever
    changes them drops the facts: `statements_changed`)."""
    facts: dict[str, Any] | None = file.get(FACTS)
    if facts is None:
        facts = file[FACTS] = facts_of(file["assets"])
    return facts


def statements_changed(file: ClientFile) -> list[list[Any]]:
    """The file's statements, to change: its facts are worked out again when next read."""
    file.pop(FACTS, None)
    statements: list[list[Any]] = file["assets"]
    return statements


def facts_of(statements: list[list[Any]]) -> dict[str, Any]:
    """The facts of statements in effective order (`[effective_at, seq, amount, ...]`)."""
    if not statements:
        return {"latest": None, "peak": None, "down_until": []}
    now = Decimal(statements[-1][2])
    # `assets_down` holds while the 90-day window still holds a statement at least 20% above
    # the latest: a statement is in the window until its successor is 90 days old.
    down_until = [
        plus_days(statements[index + 1][0], RISK_WINDOW.days)
        for index, entry in enumerate(statements[:-1])
        if (amount := Decimal(entry[2])) and (amount - now) / amount >= ASSETS_DOWN_SHARE
    ]
    return {
        "latest": [statements[-1][0], statements[-1][2]],
        "peak": max(float(entry[2]) for entry in statements),
        "down_until": down_until,
    }


def read_file(view: Any, c: Any, prefix: str, key: str) -> ClientFile | None:
    """The client's whole file (its statements too) in the open transaction `c`."""
    rows = view.fetch(
        c, f"SELECT {file_text('f')} AS text FROM {prefix}_files f WHERE aid = ?", (key,)
    )
    return loaded(rows[0]["text"]) if rows else None


def keep_statements_apart(view: Any, prefix: str) -> None:
    """A view whose files held their statements (built before): the column they are kept
    in from now on. Each file moves its statements there when next written; until then it
    reads as before (`loaded`)."""
    with view.transaction() as c:
        if not view.has_column(c, f"{prefix}_files", "assets"):
            c.execute(f"ALTER TABLE {prefix}_files ADD COLUMN assets TEXT")
