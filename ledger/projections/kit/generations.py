"""Which version of the ledger keeps a view: its generation, so that processes of two
versions side by side (a rolling upgrade, a rollback) never both write it.

A read model's `generation` is raised by a change that makes an earlier version keep the
view's rows wrong: a table it must now update (the maintenance view's latest contacts), a
row whose meaning changed. A process starting claims the view for its generation, under the
schema lock (`claim_generation`, from `BatchView.upgrade`); every batch reads the generation
with its position (`batch_place`), and a process of another generation stops writing the
view (`recovery.ViewGenerationError`) while it goes on reading it. A view a later version
claimed is not upgraded by an earlier one; a rebuild (`BatchView.reset`) claims it for the
rebuilding process, whichever its version.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

log = logging.getLogger(__name__)


class KeptGeneration:
    """The generation a view is kept by (a part of every `BatchView`)."""

    view_name: ClassVar[str]
    generation: ClassVar[int] = 1
    # Row locks of the backend, to end a SELECT with: PostgreSQL's (a SQLite transaction of
    # a view holds the file's write lock from its start).
    share_row: ClassVar[str] = ""
    update_row: ClassVar[str] = ""
    # The later generation that kept the view when this process started, if any.
    kept_by_later: int | None = None

    def _generation_table(self) -> str:
        return f"{self.view_name}_generation"

    def generation_statement(self) -> str:
        """CREATE TABLE of the view's generation row: not one of the parts' tables, which a
        reset empties."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self._generation_table()} "
            "(id INTEGER PRIMARY KEY, generation BIGINT NOT NULL)"
        )

    def claim_generation(self, c: Any) -> int:
        """In a transaction of its own: the generation the view was kept by (0: new, or
        kept before generations were), now this process's unless later (then noted in
        `kept_by_later`). On PostgreSQL it waits for a batch of another process in hand
        (`batch_place` holds the row): the upgrades that follow see what it wrote, and no
        batch of another generation starts after it."""
        c.execute(
            self._sql(
                f"SELECT generation FROM {self._generation_table()} WHERE id = 1{self.update_row}"
            )
        )
        row = c.fetchone()
        found = int(row["generation"]) if row else 0
        if found < self.generation:
            self.set_generation(c)
        elif found > self.generation:
            self.kept_by_later = found
            log.warning(
                "view %s is kept by a later version of the ledger (generation %d; this "
                "process keeps %d): this process reads it and does not write it",
                self.view_name,
                found,
                self.generation,
            )
        return found

    def stored_generation(self) -> int:
        """The generation that keeps the view now (0 if none)."""
        rows = self.query(f"SELECT generation FROM {self._generation_table()} WHERE id = 1")  # type: ignore[attr-defined]
        return int(rows[0]["generation"]) if rows else 0

    def set_generation(self, c: Any) -> None:
        """The view kept by this process's generation from now on (a rebuild)."""
        c.execute(
            self._sql(
                f"INSERT INTO {self._generation_table()} (id, generation) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET generation = excluded.generation"
            ),
            (self.generation,),
        )

    def batch_place(self, application_name: str) -> tuple[int, int]:
        """In the open batch: the view's position in the log, as its transaction sees it,
        and the generation that keeps the view (0 if none), in one statement (one round trip
        a batch); on PostgreSQL the generation's row is held shared until the batch ends."""
        c = self._state.cursor  # type: ignore[attr-defined]
        c.execute(
            self._sql(
                "SELECT generation, (SELECT MAX(notification_id) FROM "
                f"{self._tracking_table()} WHERE application_name = ?) AS position "  # type: ignore[attr-defined]
                f"FROM {self._generation_table()} WHERE id = 1{self.share_row}"
            ),
            (application_name,),
        )
        row = c.fetchone()
        if row is None:
            return self._max_tracking_id(application_name, c) or 0, 0  # type: ignore[attr-defined]
        return row["position"] or 0, int(row["generation"])
