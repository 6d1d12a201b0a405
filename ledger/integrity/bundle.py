"""The offline bundle: the log as JSON Lines, verifiable with no database.

Line 1 is a header holding the digest the bundle was cut at:
    {"format": "ledger-bundle", "version": 1, "digest": {position, hash, recorded_at}}
Every further line is one position of the log, in order:
    {"position", "originator_id" (UUID), "version", "topic", "state" (base64), "hash" (hex)}
A position whose event is missing from the store is written with its hash alone, and
an event the store never hashed with `"hash": null`, so the bundle fails where the store
does. Hashes follow `ledger.integrity.chain`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO
from uuid import UUID

from ledger.integrity.chain import ChainEntry, ChainEvent, Digest, Verification, check_chain

FORMAT = "ledger-bundle"
VERSION = 1


class BundleError(ValueError):
    """The file is not a ledger bundle, or a line of it cannot be read."""


def write_bundle(out: TextIO, digest: Digest, entries: Iterable[ChainEntry]) -> None:
    header = {"format": FORMAT, "version": VERSION, "digest": digest.as_dict()}
    out.write(json.dumps(header) + "\n")
    for position, event, recorded in entries:
        line: dict[str, Any] = {"position": position}
        if event is not None:
            line.update(
                originator_id=str(UUID(bytes=event.originator_id)),
                version=event.version,
                topic=event.topic,
                state=base64.b64encode(event.state).decode("ascii"),
            )
        line["hash"] = recorded.hex() if recorded is not None else None
        out.write(json.dumps(line) + "\n")


def read_bundle(lines: Iterable[str]) -> tuple[Digest, Iterator[ChainEntry]]:
    """The bundle's own digest, and its entries read lazily, one line at a time."""
    iterator = iter(lines)
    try:
        header = json.loads(next(iterator))
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise BundleError(f"not a {FORMAT} version {VERSION} file")
        digest = Digest.from_dict(header["digest"])
    except StopIteration:
        raise BundleError("empty file") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as error:
        raise BundleError(f"line 1: {error}") from None
    return digest, _entries(iterator)


def _entries(lines: Iterator[str]) -> Iterator[ChainEntry]:
    for number, text in enumerate(lines, start=2):
        if not text.strip():
            continue
        try:
            yield _entry(json.loads(text))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as error:
            raise BundleError(f"line {number}: {error}") from None


def _entry(line: dict[str, Any]) -> ChainEntry:
    position = line["position"]
    if not isinstance(position, int) or isinstance(position, bool):
        raise ValueError("position must be an integer")
    recorded = bytes.fromhex(line["hash"]) if line.get("hash") is not None else None
    event = None
    if "state" in line:
        try:
            state = base64.b64decode(line["state"], validate=True)
        except binascii.Error as error:
            raise ValueError(f"state is not base64: {error}") from None
        event = ChainEvent(
            position,
            UUID(line["originator_id"]).bytes,
            int(line["version"]),
            str(line["topic"]),
            state,
        )
    return ChainEntry(position, event, recorded)


def verify_bundle(lines: Iterable[str], digest: Digest | None = None) -> Verification:
    """Check a bundle against its own digest or, better, one the auditor kept apart
    (then only the bundle's prefix up to that digest's position is checked)."""
    own, entries = read_bundle(lines)
    target = digest or own
    if target.position > own.position:
        # The bundle was cut before the digest: it cannot prove the missing tail.
        return check_chain(entries, target)
    return check_chain(_upto(entries, target.position), target)


def _upto(entries: Iterator[ChainEntry], position: int) -> Iterator[ChainEntry]:
    for entry in entries:
        if entry.position > position:
            return
        yield entry
