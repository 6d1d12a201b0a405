"""Views far behind caught up with the rebuild's settings: `ledger serve` or `ledger project`
starting on a long log with a view that has nothing yet (new, or reset) catches it up as a
rebuild does (`BatchView.start_rebuild`, without the reset): its query-only indexes dropped
and built once at the end, and what it works out over all its clients worked out once at
the end rather than kept up to date row by row. A view that has rows but is further behind
than it has come (`FAR_BEHIND`) has its query-only indexes dropped and built again at the
end: its rows are written as ever (another process may be writing them too).

Processes starting together on one database (`serve --workers N`, `ledger project`) would
each do so: each view's `catch_up_lock` lets one of them, and the others catch that view up
once it is done (little is left by then), the usual way. A process that dies half way leaves
the view as a rebuild stopped half way does: the next to construct it creates the indexes
(its create statements hold them) and works out what was left (the parts' `upgrade`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.projections.runner import ProjectionRunner

# How often a process waiting for another's catch-up of a view looks whether it is done.
LOOK_AGAIN = 0.5
# A view with rows is caught up with its query indexes dropped when at least this many events
# behind, and further behind than it has come: building an index over a table costs about
# as much as keeping it up to date over as many rows as the table holds.
FAR_BEHIND = 100_000


class RebuildSettings(contextlib.ExitStack):
    """Entered before catching `names` up to `end`: each view far behind whose lock this
    process gets is set to the rebuild's settings until the exit, which finishes it
    (indexes built, the parts' end of a rebuild) and releases the lock. `elsewhere`: the
    views another process is catching up so, to catch up here only once it is done
    (`wait_for_others`)."""

    def __init__(self, runner: ProjectionRunner, names: Iterable[str], end: int) -> None:
        super().__init__()
        self.runner, self.names, self.end = runner, list(names), end
        self.elsewhere: list[str] = []

    def __enter__(self) -> RebuildSettings:
        super().__enter__()
        try:
            for name in self.names:
                self._take(name)
        except BaseException:
            self.close()
            raise
        return self

    def _far_behind(self, name: str) -> int | None:
        """The view's position if it is far behind, else None."""
        done = self.runner.views[name].max_tracking_id(self.runner.app.name) or 0
        return done if done == 0 or self.end - done >= max(done, FAR_BEHIND) else None

    def _take(self, name: str) -> None:
        runner = self.runner
        view = runner.views[name]
        # A view a later version keeps is not this process's to set up or finish (its
        # batches stop at the generation: `kit.generations`).
        if view.rebuilding or view.kept_by_later is not None or self._far_behind(name) is None:
            return
        lock = contextlib.ExitStack()
        if not lock.enter_context(view.catch_up_lock()):
            lock.close()
            self.elsewhere.append(name)
            return
        # Looked at again under the lock: another process may have caught it up meanwhile.
        done = self._far_behind(name)
        if done is None:
            lock.close()
            return
        self.push(lock)
        with runner.apply_lock:
            if done == 0:
                view.start_rebuild(reset=False)
                self.callback(self._finish, name)
            else:
                view.drop_query_indexes()
                self.callback(view.create_query_indexes)

    def _finish(self, name: str) -> None:
        runner = self.runner
        with runner.apply_lock:
            runner.views[name].finish_rebuild()
        runner.publish_position(name)

    def wait_for_others(self, stopping: threading.Event) -> bool:
        """Once every view in `elsewhere` is free of its lock: True; False if stopped."""
        for name in self.elsewhere:
            view = self.runner.views[name]
            while True:
                with view.catch_up_lock() as got:
                    if got:
                        break
                if stopping.wait(LOOK_AGAIN):
                    return False
        return True
