"""The library's JSON, written faster: the same bytes as its `JSONTranscoder`.

Two costs of the library's encoder that are not the text itself (an imported event's
state: 8.1 against 2.8 µs):
- it calls back into Python (`default`) for every value JSON has no type for, and an
  event's state holds two or three datetimes. An event's state is a dict: its values of
  a registered type are replaced by what the call back would have returned before the
  encoder runs (values nested deeper still go through the call back). The text of a
  datetime or date is kept for the next event: an imported row's four events share their
  recorded time, and most rows share their dates.
- it makes its C encoder again for every value (and a closure for floats). One is made
  once here, without the check for circular references (an event's state has none; one
  that had would end in a `RecursionError` rather than a `ValueError`).

Read back, the text goes straight to the decoder's C scanner, not through `JSONDecoder.
decode`'s two whitespace matches in Python (3.5 against 2.8 µs a contact's state; a long
client's history decodes thousands), with one object hook that keeps immutable values by
their text (`ledger.privacy.decoding`, which the projections' reading uses too); anything
but one value filling the text is decoded by the library, which answers it (or refuses
it) as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cached_property
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from eventsourcing.persistence import JSONTranscoder

from ledger.privacy.decoding import fast_decoder

# What the encoder writes natively (an instance of a subclass too, e.g. a `StrEnum`): never
# through a transcoding, so never replaced.
_NATIVE = (str, int, float, list, tuple, dict)
# Texts kept; the cache starts again from empty past this many.
KEPT_TEXTS = 4096


class InliningJSONTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        self._texts: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._utc_texts: dict[datetime, dict[str, Any]] = {}
        encoder = self.encoder
        self._iterencode = (
            c_make_encoder(
                None,
                encoder.default,
                encode_basestring,
                None,
                encoder.key_separator,
                encoder.item_separator,
                encoder.sort_keys,
                encoder.skipkeys,
                encoder.allow_nan,
            )
            if c_make_encoder is not None
            else None
        )

    def encode(self, obj: Any) -> bytes:
        if obj.__class__ is dict:
            types = self.types
            obj = {
                key: self._inlined(value) if value.__class__ in types else value
                for key, value in obj.items()
            }
        if self._iterencode is None:
            return self.encoder.encode(obj).encode("utf8")
        return "".join(self._iterencode(obj, 0)).encode("utf8")

    def decode(self, data: bytes) -> Any:
        return self._fast_decode(data)

    @cached_property
    def _fast_decode(self) -> Callable[[bytes], Any]:
        # Made on first use: every transcoding is registered by then (the application
        # registers them as it constructs this transcoder).
        return fast_decoder(self)

    def _inlined(self, value: Any) -> Any:
        cls = value.__class__
        if cls is datetime:
            if value.tzinfo is UTC:
                # The ledger's own times: equal ones in UTC have the same text.
                inlined = self._utc_texts.get(value)
                return inlined if inlined is not None else self._kept(self._utc_texts, value, value)
            # Equal datetimes with the same UTC offset have the same ISO text (an equal one
            # with another offset, or another fold, may not).
            return self._kept(self._texts, (value, value.utcoffset()), value)
        if cls is date:
            return self._kept(self._texts, (value,), value)  # a date is its own text
        if isinstance(value, _NATIVE):
            return value
        return self._encode_obj(value)

    def _kept(self, texts: dict[Any, dict[str, Any]], key: Any, value: Any) -> dict[str, Any]:
        inlined = texts.get(key)
        if inlined is None:
            if len(texts) >= KEPT_TEXTS:
                texts.clear()
            inlined = texts[key] = self._encode_obj(value)
        return inlined
