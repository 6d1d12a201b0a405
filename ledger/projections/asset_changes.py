"""Each asset statement's change, its amount less the previous statement's in effective order,
and the designated manager of its time credited with it (DOMAIN.md 1.1, Performance credit):
the rows of `{p}_asset_changes`, worked out by `ClientFacts`.

A client's changes are worked out from all its statements when something may move any of
them: a retraction, a new designated manager (the credit moves), or its first statements.
While the reports follow the log, new statements move only their own change and the change
of the statement after each (and only when backdated): for the few clients of a live batch
(`TAILS_AT_MOST`) those are worked out from the statement before the earliest new one on.
A client with 2,000 statements cost the reports 1.2-1.4 ms a new statement worked out whole
(bench/RESULTS.md section 19).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ledger.projections.kit import BatchView
from ledger.projections.kit.text import chunks, placeholders
from ledger.projections.kit.timeline import asset_deltas

# A statement: (effective_at, seq, version, amount).
Statement = tuple[str, int, int, Decimal]
# The statements added in the open batch, earliest first per client: (effective_at, seq).
ADDED = "assets_added"
# At most this many clients of a batch are worked out from their earliest new statement on
# (two look-ups and a deletion each); more go the whole way, a chunk of clients a query.
# A batch of 3,000 clients with a new statement each cost a flush 0.10 -> 0.92 s on a local
# PostgreSQL the one way (more across a network), 0.06 -> 0.11 s on SQLite.
TAILS_AT_MOST = 64


def statement(row: dict[str, Any]) -> Statement:
    return (row["effective_at"], row["seq"], row["version"], Decimal(row["amount"]))


def note_added(view: BatchView, key: str, effective_at: str, seq: int) -> None:
    """Within the view's `write()`: a statement of client `key` added, marked `ADDED` (the
    earliest of the batch kept)."""
    added: dict[str, tuple[str, int]] = view.batch_memo(ADDED, dict)
    if key not in added or (effective_at, seq) < added[key]:
        added[key] = (effective_at, seq)
    view.mark(ADDED, key)


def work_out_added(view: BatchView, c: Any, p: str, keys: Sequence[str]) -> list[str]:
    """The changes of the clients' statements from the one before the earliest added on,
    written; answers the clients to work out whole: those with no statement before it, or
    all of them past `TAILS_AT_MOST`."""
    if not keys or len(keys) > TAILS_AT_MOST:
        return list(keys)
    found, whole = _tails(view, c, p, keys)
    write_changes(view, c, p, found)
    return whole


def _tails(
    view: BatchView, c: Any, p: str, keys: Sequence[str]
) -> tuple[dict[str, list[Statement]], list[str]]:
    """The statements of each client from the one before the earliest added in the batch
    on, their changes after the first deleted (to be written anew); and the clients with
    no statement before the earliest added (to be worked out whole)."""
    added: dict[str, tuple[str, int]] = view.batch_memo(ADDED, dict)
    found: dict[str, list[Statement]] = {}
    whole: list[str] = []
    columns = f"seq, version, effective_at, amount FROM {p}_assets WHERE aid = ?"
    for key in keys:
        at, seq = added[key]
        before = view.fetch(
            c,
            f"SELECT {columns} AND (effective_at < ? OR (effective_at = ? AND seq < ?)) "
            "ORDER BY effective_at DESC, seq DESC LIMIT 1",
            (key, at, at, seq),
        )
        if not before:
            whole.append(key)
            continue
        first = statement(before[0])
        tail = [
            statement(row)
            for row in view.fetch(
                c,
                f"SELECT {columns} AND (effective_at > ? OR (effective_at = ? AND seq >= ?))",
                (key, first[0], first[0], first[1]),
            )
        ]
        moved = [s[2] for s in tail if s[2] != first[2]]
        for part in chunks(moved):
            view.execute(
                c,
                f"DELETE FROM {p}_asset_changes WHERE aid = ? AND version IN {placeholders(part)}",
                (key, *part),
            )
        found[key] = tail
    return found, whole


def write_changes(view: BatchView, c: Any, p: str, statements: dict[str, list[Statement]]) -> None:
    """The change rows of the clients' statements (every one after each client's first),
    each credited to the designated manager of its time."""
    holders = [key for key, held in statements.items() if held]
    # Kept by the intervals' refold when it ran in this batch (`ClientFacts._refolded`).
    managers: dict[str, list[tuple[str, str | None, str | None]]]
    managers = view.batch_memo("folded", lambda: defaultdict(list))
    for part in chunks([key for key in holders if key not in managers]):
        for row in view.fetch(
            c,
            f"SELECT aid, valid_from, valid_to, manager FROM {p}_intervals "
            f"WHERE aid IN {placeholders(part)}",
            part,
        ):
            managers[row["aid"]].append((row["valid_from"], row["valid_to"], row["manager"]))

    def manager_at(key: str, at: str) -> str | None:
        for start, end, manager in managers[key]:
            if start <= at and (end is None or at < end):
                return manager
        return None

    view.execute_many(
        c,
        f"INSERT INTO {p}_asset_changes (aid, version, effective_at, delta, manager) "
        "VALUES (?, ?, ?, ?, ?)",
        (
            (key, version, at, str(delta), manager_at(key, at))
            for key in holders
            for version, at, delta in asset_deltas(statements[key])
        ),
    )
