"""The offline bundles: JSON Lines, verifiable with no database.

**The whole log** (version 1). Line 1 is a header holding the digest the bundle was cut at:
    {"format": "ledger-bundle", "version": 1, "digest": {position, hash, recorded_at}}
Every further line is one position of the log, in order:
    {"position", "originator_id" (UUID), "version", "topic", "state" (base64), "hash" (hex)}
A position whose event is missing from the store is written with its hash alone, and
an event the store never hashed with `"hash": null`, so the bundle fails where the store
does. Hashes follow `ledger.integrity.chain`.

**Some events with their proofs** (version 2, `ledger export --client ID`). Line 1:
    {"format": "ledger-bundle", "version": 2, "digest": {..., tree_size, root_hash},
     "subject": {"client_id": ...}}
then one line per event, in position order:
    {"position", "leaf_index", "originator_id", "version", "topic", "state" (base64),
     "audit_path": [hex, ...]}
Each event is checked alone against the tree head (`ledger.integrity.merkle`): its leaf
hash from its canonical bytes, the audit path up to the root. The lines must also run in
position and leaf order, belong to one aggregate, and hold its versions from 1 without a
hole, so an event left out between two others, or moved, is found too. (Events after the
last line cannot be shown missing: the tree holds no index by aggregate.)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO
from uuid import UUID

from ledger.integrity.chain import (
    ChainEntry,
    ChainEvent,
    Digest,
    Verification,
    canonical_bytes,
    check_log,
)
from ledger.integrity.merkle import InclusionProof, leaf_hash, root_from_inclusion

FORMAT = "ledger-bundle"
VERSION = 1
EVENTS_VERSION = 2


class BundleError(ValueError):
    """The file is not a ledger bundle, or a line of it cannot be read."""


def write_bundle(out: TextIO, digest: Digest, entries: Iterable[ChainEntry]) -> None:
    header = {"format": FORMAT, "version": VERSION, "digest": digest.as_dict()}
    out.write(json.dumps(header) + "\n")
    for position, event, recorded in entries:
        line: dict[str, Any] = {"position": position}
        if event is not None:
            line.update(_event_fields(event))
        line["hash"] = recorded.hex() if recorded is not None else None
        out.write(json.dumps(line) + "\n")


_UNREADABLE = (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError)


def _header(lines: Iterator[str], *versions: int) -> dict[str, Any]:
    try:
        header = json.loads(next(lines))
        if header.get("format") != FORMAT or header.get("version") not in versions:
            raise BundleError(f"not a {FORMAT} version {' or '.join(map(str, versions))} file")
        Digest.from_dict(header["digest"])
    except StopIteration:
        raise BundleError("empty file") from None
    except _UNREADABLE as error:
        raise BundleError(f"line 1: {error}") from None
    return header  # type: ignore[no-any-return]


def _entries(lines: Iterator[str]) -> Iterator[ChainEntry]:
    for number, text in enumerate(lines, start=2):
        if not text.strip():
            continue
        try:
            yield _entry(json.loads(text))
        except _UNREADABLE as error:
            raise BundleError(f"line {number}: {error}") from None


def _entry(line: dict[str, Any]) -> ChainEntry:
    position = line["position"]
    if not isinstance(position, int) or isinstance(position, bool):
        raise ValueError("position must be an integer")
    recorded = bytes.fromhex(line["hash"]) if line.get("hash") is not None else None
    event = _event(position, line) if "state" in line else None
    return ChainEntry(position, event, recorded)


def _event(position: int, line: dict[str, Any]) -> ChainEvent:
    try:
        state = base64.b64decode(line["state"], validate=True)
    except binascii.Error as error:
        raise ValueError(f"state is not base64: {error}") from None
    return ChainEvent(
        position,
        UUID(line["originator_id"]).bytes,
        int(line["version"]),
        str(line["topic"]),
        state,
    )


def _event_fields(event: ChainEvent) -> dict[str, Any]:
    return {
        "originator_id": str(UUID(bytes=event.originator_id)),
        "version": event.version,
        "topic": event.topic,
        "state": base64.b64encode(event.state).decode("ascii"),
    }


def verify_bundle(lines: Iterable[str], digest: Digest | None = None) -> Verification | ProofCheck:
    """Check a bundle against its own digest or, better, one the auditor kept apart
    (for the whole log, only the bundle's prefix up to that digest's position is
    checked; for events with proofs, the digest's tree head must be the bundle's)."""
    iterator = iter(lines)
    header = _header(iterator, VERSION, EVENTS_VERSION)
    if header["version"] == EVENTS_VERSION:
        return check_events(Digest.from_dict(header["digest"]), iterator, digest)
    own, entries = Digest.from_dict(header["digest"]), _entries(iterator)
    target = digest or own
    if target.position > own.position:
        # The bundle was cut before the digest: it cannot prove the missing tail.
        return check_log(entries, target)
    return check_log(_upto(entries, target.position), target)


def _upto(entries: Iterator[ChainEntry], position: int) -> Iterator[ChainEntry]:
    for entry in entries:
        if entry.position > position:
            return
        yield entry


# ---- version 2: events with their inclusion proofs -------------------------------------


def write_events_bundle(
    out: TextIO,
    digest: Digest,
    proven: Iterable[tuple[ChainEvent, InclusionProof]],
    subject: dict[str, str],
) -> None:
    header = {
        "format": FORMAT,
        "version": EVENTS_VERSION,
        "digest": digest.as_dict(),
        "subject": subject,
    }
    out.write(json.dumps(header) + "\n")
    for event, proof in proven:
        line = {"position": event.position, "leaf_index": proof.leaf_index}
        line.update(_event_fields(event))
        line["audit_path"] = proof.audit_path
        out.write(json.dumps(line) + "\n")


@dataclass(frozen=True)
class ProofCheck:
    """The check of an events bundle: `checked` events proved before the first failure,
    which names its `line` of the file, the event's `position` and the `check` failed:
    `digest` (the bundle's tree head is not the digest's), `order` (positions or leaf
    indexes not increasing, or a leaf past the tree), `aggregate` (an event of another
    aggregate), `version` (a version skipped or repeated), `inclusion` (the event and its
    audit path do not lead to the root)."""

    ok: bool
    checked: int
    first_mismatch: int | None
    line: int | None = None
    check: str | None = None

    def as_dict(self) -> dict[str, object]:
        result: dict[str, object] = {
            "ok": self.ok,
            "checked": self.checked,
            "first_mismatch": self.first_mismatch,
        }
        if not self.ok:
            result.update(line=self.line, check=self.check)
        return result


def check_events(own: Digest, lines: Iterator[str], kept: Digest | None) -> ProofCheck:
    if own.tree_size is None or own.root_hash is None:
        return ProofCheck(False, 0, None, 1, "digest")
    if kept is not None and (kept.tree_size, kept.root_hash) != (own.tree_size, own.root_hash):
        return ProofCheck(False, 0, None, 1, "digest")
    size, root = own.tree_size, bytes.fromhex(own.root_hash)
    checked, last, originator = 0, (0, -1), None
    for number, text in enumerate(lines, start=2):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
            event = _event(line["position"], line)
            index = line["leaf_index"]
            path = [bytes.fromhex(node) for node in line["audit_path"]]
            if not isinstance(index, int) or not isinstance(event.position, int):
                raise ValueError("position and leaf_index must be integers")
        except _UNREADABLE as error:
            raise BundleError(f"line {number}: {error}") from None
        failed = None
        if event.position <= last[0] or index <= last[1] or index >= size:
            failed = "order"
        elif originator is not None and event.originator_id != originator:
            failed = "aggregate"
        elif event.version != checked + 1:
            failed = "version"
        elif root_from_inclusion(index, size, leaf_hash(canonical_bytes(event)), path) != root:
            failed = "inclusion"
        if failed:
            return ProofCheck(False, checked, event.position, number, failed)
        checked, last, originator = checked + 1, (event.position, index), event.originator_id
    return ProofCheck(True, checked, None)
