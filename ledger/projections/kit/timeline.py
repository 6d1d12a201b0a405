"""Pure folds from change points to intervals, shared by the views and unit-tested alone.

A change point is (effective_at, seq, field, value): `effective_at` as sortable UTC text,
`seq` the event's position in the log, so changes at the same effective time apply in
recorded order (as the aggregate's own timelines do).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple


# Named tuples rather than frozen dataclasses: a rebuild makes one per change point and
# interval, and a frozen dataclass's __init__ costs several times a tuple's.
class Change(NamedTuple):
    effective_at: str
    seq: int
    field: str
    value: str | None


class Interval(NamedTuple):
    valid_from: str
    valid_to: str | None
    values: tuple[str | None, ...]


_when = itemgetter(0, 1)  # (effective_at, seq)
_effective_at = itemgetter(0)


def fold_intervals(changes: Iterable[Change], fields: Sequence[str]) -> list[Interval]:
    """The consecutive `[from, to)` intervals of the combined values of `fields`; an
    interval starts wherever any of them changes. A backdated change lands in its place
    because the fold is always over every change point, in effective order."""
    ordered = sorted((ch for ch in changes if ch.field in fields), key=_when)
    state: dict[str, str | None] = dict.fromkeys(fields)
    starts: list[tuple[str, tuple[str | None, ...]]] = []
    for at, group in groupby(ordered, key=_effective_at):
        for change in group:
            state[change.field] = change.value
        values = tuple(state[f] for f in fields)
        if starts and starts[-1][1] == values:
            continue
        starts.append((at, values))
    return [
        Interval(at, starts[i + 1][0] if i + 1 < len(starts) else None, values)
        for i, (at, values) in enumerate(starts)
    ]


def value_at(intervals: Sequence[Interval], at: str, index: int = 0) -> str | None:
    for interval in intervals:
        if interval.valid_from <= at and (interval.valid_to is None or at < interval.valid_to):
            return interval.values[index]
    return None


def holders_within(intervals: Sequence[Interval], start: str, end: str) -> list[str]:
    """Everyone whose interval overlaps `[start, end]`, in the order they held it."""
    seen: list[str] = []
    for interval in intervals:
        holder = interval.values[0]
        overlaps = interval.valid_from <= end and (
            interval.valid_to is None or interval.valid_to > start
        )
        if holder is not None and overlaps and holder not in seen:
            seen.append(holder)
    return seen


def growth_rate(start: int, end: int) -> float | None:
    """Change over the starting count, to four places; none when the start is zero."""
    if start == 0:
        return None
    return round((end - start) / start, 4)


def share(part: int, whole: int) -> float | None:
    if whole == 0:
        return None
    return round(part / whole, 4)


def asset_deltas(
    reports: Sequence[tuple[str, int, Hashable, Decimal]],
) -> list[tuple[Hashable, str, Decimal]]:
    """(report id, effective_at, change) for each assets report after the first: its amount
    less the previous report's, in effective order. The first report is the client's
    baseline, not growth (DOMAIN.md 1.1, Performance credit), so it credits no one; a
    backdated report before it becomes the baseline instead."""
    previous: Decimal | None = None
    deltas = []
    for effective_at, _seq, report_id, amount in sorted(reports, key=lambda r: (r[0], r[1])):
        if previous is not None:
            deltas.append((report_id, effective_at, amount - previous))
        previous = amount
    return deltas
