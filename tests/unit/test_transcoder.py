"""The ledger's faster JSON transcoder writes the library's bytes, value for value."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

from ledger.application import Ledger
from ledger.application.persistence import DateAsISO
from ledger.application.transcoder import KEPT_TEXTS, InliningJSONTranscoder


class Colour(enum.StrEnum):
    RED = "red"


class ColourAsName(Transcoding):
    """Never used by either: JSON writes a `StrEnum` as the text it is."""

    type = Colour
    name = "colour"

    def encode(self, obj: Colour) -> str:
        return "not this"

    def decode(self, data: str) -> Colour:
        return Colour(data)


def transcoders() -> tuple[JSONTranscoder, JSONTranscoder]:
    pair = (JSONTranscoder(), InliningJSONTranscoder())
    for transcoder in pair:
        for transcoding in (DatetimeAsISO(), UUIDAsHex(), DecimalAsStr(), DateAsISO()):
            transcoder.register(transcoding)
        transcoder.register(ColourAsName())
    return pair


NOW = datetime(2026, 11, 30, 9, 30, 15, 123456, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
STATES: list[Any] = [
    {
        "timestamp": NOW,
        "client_id": "N0000001",
        "name": "pd1:AbC-_",
        "tier": "gold",
        "source": None,
        "flag": True,
        "count": 3,
        "ratio": 0.1,
        "effective_at": NOW.replace(hour=0, minute=0, second=0, microsecond=0),
        "as_of": date(2024, 6, 30),
        "amount": Decimal("1500000.00"),
        "id": uuid4(),
        "colour": Colour.RED,
        "changes": {"phone": "pd1:x", "at": NOW, "list": [NOW, date(2024, 1, 1)]},
        "names": ["张三", 'O\'Brien "quoted"\n'],
    },
    # The same instant in other zones, a naive time, whole seconds: other texts.
    {"a": NOW, "b": NOW.astimezone(SHANGHAI), "c": NOW.astimezone(timezone(timedelta(hours=8)))},
    {"a": NOW.replace(tzinfo=None), "b": NOW.replace(microsecond=0), "c": NOW},
    # An ambiguous local time, fold 0 and 1: equal as times, not as texts.
    {
        "a": datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York")),
        "b": datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
    },
    [NOW, {"a": NOW}],
    "text",
    Decimal("2.50"),
    NOW,
    {},
]


@pytest.mark.parametrize("state", STATES)
def test_writes_the_librarys_bytes(state: Any) -> None:
    library, inlining = transcoders()
    assert inlining.encode(state) == library.encode(state)
    assert inlining.encode(state) == library.encode(state)  # from its kept texts


@pytest.mark.parametrize("state", STATES)
def test_reads_what_the_library_reads(state: Any) -> None:
    library, inlining = transcoders()
    data = library.encode(state)
    assert repr(inlining.decode(data)) == repr(library.decode(data))


@pytest.mark.parametrize("data", [b' {"a": 1}', b'{"a": 1} \n', b"\t[]", b'"x"  ', b"1", b"null"])
def test_reads_text_around_a_value_as_the_library_does(data: bytes) -> None:
    library, inlining = transcoders()
    assert inlining.decode(data) == library.decode(data)


@pytest.mark.parametrize(
    "data", [b"", b" ", b'{"a": 1}x', b'{"a": 1} {}', b'{"a": ', b"[1,]", b'"\xff"', b"nan1"]
)
def test_refuses_what_the_library_refuses(data: bytes) -> None:
    library, inlining = transcoders()
    with pytest.raises(ValueError) as expected:
        library.decode(data)
    with pytest.raises(type(expected.value)):
        inlining.decode(data)


def test_an_unregistered_type_is_refused_as_the_library_refuses_it() -> None:
    library, inlining = transcoders()
    with pytest.raises(TypeError) as expected:
        library.encode({"a": object()})
    with pytest.raises(type(expected.value)):
        inlining.encode({"a": object()})


def test_keeps_a_bounded_number_of_texts() -> None:
    library, inlining = transcoders()
    for minutes in range(KEPT_TEXTS + 10):
        state = {"at": NOW + timedelta(minutes=minutes)}
        assert inlining.encode(state) == library.encode(state)
        state = {"at": (NOW + timedelta(minutes=minutes)).astimezone(SHANGHAI)}
        assert inlining.encode(state) == library.encode(state)
    assert len(inlining._texts) <= KEPT_TEXTS
    assert len(inlining._utc_texts) <= KEPT_TEXTS


def test_the_ledger_encodes_with_it() -> None:
    ledger = Ledger()
    try:
        assert type(ledger.mapper.transcoder) is InliningJSONTranscoder
        assert ledger.mapper.transcoder.types.keys() >= {datetime, date, Decimal}
    finally:
        ledger.close()
