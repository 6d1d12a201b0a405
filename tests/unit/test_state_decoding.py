"""Stored state decoded by `ledger.privacy.decoding` is what the library's JSON transcoder
decodes, value for value and type for type: on every stored event and snapshot of a store
written before issue 11, on what the ledger writes today (a small demo), and on the edges
(nested values, unknown types, text that is not one JSON value)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from ledger.application.persistence import DateAsISO
from ledger.application.transcoder import InliningJSONTranscoder
from ledger.bootstrap import build
from ledger.config import Settings
from ledger.demo import load_demo
from ledger.privacy import decoding
from ledger.privacy.decoding import fast_decoder

LEGACY = Path(__file__).parent.parent / "fixtures" / "legacy" / "store-478c92c.db"
END = date(2026, 6, 30)


def library() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return transcoder


def typed(value: Any) -> Any:
    """The value with every item's type beside it: `==` alone takes 1 for True."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value), value)


def assert_same(states: list[bytes]) -> None:
    transcoder = library()
    decode = fast_decoder(transcoder)
    for state in states:
        assert typed(decode(state)) == typed(transcoder.decode(state)), state


def test_every_stored_event_and_snapshot_of_the_old_store() -> None:
    with sqlite3.connect(LEGACY) as db:
        events = db.execute("SELECT topic, state FROM stored_events").fetchall()
        snapshots = [row[0] for row in db.execute("SELECT state FROM stored_snapshots")]
    assert len({topic for topic, _ in events}) == 19 and snapshots
    assert_same([state for _, state in events] + snapshots)


def test_every_stored_event_the_ledger_writes_today() -> None:
    container = build(Settings(database_url="memory://"))
    try:
        load_demo(container.ledger, seed=5, clients=300, end=END)
        notifications = container.ledger.recorder.select_notifications(start=1, limit=10**6)
    finally:
        container.close()
    assert len({n.topic for n in notifications}) >= 15
    assert_same([n.state for n in notifications])


def test_nested_and_repeated_values_and_other_shapes() -> None:
    transcoder = library()
    at = datetime(2026, 11, 30, 9, 30, 15, 123456, tzinfo=UTC)
    state = {
        "at": at,
        "changes": {"phone": "pd1:x", "at": at, "list": [at, date(2024, 1, 1), [Decimal("1.50")]]},
        "id": uuid4(),
        "shaped": {"_type_": "datetime_iso"},  # two keys or not, not a transcoding's
        "three": {"_type_": "date_iso", "_data_": "2024-01-01", "x": 1},
        "empty": {},
        "flag": True,
    }
    encoded = transcoder.encode(state)
    assert_same([encoded, encoded, b"  " + encoded + b"\n", b"[1, 2]", b'"text"', b"null"])


def test_values_past_the_kept_ones_are_still_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoding, "KEPT_VALUES", 3)
    transcoder = library()
    states = [transcoder.encode({"at": date(2024, 1, day)}) for day in range(1, 11)]
    assert_same(states * 2)


def test_what_the_library_refuses_is_refused_alike() -> None:
    transcoder = library()
    decode = fast_decoder(transcoder)
    unknown = b'{"a": {"_type_": "colour", "_data_": "red"}}'
    for state in (unknown, b'{"a": ', b"", b'{"a": 1} x'):
        with pytest.raises(Exception) as expected:
            transcoder.decode(state)
        with pytest.raises(expected.type):
            decode(state)
    with pytest.raises(TranscodingNotRegisteredError):
        decode(unknown)


def test_the_ledgers_transcoder_decodes_so() -> None:
    transcoder = InliningJSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    state = transcoder.encode({"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "n": 1})
    first, again = transcoder.decode(state), transcoder.decode(state)
    assert typed(first) == typed(library().decode(state))
    assert first["at"] is again["at"]  # kept by its text: the fast decoder's, not the library's
