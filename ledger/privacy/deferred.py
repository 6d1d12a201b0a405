"""Personal values opened when first read, not when their event is loaded.

Most sealed values are never read by the code that loads their event: a command on a
client replays its events since the last snapshot (up to 99), and no contact's purpose or
summary, no reason for a tier change or a churn, is part of the state it rebuilds; a
rebuild of the read models reads a contact's summary only when it was a complaint. So the
mapper leaves such a value sealed in its event (`SealedValue`), and the event's class
opens it on first read (`OpenedOnRead`, installed by the registry on each such field):
every reader still sees plain text, and one that reads after the subject was erased sees
`"[erased]"`.

Only fields the aggregate's state never holds are deferred: a created event's fields are
read by the library straight from the event's `__dict__` (into the aggregate's `__init__`),
and a dict field's values are kept in the state, so both are opened on load.
"""

from __future__ import annotations

from typing import Any


class SealedValue(tuple[Any, ...]):
    """A value still sealed, with what opens it: `(opener, token, topic, originator_id,
    version, path)`, the mapper and the place the value was sealed in (the associated data
    names it). A tuple: one is made for each such value of every event loaded (a command
    replays up to 99), and a tuple is made in C, a class with an `__init__` in Python."""

    __slots__ = ()

    def open(self) -> Any:
        opener, token, topic, originator_id, version, path = self
        return opener.open_value(token, topic, originator_id, version, path)

    # Immutable: a copied event shares it (a deep copy must not copy the key ring).
    def __copy__(self) -> SealedValue:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SealedValue:
        return self

    # A pickled event holds the value, never what opens it (the mapper and its key ring).
    def __reduce__(self) -> tuple[Any, tuple[Any]]:  # type: ignore[override]
        return _value, (self.open(),)

    def __repr__(self) -> str:
        return f"<sealed {self[5]}>"


def _value(value: Any) -> Any:
    return value


_MISSING = object()


class OpenedOnRead:
    """A data descriptor on an event class for one personal field: the value in the
    event's `__dict__`, opened on first read (and kept opened) if it is a `SealedValue`."""

    __slots__ = ("default", "name")

    def __init__(self, name: str, default: Any = _MISSING) -> None:
        self.name = name
        self.default = default

    def __get__(self, event: Any, owner: type | None = None) -> Any:
        if event is None:
            return self if self.default is _MISSING else self.default
        try:
            value = event.__dict__[self.name]
        except KeyError:
            if self.default is _MISSING:
                raise AttributeError(self.name) from None
            return self.default
        if value.__class__ is SealedValue:
            value = value.open()
            event.__dict__[self.name] = value
        return value

    def __set__(self, event: Any, value: Any) -> None:
        # The frozen dataclass's `__init__` sets fields through `object.__setattr__`.
        event.__dict__[self.name] = value


def defer(cls: type, name: str) -> None:
    """Let `cls`'s events open their field `name` on first read."""
    if isinstance(cls.__dict__.get(name), OpenedOnRead):
        return
    setattr(cls, name, OpenedOnRead(name, cls.__dict__.get(name, _MISSING)))
