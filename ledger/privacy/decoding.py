"""Stored events' state decoded to the values the library's `JSONTranscoder.decode` gives,
with less Python per value.

The library's decoder calls its object hook for every JSON object and the hook looks its
transcoding up by name, then decodes afresh: every event holds two or three such objects
(its recorded and effective times, an amount or a date), and a catch-up decodes every
event of the log in each process. Here the hook is one closure; a value of an immutable
type (datetime, date, Decimal, UUID) is kept by its text, since the log repeats them (the
events of one save share their recorded time); and anything else, or any text the fast
path does not take whole, goes to the library's own decoding (its errors included). The
ledger's transcoder (`ledger.application.transcoder`) decodes with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder

# The types a decoded value may be shared between events as: nothing can change one.
IMMUTABLE_TYPES = (datetime, date, Decimal, UUID)
# Values kept by text per transcoding; each starts again from empty past this many.
KEPT_VALUES = 1 << 14


def fast_decoder(transcoder: JSONTranscoder) -> Callable[[bytes], Any]:
    """What the library's `JSONTranscoder.decode` answers, with this module's hook, for
    `transcoder`'s transcodings registered by now."""
    return _FastDecoder(transcoder).decode


class _FastDecoder:
    def __init__(self, transcoder: JSONTranscoder) -> None:
        # The library's own decoding (not an override of it, which may be this one).
        self.slow = partial(JSONTranscoder.decode, transcoder)
        library_hook = transcoder._decode_obj
        kept: dict[str, tuple[Any, dict[str, Any]]] = {
            name: (transcoding.decode, {})
            for name, transcoding in transcoder.names.items()
            if transcoding.type in IMMUTABLE_TYPES
        }

        def hook(obj: dict[str, Any]) -> Any:
            if len(obj) != 2:
                return obj
            name, data = obj.get("_type_"), obj.get("_data_")
            if data.__class__ is str and name.__class__ is str:
                found = kept.get(name)  # type: ignore[arg-type]
                if found is not None:
                    values = found[1]
                    value = values.get(data)
                    if value is None:
                        if len(values) >= KEPT_VALUES:
                            values.clear()
                        value = values[data] = found[0](data)
                    return value
            return library_hook(obj)

        self.scan = json.JSONDecoder(object_hook=hook).scan_once

    def decode(self, data: bytes) -> Any:
        text = data.decode("utf8")
        try:
            value, end = self.scan(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            # Not one JSON value from the first character to the last (white space around
            # it, or not JSON): the library's decoding, to its value or its error.
            return self.slow(data)
        return value
