"""Reads that wait for the views to reach a position (`?after=`): where each view is as this
process applied it, woken by every batch applied, in threads and on event loops; or, when
another process runs the projections (`ledger project`), their tracking rows watched."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from anyio import to_thread

from ledger.projections.recovery import ProjectionError

if TYPE_CHECKING:
    from ledger.projections.runner import ProjectionRunner

# A read waiting on another process's views (`ledger project`) looks at their positions this
# often; waiting on this process's own views, it is woken by their progress instead.
POLL_OTHERS = 0.1


class Progress:
    """Each view's position as this runner applied it, and the reads waiting on it."""

    def __init__(self, runner: ProjectionRunner) -> None:
        self.runner = runner
        self.positions: dict[str, int] = {}
        self._condition = threading.Condition()
        # Reads waiting on the event loop (`wait_async`): woken by every batch applied.
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        # Told of every change too (a projector process reports it to the server).
        self.listeners: list[Callable[[], None]] = []

    def reached(self, names: Iterable[str], position: int) -> bool:
        return all(self.positions.get(n, 0) >= position for n in names)

    def wait(self, position: int, timeout: float, names: Iterable[str] | None) -> bool:
        runner = self.runner
        names = list(names or runner.views)
        deadline = time.monotonic() + timeout
        with self._condition:
            while runner.is_running or runner.error is not None:
                if runner.error is not None:
                    raise ProjectionError(str(runner.error)) from runner.error
                if any(n in runner.failures for n in names):
                    return False  # it may be retried for long: the caller is told at once
                if self.reached(names, position):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                runner.hurry()
                self._condition.wait(min(remaining, 0.5))
        # Another process (`ledger project`) runs them: watch their tracking rows.
        for name in names:
            try:
                runner.views[name].wait(
                    runner.app.name, position, timeout=max(0.0, deadline - time.monotonic())
                )
            except TimeoutError:
                return False
        return True

    async def wait_async(self, position: int, timeout: float, names: Iterable[str] | None) -> bool:
        runner = self.runner
        names = list(names or runner.views)
        if self.reached(names, position):
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        end = await to_thread.run_sync(runner.app.recorder.max_notification_id)
        if position > (end or 0):
            return False
        if not (runner.is_running or runner.error is not None):
            return await self._poll_others(position, names, deadline)
        woken = asyncio.Event()
        waiter = (loop, woken)
        self._async_waiters.add(waiter)
        try:
            while True:
                woken.clear()
                if runner.error is not None:
                    raise ProjectionError(str(runner.error)) from runner.error
                if any(n in runner.failures for n in names):
                    return False
                if self.reached(names, position):
                    return True
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                runner.hurry()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(remaining, 0.5))
        finally:
            self._async_waiters.discard(waiter)

    async def _poll_others(self, position: int, names: list[str], deadline: float) -> bool:
        loop, runner = asyncio.get_running_loop(), self.runner

        def reached() -> bool:
            return all(
                (runner.views[n].max_tracking_id(runner.app.name) or 0) >= position for n in names
            )

        while not await to_thread.run_sync(reached):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(POLL_OTHERS)
        return True

    def notify(self) -> None:
        """Wake every waiting read, in threads and on event loops."""
        with self._condition:
            self._condition.notify_all()
        for loop, woken in list(self._async_waiters):
            with contextlib.suppress(RuntimeError):  # its loop has closed
                loop.call_soon_threadsafe(woken.set)
        for listener in self.listeners:
            listener()
