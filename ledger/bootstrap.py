"""The composition root: settings in, a wired ledger out. Tests rewire it here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

from ledger.application import Ledger
from ledger.config import Settings
from ledger.domain import NotFound
from ledger.integrity import Integrity
from ledger.projections.runner import Projections, construct_views
from ledger.store import library_environment


@dataclass
class Container:
    settings: Settings
    ledger: Ledger
    closers: list[Callable[[], None]] = field(default_factory=list)
    projections: Projections | None = None

    @cached_property
    def integrity(self) -> Integrity:
        """Digest and verification of the hash chain over this ledger's log."""
        return Integrity.for_application(self.ledger)

    def start_projections(self, *, follow: bool = True) -> Projections:
        """The read models; with `follow`, this process also runs them, following the store
        (without, another process such as `ledger project` runs them)."""
        if self.projections is None:
            views = construct_views(
                self.settings.database_url,
                options={
                    "fiscal_year_start": self.settings.fiscal_year_start,
                    "churn_lookback_days": self.settings.churn_lookback_days,
                    "cadence": self.settings.cadence,
                },
            )
            self.projections = Projections(self.ledger, views)
            self.closers.append(self.projections.close)
        if follow:
            self.projections.start()
        return self.projections

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.ledger.close()


@dataclass
class ProjectedChurnCases:
    """The application's `ChurnCases` port, answered by the accountability read model."""

    container: Container

    def client_of_case(self, case_id: str, *, after: int | None, timeout: float) -> str | None:
        # An app served without its lifespan (no `with TestClient(...)`) still reads the views.
        projections = self.container.projections or self.container.start_projections(follow=False)
        if after is not None and not projections.wait(after, timeout=timeout):
            return None
        try:
            return str(projections.churn_case(case_id)["client_id"])
        except NotFound:
            return None


def build(
    settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None
) -> Container:
    settings = settings or Settings()
    env = library_environment(settings.database_url)
    if "SQLITE_DBNAME" in env:
        Path(env["SQLITE_DBNAME"]).parent.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(env, clock=clock)
    container = Container(settings=settings, ledger=ledger)
    ledger.churn_cases = ProjectedChurnCases(container)
    ledger.case_wait = settings.read_wait_seconds
    return container
