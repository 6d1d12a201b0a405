"""The store boundary: personal fields sealed on their way into the store and opened on
their way out, so the domain, the application and the projections see plain values and
the log (which the hash chain covers) holds only sealed ones.

The step runs on the event's state dict, before the transcoder encodes it and after it
decodes it: any transcoder (or compressor) composes with it. A value stored plain (before
this change) is passed through; a sealed value whose key was destroyed opens as
`"[erased]"`.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, cast

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic

from ledger.privacy.cipher import ERASED, PREFIX, is_sealed, open_sealed, seal
from ledger.privacy.deferred import SealedValue
from ledger.privacy.keys import KeyRing
from ledger.privacy.registry import EVENTS, SNAPSHOTS, PersonalFields
from ledger.store.recorded_order import RecordedEvent

_TEXT = b"s"
_ENCODED = b"j"
_COMPRESSED = b"z"


class SnapshotErased(LookupError):
    """A snapshot sealed under a key that erasure destroyed (erasure deletes them)."""


class PersonalDataMapper(Mapper[Any]):
    def __init__(self, transcoder: Transcoder, keyring: KeyRing, **kwargs: Any) -> None:
        super().__init__(transcoder, **kwargs)
        self.keyring = keyring
        self._snapshot_topics = {get_topic(cls) for cls in SNAPSHOTS}
        # The events with a value opened on load (the others open theirs on first read).
        self._opened_on_load = {get_topic(cls) for cls, f in EVENTS.items() if f.opens_on_load}
        # The last originator id and its text: an aggregate's events come together, and
        # `str(UUID)` is Python (1 µs).
        self._last_subject: tuple[Any, str] = (None, "")
        # Each stored topic's event class and what loading one needs of it, found once.
        self._topics: dict[str, tuple[type, int, bool]] = {}

    # ---- the step itself, on a state dict ---------------------------------------------

    def seal_state(self, cls: type, topic: str, subject: str, version: int, state: dict) -> None:
        fields = EVENTS.get(cls)
        if fields is not None:
            self._seal_fields(fields, topic, subject, version, state)
        elif cls is Snapshot and state.get("topic") in self._snapshot_topics:
            aead = self.keyring.for_sealing(subject)
            # Compressed, then sealed: a long client's state is mostly its contacts' times
            # (a quarter the size), and every write after a snapshot opens it. Sealed as it
            # was, opening one cost 3x the plain snapshot's (its base64 above all), now 2x.
            plain = _COMPRESSED + zlib.compress(self.transcoder.encode(state["state"]), 1)
            state["state"] = seal(aead, plain, _aad(topic, subject, version, "state"))

    def open_state(
        self, cls: type, topic: str, originator_id: Any, version: int, state: dict
    ) -> None:
        fields = EVENTS.get(cls)
        if fields is not None:
            # Left sealed, opened if and when the event's field is read: a command replays
            # its client's events for a state that holds none of these (ledger.privacy.
            # deferred). Opening them all on load cost a contact's write +28% CPU.
            for name in fields.deferred:
                value = state.get(name)
                if value.__class__ is str and value.startswith(PREFIX):
                    state[name] = SealedValue((self, value, topic, originator_id, version, name))
            if not fields.opens_on_load:
                return
            subject = str(originator_id)
            # The others are opened once per process, not once per load. Kept by subject,
            # so that erasure drops them with the key; checked against the place they were
            # sealed in.
            texts = self.keyring.opened_texts(subject)
            for name in fields.names:
                value = state.get(name)
                if value.__class__ is str and value.startswith(PREFIX):
                    known = texts.get(value)
                    if known is not None and known[0] == version and known[1] == name:
                        state[name] = known[2]
                    else:
                        state[name] = self._open(value, topic, subject, version, name, texts)
            for name in fields.dict_names:
                values = state.get(name)
                if isinstance(values, dict):
                    for key, value in values.items():
                        if value.__class__ is str and value.startswith(PREFIX):
                            path = f"{name}.{key}"
                            values[key] = self._open(value, topic, subject, version, path, texts)
        elif cls is Snapshot and is_sealed(state.get("state")):
            subject = str(originator_id)
            opened = self._open(state["state"], topic, subject, version, "state")
            if opened is ERASED:
                raise SnapshotErased(subject)
            state["state"] = opened

    def load_keys(self, stored_events: Iterable[StoredEvent]) -> None:
        """Before a page of events is opened: their subjects' keys read in one query. Read
        one client at a time, they took most of what a rebuild spent opening values
        (bench/RESULTS.md, issue 15)."""
        topics = self._opened_on_load
        self.keyring.load(str(e.originator_id) for e in stored_events if e.topic in topics)

    def open_value(
        self, token: str, topic: str, originator_id: Any, version: int, path: str
    ) -> Any:
        """A deferred value, opened when its event's field is first read."""
        return self._open(token, topic, str(originator_id), version, path)

    def _seal_fields(
        self, fields: PersonalFields, topic: str, subject: str, version: int, state: dict
    ) -> None:
        # `state` is a copy of the event's, but the dicts in it are the event's own, and
        # the aggregate's state holds them too (a profile update's changes): sealed in
        # copies, never in place.
        for name in fields.dict_names:
            values = state.get(name)
            if isinstance(values, dict):
                state[name] = dict(values)
        aead = None
        for path, container, key in _slots(fields, state):
            value = container[key]
            if value.__class__ is SealedValue:  # an event loaded, then stored again
                value = value.open()
            if value is None:
                continue
            aead = aead or self.keyring.for_sealing(subject)
            kind = fields.indexed.get(path)
            if kind is not None and isinstance(value, str):
                self.keyring.index(subject, kind, value)
            plain = (
                _TEXT + value.encode()
                if isinstance(value, str)
                else _ENCODED + self.transcoder.encode(value)
            )
            container[key] = seal(aead, plain, _aad(topic, subject, version, path))

    def opened_states(
        self, originator_id: Any, rows: Iterable[Sequence[Any]]
    ) -> list[tuple[type, dict[str, Any]]]:
        """Each stored row `(version, topic, state, ...)` of one aggregate as its event
        class and the state `to_domain_event` gives the event (without its originator's id
        and version), every personal value opened: for a reader that answers what is
        stored, not the event (a client's history: 10,000 events, where the events and
        their `SealedValue`s were a third of the CPU). The subject's key is looked up once,
        not once a value; every value is `"[erased]"` if the key was destroyed by then."""
        subject = str(originator_id)
        aead = self.keyring.for_opening(subject)

        def opened(token: str, topic: str, version: int, path: str) -> Any:
            return self._opened_with(aead, token, topic, subject, version, path)

        # Straight to the transcoder when nothing else was applied to the stored bytes.
        decode = self._decoded_state if self.cipher or self.compressor else self.transcoder.decode
        # Each topic's class, class version and personal fields, found once a read.
        kinds: dict[str, tuple[type, int, PersonalFields | None]] = {}
        states = []
        for row in rows:
            version, topic = row[0], row[1]
            kind = kinds.get(topic)
            if kind is None:
                cls, class_version, sealed = self._topic(topic)
                kind = kinds[topic] = (cls, class_version, EVENTS.get(cls) if sealed else None)
            cls, class_version, fields = kind
            try:
                state = decode(row[2])
            except Exception as error:
                raise _undecodable(topic, originator_id, version, error) from error
            if fields is not None:
                for name in fields.whole_names:
                    value = state.get(name)
                    if value.__class__ is str and value.startswith(PREFIX):
                        state[name] = opened(value, topic, version, name)
                for name in fields.dict_names:
                    values = state.get(name)
                    if isinstance(values, dict):
                        for key, value in values.items():
                            if value.__class__ is str and value.startswith(PREFIX):
                                values[key] = opened(value, topic, version, f"{name}.{key}")
            from_version = state.pop("class_version", 1)
            if from_version < class_version:
                # The upcasters see the state as `to_domain_event` gives it them.
                state["originator_id"], state["originator_version"] = originator_id, version
                _upcast(cls, state, from_version, class_version)
                del state["originator_id"], state["originator_version"]
            states.append((cls, state))
        return states

    def _open(
        self,
        token: str,
        topic: str,
        subject: str,
        version: int,
        path: str,
        texts: dict[str, tuple[int, str, str]] | None = None,
    ) -> Any:
        aead = self.keyring.for_opening(subject)
        value = self._opened_with(aead, token, topic, subject, version, path)
        if texts is not None and value is not ERASED and value.__class__ is str:
            self.keyring.remember_text(texts, token, (version, path, value))
        return value

    def _opened_with(
        self, aead: Any, token: str, topic: str, subject: str, version: int, path: str
    ) -> Any:
        """A sealed value opened with its subject's key (`"[erased]"` without one)."""
        if aead is None:
            return ERASED
        plain = open_sealed(aead, token, _aad(topic, subject, version, path))
        if plain[:1] == _TEXT:
            text = plain[1:].decode()
            if text.startswith(PREFIX):
                # Sealed twice (before e2d291e, an insert stamped again encoded its event a
                # second time, and the first encoding had sealed a dict field's values in
                # place): the inner token opens under the same key and place.
                with contextlib.suppress(ValueError):  # not a token: the text it is
                    return self._opened_with(aead, text, topic, subject, version, path)
            return text
        if plain[:1] == _COMPRESSED:
            return self.transcoder.decode(zlib.decompress(memoryview(plain)[1:]))
        return self.transcoder.decode(plain[1:])

    def plain_fields(self, stored_event: StoredEvent) -> list[str]:
        """The registered fields of a stored event that are held plain (written before
        personal data was sealed)."""
        cls = resolve_topic(stored_event.topic)
        fields = EVENTS.get(cls)
        if fields is None:
            return []
        state = self._decoded(stored_event)
        return [
            path
            for path, container, key in _slots(fields, state)
            if container[key] is not None and not is_sealed(container[key])
        ]

    # ---- the library's two conversions, with the step inside --------------------------

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        topic = get_topic(cls)
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        last = self._last_subject
        if last[0] is originator_id:
            subject = last[1]
        else:
            subject = str(originator_id)
            self._last_subject = (originator_id, subject)
        self.seal_state(cls, topic, subject, originator_version, event_state)
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        stored_state = self.transcoder.encode(event_state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        # Its recorded time beside it: the store keeps the log in recorded order.
        return RecordedEvent.made(
            originator_id,
            originator_version,
            topic,
            stored_state,
            getattr(domain_event, "timestamp", None),
        )

    def _decoded(self, stored_event: StoredEvent) -> dict[str, Any]:
        return self._decoded_state(stored_event.state)

    def _decoded_state(self, stored_state: bytes) -> dict[str, Any]:
        if self.cipher:
            stored_state = self.cipher.decrypt(stored_state)
        if self.compressor:
            stored_state = self.compressor.decompress(stored_state)
        return cast(dict[str, Any], self.transcoder.decode(stored_state))

    def _topic(self, topic: str) -> tuple[type, int, bool]:
        """The event class of a stored topic, its class version, and whether its events
        may hold sealed values (`open_state` has anything to do)."""
        found = self._topics.get(topic)
        if found is None:
            cls = resolve_topic(topic)
            sealed = cls in EVENTS or cls is Snapshot
            found = self._topics[topic] = (cls, getattr(cls, "class_version", 1), sealed)
        return found

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls, class_version, sealed = self._topic(stored_event.topic)
        originator_id = stored_event.originator_id
        try:
            event_state = self._decoded_state(stored_event.state)
        except Exception as error:
            raise _undecodable(
                stored_event.topic, originator_id, stored_event.originator_version, error
            ) from error
        # Opened before the upcasters run: they see plain values (a deferred one is a
        # `SealedValue` there, which an upcaster that needs it opens).
        if sealed:
            self.open_state(
                cls, stored_event.topic, originator_id, stored_event.originator_version, event_state
            )
        id_convertor = find_id_convertor(cls, cast(Hashable, type(originator_id)))
        event_state["originator_id"] = id_convertor(originator_id)
        event_state["originator_version"] = stored_event.originator_version
        from_version = event_state.pop("class_version", 1)
        if from_version < class_version:
            _upcast(cls, event_state, from_version, class_version)
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", event_state)
        return domain_event


def _undecodable(
    topic: str, originator_id: Any, version: int, error: Exception
) -> MapperDeserialisationError:
    return MapperDeserialisationError(
        f"Failed to deserialise state of stored event with topic '{topic}', originator_id "
        f"'{originator_id}' and originator_version {version}: {error}"
    )


def _upcast(cls: type, state: dict[str, Any], from_version: int, class_version: int) -> None:
    while from_version < class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
        from_version += 1


def _aad(topic: str, subject: str, version: int, path: str) -> bytes:
    return f"{topic}\x00{subject}\x00{version}\x00{path}".encode()


def _slots(fields: PersonalFields, state: dict) -> list[tuple[str, dict, str]]:
    """`(path, container, key)` for every personal value present in `state`."""
    slots = []
    for path in fields.paths:
        name, _, rest = path.partition(".")
        if rest == "*":
            values = state.get(name)
            if isinstance(values, dict):
                slots.extend((f"{name}.{key}", values, key) for key in values)
        elif name in state:
            slots.append((path, state, name))
    return slots
