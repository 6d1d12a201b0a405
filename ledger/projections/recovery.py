"""When projections fail, and how they come back: a view that failed on an event stops
there and is retried with a growing pause while the others go on; following itself, when
the store went away, starts again once the store is back. What is failing is read by the
health endpoint (`ProjectionRunner.failures`, `.error`)."""

from __future__ import annotations

import logging
import threading
import traceback
from typing import TYPE_CHECKING, Any

from ledger.store import STORE_UNAVAILABLE

if TYPE_CHECKING:
    from ledger.projections.runner import ProjectionRunner

log = logging.getLogger(__name__)

# While the store is unreachable (a database restart), following is tried again this often.
RECOVERY_PAUSE = 1.0
# A view that failed on an event is tried again after this pause, doubled each failure up to
# the longest: a fixed bug (or a `ledger rebuild`) brings it back without a restart.
RETRY_FIRST = 1.0
RETRY_LONGEST = 60.0


class ProjectionError(RuntimeError):
    """A projection failed; it stops rather than skip an event."""


class ViewEventError(ProjectionError):
    """A view's handler failed on one event: the view stops there, the others go on."""

    def __init__(self, name: str, position: int, error: BaseException) -> None:
        # Without the error's own text (`failure_text`); the exception's message adds it.
        self.public = f"view {name} stopped at position {position}: {type(error).__name__}"
        super().__init__(f"{self.public}: {error}")
        self.name = name
        self.position = position


class ViewBehindError(ProjectionError):
    """A view's position is behind the batch in hand: another process reset it."""

    def __init__(self, name: str, position: int, after: int) -> None:
        super().__init__(
            f"view {name} is at position {position} but this batch follows {after}: it was "
            "reset by another process (ledger rebuild?); restart this runner"
        )


class ViewGenerationError(ProjectionError):
    """The view is kept by another version of the ledger than this process's (its
    generation, `kit.generations`): this process stops writing it rather than keep it
    wrong beside the other."""

    def __init__(self, name: str, found: int, own: int) -> None:
        if found > own:
            what = (
                f"view {name} is kept by a later version of the ledger (generation {found}; "
                f"this process keeps {own}): this process no longer writes it; stop it and "
                "run the later version"
            )
        else:
            what = (
                f"view {name} was rebuilt by an earlier version of the ledger (generation "
                f"{found}; this process keeps {own}): restart this process to upgrade it"
            )
        super().__init__(what)
        self.name, self.found, self.own = name, found, own


def check_generation(name: str, view: Any, found: int | None = None) -> None:
    """ViewGenerationError if another version of the ledger keeps the view: its generation
    `found` (as a batch read it), else as stored now."""
    found = view.stored_generation() if found is None else found
    if found != view.generation:
        raise ViewGenerationError(name, found, view.generation)


def failure_text(error: BaseException) -> str:
    """What a failure says to the health endpoint (answered without a token) and to the
    log: where a view stopped and the kind of error, not the error's own text, which may
    quote a value the event held (a name, what was said) or a database's key and host. The
    JSON log lines keep an exception's type only, for the same reason (`api.observability`);
    the position names the event, for those allowed to read it."""
    if isinstance(error, ViewEventError):
        return error.public
    if isinstance(error, (ViewBehindError, ViewGenerationError)):  # names, numbers, what to do
        return str(error)
    return type(error).__name__


def raised_at(error: BaseException) -> str:
    """Where the error (or the error it was raised from) was raised: the code's file, line
    and function, for the log; no value, so no personal data."""
    cause = error.__cause__ or error
    frames = traceback.extract_tb(cause.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"


class Recovery:
    """The runner's failed views and its recovery from a store that went away."""

    def __init__(self, runner: ProjectionRunner) -> None:
        self.runner = runner
        # Views stopped on an event (name -> what failed where), while they are retried.
        self.failures: dict[str, str] = {}
        self._retrying: set[str] = set()
        self._recovering = threading.Lock()

    @property
    def is_recovering(self) -> bool:
        return self._recovering.locked()

    def view_failed(self, name: str, error: BaseException) -> None:
        self.failures[name] = failure_text(error)
        # As every log line of the ledger: no exception's text (see `failure_text`).
        log.error(
            "projection %s: %s, raised at %s; retrying with backoff",
            name,
            self.failures[name],
            raised_at(error),
        )
        self.runner.progress.notify()
        if name not in self._retrying:
            self._retrying.add(name)
            threading.Thread(
                target=self._retry, args=(name,), daemon=True, name=f"projection-retry-{name}"
            ).start()

    def _retry(self, name: str) -> None:
        """Catch the failed view up from its own position, again and again with a growing
        pause, until it passes the event (the code or the data was fixed) or we stop."""
        runner, delay = self.runner, RETRY_FIRST
        try:
            while not runner.halted.wait(delay):
                try:
                    with runner.apply_lock:
                        runner.advance([name])
                        check_generation(name, runner.views[name])  # if no batch looked
                        # Back among the followed views from the next batch on.
                        self.failures.pop(name, None)
                except Exception as error:
                    self.failures[name] = failure_text(error)
                    log.error("projection %s: still failing: %s", name, self.failures[name])
                    delay = min(delay * 2, RETRY_LONGEST)
                    continue
                log.warning("projection %s: recovered", name)
                runner.progress.notify()
                return
        finally:
            self._retrying.discard(name)

    def following_failed(self, error: BaseException) -> None:
        """Following stopped on `error`: when the store went away, follow again once it is
        back (unless the runner was stopped)."""
        if (
            isinstance(error, STORE_UNAVAILABLE)
            and not self.runner.halted.is_set()
            and self._recovering.acquire(blocking=False)
        ):
            threading.Thread(target=self._recover, daemon=True, name="projections-recovery").start()

    def _recover(self) -> None:
        """Each view resumes from its own tracking position, so nothing is skipped or
        applied twice."""
        runner = self.runner
        try:
            while not runner.halted.wait(RECOVERY_PAUSE):
                runner.join_threads()
                if runner.is_running:
                    continue
                try:
                    runner.follow()
                except STORE_UNAVAILABLE as error:
                    log.warning("projections: the store is still unavailable: %s", error)
                    continue
                if runner.halted.is_set():  # stop() came while following resumed
                    runner.stop()
                    return
                log.warning("projections: following the store again")
                return
        finally:
            self._recovering.release()
