"""Which stored heads show their event recorded by a time (ledger/store/recorded_order.py):
those whose time's text sorts as the time, compared with the bound byte for byte."""

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

from ledger.store.recorded_order import (
    SHOWN_BY,
    STAMP_PREFIX,
    shown_by,
    shown_by_params,
    stamp_bound,
)

NOON = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def head(moment: datetime) -> bytes:
    return STAMP_PREFIX + moment.isoformat().encode() + b'"},"recorded_by":"admin"'


def test_a_whole_second_and_a_fraction_sort_as_their_times() -> None:
    tick = timedelta(microseconds=1)
    for stamped in (NOON, NOON + tick):
        assert shown_by(head(stamped), stamp_bound(stamped))
        assert shown_by(head(stamped), stamp_bound(stamped + tick))
        assert not shown_by(head(stamped), stamp_bound(stamped - tick))
    assert shown_by(head(NOON), stamp_bound(NOON.astimezone(timezone(timedelta(hours=8)))))


def test_a_head_in_another_offset_or_form_is_never_shown() -> None:
    west = NOON.astimezone(timezone(timedelta(hours=-5)))
    assert not shown_by(head(west), stamp_bound(NOON + timedelta(days=1)))
    spaced = head(NOON).replace(b"T12", b" 12")
    assert not shown_by(spaced, stamp_bound(NOON + timedelta(days=1)))
    assert not shown_by(b'{"originator_topic":"x"}', stamp_bound(NOON + timedelta(days=1)))


def test_times_beyond_the_years_of_utc_bound_before_or_after_every_head() -> None:
    first = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
    last = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14)))
    earliest = head(datetime(1, 1, 1, tzinfo=UTC))
    latest = head(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert not shown_by(earliest, stamp_bound(first))
    assert shown_by(latest, stamp_bound(last))


def test_the_store_and_python_agree_on_the_bound_before_every_head() -> None:
    # SQLite compares the whole state; Python the head (the bound before year 1 was "0",
    # under which SQL showed the heads of years 1 to 999 and Python did not; found in review).
    first = stamp_bound(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))
    later = stamp_bound(datetime(2030, 1, 1, tzinfo=UTC))
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.execute("CREATE TABLE events (state BLOB)")
        for year in (1, 999, 1000, 2025):
            stored = head(datetime(year, 1, 1, tzinfo=UTC))
            db.execute("DELETE FROM events")
            db.execute("INSERT INTO events VALUES (?)", (stored,))
            for bound, shown in ((first, False), (later, True)):
                (in_sql,) = db.execute(
                    f"SELECT {SHOWN_BY} FROM events", shown_by_params(bound)
                ).fetchone()
                assert bool(in_sql) is shown_by(stored, bound) is shown, (year, bound)
