"""Issue 12, item 1: every time the log can already hold has a view text, in time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger.projections.kit import text
from ledger.projections.kit.text import FIRST_TEXT, LAST_TEXT, from_utc_text, utc_text

EAST = timezone(timedelta(hours=14))
WEST = timezone(timedelta(hours=-14))


def test_a_time_before_year_one_in_utc_is_the_first_text() -> None:
    assert utc_text(datetime(1, 1, 1, tzinfo=EAST)) == FIRST_TEXT
    assert utc_text(datetime(1, 1, 1, 13, 59, tzinfo=EAST)) == FIRST_TEXT


def test_a_time_after_year_9999_in_utc_is_the_last_text() -> None:
    assert utc_text(datetime(9999, 12, 31, 23, 59, 59, tzinfo=WEST)) == LAST_TEXT


def test_texts_keep_time_order_across_the_whole_range() -> None:
    times = [
        datetime(1, 1, 1, tzinfo=EAST),
        datetime(1, 1, 1, 14, 0, 1, tzinfo=EAST),
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(2026, 6, 30, 8, tzinfo=timezone(timedelta(hours=8))),
        datetime(9999, 12, 31, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=WEST),
    ]
    texts = [utc_text(t) for t in times]
    assert texts == sorted(texts)
    assert all(from_utc_text(text) is not None for text in texts)


def test_texts_kept_from_earlier_calls_are_the_same_and_stay_few(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(text, "TEXTS_KEPT", 8)
    monkeypatch.setattr(text, "_TEXTS", {})
    east = datetime(2026, 6, 30, 8, tzinfo=timezone(timedelta(hours=8)))
    assert utc_text(east) == "2026-06-30T00:00:00.000000"
    # The same instant in another zone, found among the texts kept: the same UTC text.
    assert utc_text(datetime(2026, 6, 30, tzinfo=UTC)) == "2026-06-30T00:00:00.000000"
    assert utc_text(datetime(2026, 6, 29, 23, tzinfo=timezone(timedelta(hours=-1)))) == (
        "2026-06-30T00:00:00.000000"
    )
    for n in range(50):
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
        assert utc_text(moment) == moment.isoformat(timespec="microseconds")[:26]
        assert len(text._TEXTS) <= 8
    with pytest.raises(ValueError, match="naive"):
        utc_text(datetime(2026, 6, 30))


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 6, 30, 8, 1, 2, 345678, tzinfo=UTC),
        datetime(2026, 6, 30, 8, 1, 2, tzinfo=UTC),  # a whole second
        datetime(2026, 6, 30, 8, 1, 2, 5, tzinfo=timezone(timedelta(hours=8))),
        datetime(987, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(1, 1, 1, 14, 0, 1, tzinfo=EAST),
    ],
)
def test_a_text_is_the_utc_time_to_the_microsecond_at_a_fixed_width(moment: datetime) -> None:
    expected = moment.astimezone(UTC).isoformat(timespec="microseconds")[:26]
    assert text._utc_text(moment) == expected
    assert len(expected) == 26
