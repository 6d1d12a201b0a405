"""Clients' personal texts in a read model: kept sealed under each client's key (see
ledger.privacy), opened when read."""

from __future__ import annotations

from typing import Any, ClassVar


class SealedTexts:
    """What a view seals and opens (a part of every `BatchView`)."""

    view_name: ClassVar[str]

    # The ledger's key ring (ledger.privacy), set by the composition root: a view keeps a
    # client's name sealed under the client's key, opened when read. Without one (a view
    # built on its own, in tests), names are kept as given.
    keyring: Any = None

    def seal(self, aid: str, path: str, value: str | None) -> str | None:
        if self.keyring is None or value is None:
            return value
        return self.keyring.seal_text(aid, f"{self.view_name}:{path}", value)

    def open(self, aid: str, path: str, value: str | None) -> str | None:
        """The plain value, or None once the client is erased."""
        if self.keyring is None or value is None:
            return value
        return self.keyring.open_text(aid, f"{self.view_name}:{path}", value)

    def open_rows(self, rows: list[dict[str, Any]], path: str, column: str) -> None:
        """Each row's `column` opened in place under the key of its `aid` (taken out of the
        row), the keys not yet unwrapped read in one query: read one at a time, a branch
        roster page of 100 names not opened before took 6.1 ms of CPU, now 2.5 (the
        100,000-client demo)."""
        if self.keyring is not None:
            self.keyring.load([row["aid"] for row in rows if row[column] is not None])
        for row in rows:
            row[column] = self.open(row.pop("aid"), path, row[column])
