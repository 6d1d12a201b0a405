"""New events' JSON: orjson where it writes byte for byte what the library's encoder writes,
the library's encoder for everything else; the library's decoder reads both."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

from ledger.application import Ledger
from ledger.application.codec import FastJSONTranscoder
from ledger.domain import Client
from support.scenario import ADMIN, REGISTERED_AT, Bank, new_id


class Colour(enum.Enum):
    RED = "red"


NOW = datetime(2026, 11, 30, 3, 4, 5, 678_901, tzinfo=UTC)
STATES: list[Any] = [
    {"timestamp": NOW, "name": '王芳 "Wang"\n', "tier": "gold", "source": None, "n": 3},
    {"changes": {"phone": "139", "address": "88 Yan'an Road"}, "at": NOW.replace(microsecond=0)},
    {"amount": Decimal("1200000.50"), "as_of": date(2024, 6, 30), "ok": True, "f": 1.5},
    {"ids": [1, "a", None, False, [2.25, {"x": "y"}]], "t": ("a", 1)},
    {"id": uuid4()},  # orjson would write a UUID natively: the library's encoder writes it
    {"big": 2**70},  # beyond orjson's integers
    {"nan": float("nan"), "keys": {1: "one"}},
]


@pytest.fixture
def transcoders(ledger: Ledger) -> tuple[JSONTranscoder, JSONTranscoder]:
    fast = ledger.mapper.transcoder
    assert type(fast) is FastJSONTranscoder
    library = JSONTranscoder()
    for transcoding in fast.types.values():
        library.register(transcoding)
    return library, fast


@pytest.mark.parametrize("state", STATES)
def test_new_json_is_the_librarys_byte_for_byte(
    transcoders: tuple[JSONTranscoder, JSONTranscoder], state: Any
) -> None:
    library, fast = transcoders
    written = fast.encode(state)
    assert written == library.encode(state)
    assert library.decode(written) == library.decode(library.encode(state))


def test_a_type_without_a_transcoding_is_refused_as_before(
    transcoders: tuple[JSONTranscoder, JSONTranscoder],
) -> None:
    _, fast = transcoders
    with pytest.raises(TranscodingNotRegisteredError):
        fast.encode({"colour": Colour.RED})
    with pytest.raises(TranscodingNotRegisteredError):
        fast.encode({"when": NOW.time()})


def test_a_client_written_with_it_reads_back(ledger: Ledger, bank: Bank) -> None:
    client_id = new_id("C")
    ledger.register_client(
        client_id=client_id,
        name="王芳",
        unit_id=bank.outlet,
        occurred_at=REGISTERED_AT,
        recorded_by=ADMIN,
    )
    ledger.report_assets(
        client_id=client_id, amount="12.50", as_of=REGISTERED_AT.date(), recorded_by=ADMIN
    )
    stored = ledger.recorder.select_events(Client.id_for(client_id))
    events = [ledger.mapper.to_domain_event(s) for s in stored]
    assert events[0].name == "王芳"
    assert (events[1].amount, events[1].as_of) == (Decimal("12.50"), REGISTERED_AT.date())
