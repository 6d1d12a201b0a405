"""Empty views caught up as a rebuild: `ledger serve` or `ledger project` starting on a long
log with a view that has nothing yet (new, or reset) catches it up with the rebuild's
settings (`BatchView.start_rebuild`, without the reset): its query-only indexes dropped and
built once at the end, and what it works out over all its clients worked out once at the
end, rather than kept up to date row by row.

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


class EmptyViews(contextlib.ExitStack):
    """Entered before catching `names` up: each empty view this process gets the lock of is
    set to the rebuild's settings until the exit, which finishes it (indexes built, the
    parts' end of rebuild) and releases the lock. `elsewhere`: the views another process
    is catching up so, to catch up here only once it is done (`wait_for_others`)."""

    def __init__(self, runner: ProjectionRunner, names: Iterable[str]) -> None:
        super().__init__()
        self.runner = runner
        self.names = list(names)
        self.mine: list[str] = []
        self.elsewhere: list[str] = []

    def __enter__(self) -> EmptyViews:
        super().__enter__()
        try:
            for name in self.names:
                self._take(name)
        except BaseException:
            self.close()
            raise
        return self

    def _take(self, name: str) -> None:
        runner = self.runner
        view = runner.views[name]
        if view.rebuilding or (view.max_tracking_id(runner.app.name) or 0) > 0:
            return
        lock = contextlib.ExitStack()
        if not lock.enter_context(view.catch_up_lock()):
            lock.close()
            self.elsewhere.append(name)
            return
        # Looked at again under the lock: another process may have caught it up meanwhile.
        if (view.max_tracking_id(runner.app.name) or 0) > 0:
            lock.close()
            return
        self.push(lock)
        with runner.apply_lock:
            view.start_rebuild(reset=False)
        self.callback(self._finish, name)
        self.mine.append(name)

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
