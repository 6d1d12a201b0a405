"""The composition root: settings in, a wired ledger, its read models and their runner out.
Tests rewire it here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from ledger.application import Ledger, Principal
from ledger.config import Settings
from ledger.domain import NotFound
from ledger.integrity import Integrity
from ledger.privacy.keys import master_key_for
from ledger.projections import rebuild as rebuilding
from ledger.projections.accountability import (
    CASE_FACTS,
    AccountabilityProjection,
    AccountabilityView,
    SQLAccountabilityView,
)
from ledger.projections.audit import AuditProjection, AuditView, SQLAuditView
from ledger.projections.kit import BatchView, ViewProjection, view_class
from ledger.projections.kit.backends import VIEW_IDLE_IN_TRANSACTION_SECONDS
from ledger.projections.maintenance import (
    MaintenanceProjection,
    MaintenanceView,
    SQLMaintenanceView,
)
from ledger.projections.projector import ProjectorProcess, follow_and_report
from ledger.projections.reports import ReportsProjection, ReportsView, SQLReportsView
from ledger.projections.roster import RosterProjection, RosterView, SQLRosterView
from ledger.projections.runner import ProjectionRunner
from ledger.read_log import ReadLog, SQLReadLogStore
from ledger.store import library_environment, store_kind
from ledger.store.files import private_directory, private_sqlite_files
from ledger.store.sqlite import use_write_ahead_log

# Each read model: its projection and its SQL view.
PROJECTIONS: dict[str, tuple[type[ViewProjection], type[BatchView]]] = {
    "roster": (RosterProjection, SQLRosterView),
    "accountability": (AccountabilityProjection, SQLAccountabilityView),
    "reports": (ReportsProjection, SQLReportsView),
    "audit": (AuditProjection, SQLAuditView),
    "maintenance": (MaintenanceProjection, SQLMaintenanceView),
}


def view_options(settings: Settings) -> dict[str, Any]:
    """The settings the views' rows and answers depend on."""
    return {
        "fiscal_year_start": settings.fiscal_year_start,
        "churn_lookback_days": settings.churn_lookback_days,
        "cadence": settings.cadence,
        "duty_cadence": settings.duty_cadence,
        "completeness_target": settings.completeness_target,
        "late_entry_days": settings.late_entry_days,
    }


def construct_views(
    settings: Settings,
    names: Iterable[str] | None = None,
    models: dict[str, type[BatchView]] | None = None,
) -> dict[str, BatchView]:
    """The views of the named projections (all by default), configured from `settings`.

    On PostgreSQL they sit beside the events, in the same database. On SQLite each view
    has a file of its own next to the store (`ledger.db` -> `ledger.roster.db`): SQLite has
    one writer per file, so a view catching up never holds the lock the ledger's writes
    need, and the views can be written in parallel. With the in-memory store they are
    in-memory SQLite databases."""
    database_url = settings.database_url
    kind = store_kind(database_url)
    views: dict[str, BatchView] = {}
    for name in names or PROJECTIONS:
        if kind == "postgres":
            env = library_environment(database_url)
            # Views need few connections; the ledger keeps the larger pool. A catch-up
            # batch may sit longer between statements than the ledger's transactions.
            env.update({"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "4"})
            idle = str(VIEW_IDLE_IN_TRANSACTION_SECONDS)
            env["POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT"] = idle
        elif kind == "memory":
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": f"file:ledger-{name}-{uuid.uuid4().hex}?mode=memory&cache=shared",
            }
        else:
            env = library_environment(database_url)
            env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
            env["SQLITE_DBNAME"] = view_file(env["SQLITE_DBNAME"], name)
            use_write_ahead_log(env["SQLITE_DBNAME"])
        factory = InfrastructureFactory.construct(Environment("LEDGER_VIEWS", env))
        read_model = models[name] if models else PROJECTIONS[name][1]
        view_type = view_class(read_model, "postgres" if kind == "postgres" else "sqlite")
        view = factory.tracking_recorder(view_type)  # type: ignore[arg-type]
        if kind == "sqlite":
            private_sqlite_files(env["SQLITE_DBNAME"])
        view.configure(**view_options(settings))
        view.upgrade()
        # The factory closes the connection pool when collected: the view keeps it.
        view.factory = factory  # type: ignore[attr-defined]
        views[name] = view
    return views


def view_file(store_path: str, name: str) -> str:
    path = Path(store_path)
    return str(path.with_name(f"{path.stem}.{name}{path.suffix or '.db'}"))


def sqlite_files(database_url: str) -> list[str]:
    """A SQLite store's files: each view's, then the log's."""
    store = library_environment(database_url)["SQLITE_DBNAME"]
    return [view_file(store, name) for name in PROJECTIONS] + [store]


class ReadModels:
    """The views the API reads, typed by read model, and iterable by name."""

    def __init__(self, views: dict[str, BatchView]) -> None:
        self.by_name = views

    @property
    def roster(self) -> RosterView:
        return self.by_name["roster"]  # type: ignore[return-value]

    @property
    def accountability(self) -> AccountabilityView:
        return self.by_name["accountability"]  # type: ignore[return-value]

    @property
    def reports(self) -> ReportsView:
        return self.by_name["reports"]  # type: ignore[return-value]

    @property
    def audit(self) -> AuditView:
        return self.by_name["audit"]  # type: ignore[return-value]

    @property
    def maintenance(self) -> MaintenanceView:
        return self.by_name["maintenance"]  # type: ignore[return-value]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def __getitem__(self, name: str) -> BatchView:
        return self.by_name[name]

    def close(self) -> None:
        for view in self.by_name.values():
            view.factory.close()  # type: ignore[attr-defined]


@dataclass
class Container:
    settings: Settings
    ledger: Ledger
    closers: list[Callable[[], None]] = field(default_factory=list)
    # The read models this container builds (all by default; a rebuild process, its own).
    view_names: list[str] = field(default_factory=lambda: list(PROJECTIONS))
    # The child process running the projections, when they run apart.
    projector: ProjectorProcess | None = None

    def identify(self, token: str) -> Principal | None:
        """The caller a bearer token names: the configured admin token, or a valid key;
        None for any other (what the API and the console each answer then is theirs)."""
        admin = self.settings.admin_token
        return self.ledger.identify(token, admin_token=admin.get_secret_value() if admin else None)

    @cached_property
    def integrity(self) -> Integrity:
        """Digest and verification of the hash chain over this ledger's log."""
        return Integrity.for_application(self.ledger)

    @cached_property
    def views(self) -> ReadModels:
        """The read models, built on first use."""
        views = ReadModels(construct_views(self.settings, self.view_names))
        for view in views.by_name.values():
            view.keyring = self.ledger.keyring  # names kept sealed (ledger.privacy)
        self.closers.append(views.close)
        return views

    @cached_property
    def read_log(self) -> ReadLog:
        """Who read which client's personal data (in a database of its own, as a view)."""
        store = construct_views(self.settings, ["read_log"], {"read_log": SQLReadLogStore})
        read_log = ReadLog(store["read_log"], clock=self.ledger.clock)  # type: ignore[arg-type]
        self.closers.append(read_log.close)
        return read_log

    @cached_property
    def runner(self) -> ProjectionRunner:
        """What runs the read models' projections (built on first use; it follows the store
        once started)."""
        runner = ProjectionRunner(
            self.ledger,
            {name: PROJECTIONS[name][0](self.views[name]) for name in self.views},
        )
        runner.pull_gap = self.settings.projection_pull_gap_seconds
        if self.settings.store != "memory":
            runner.catch_up_elsewhere = partial(
                rebuilding.catch_up_in_processes,
                catch_up_group=partial(_in_a_process, self.settings.model_dump(), "catch_up"),
            )
        self.closers.append(runner.close)
        return runner

    @property
    def views_built(self) -> bool:
        return "views" in self.__dict__

    def start_projections(self, *, follow: bool = True, apart: bool = False) -> ProjectionRunner:
        """The runner; with `follow`, this process also runs the projections, following the
        store; with `apart`, a child process it supervises runs them (`ledger serve`);
        with neither, another process such as `ledger project` runs them."""
        if apart:
            self.projector = ProjectorProcess(
                self.runner, partial(_project_apart, self.settings.model_dump())
            )
            self.projector.start()
            self.closers.append(self.projector.stop)
        elif follow:
            self.runner.start()
        return self.runner

    def client_of_case(self, case_id: str, *, after: int | None, timeout: float) -> str | None:
        """The churned client of a case, from the accountability read model; a case it does
        not know yet may be a churn just recorded: with `after`, wait (up to `timeout`) for
        the read models to reach that position and look again. None if still unknown."""
        view = self.views.accountability
        try:
            return str(view.churn_case(case_id)["client_id"])
        except NotFound:
            if after is None or not self.runner.wait(after, timeout=timeout):
                return None
        try:
            return str(view.churn_case(case_id)["client_id"])
        except NotFound:
            return None

    def facts_of_case(self, case_id: str, *, after: int, timeout: float) -> dict[str, Any] | None:
        self.runner.wait(after, timeout=timeout, names=["accountability"])
        try:
            case = self.views.accountability.churn_case(case_id)
        except NotFound:
            return None
        return {name: case[name] for name in CASE_FACTS}

    def rebuild_in_processes(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """Rebuild the named read models (all by default) in a process per core, each
        process built through `build` from these settings."""
        chosen = list(names or PROJECTIONS)
        unknown = set(chosen) - set(PROJECTIONS)
        if unknown:
            raise KeyError(f"unknown projection(s): {', '.join(sorted(unknown))}")
        if self.settings.store == "memory":
            return dict.fromkeys(chosen, self.runner.rebuild(chosen))
        worker = partial(_in_a_process, self.settings.model_dump(), "rebuild")
        return rebuilding.rebuild_in_processes(chosen, worker)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.ledger.close()


def _in_a_process(settings: dict[str, Any], action: str, names: list[str]) -> int:
    """In a rebuild or catch-up process: the read models `names` rebuilt from the whole log
    (`action` "rebuild") or caught up to its end ("catch_up")."""
    container = build(Settings(**settings), views=names)
    try:
        return int(getattr(container.runner, action)(names))
    finally:
        container.close()


def _project_apart(settings: dict[str, Any], reports: Connection, nudges: Connection) -> None:
    """In the projector process: the read models kept, reporting to the server."""
    container = build(Settings(**settings))
    try:
        follow_and_report(container.runner, reports, nudges)
    finally:
        container.close()


def ledger_environment(settings: Settings) -> dict[str, str]:
    """The library's environment for the ledger: the store, and the master key."""
    env = library_environment(settings.database_url)
    if settings.master_key is not None:
        env["MASTER_KEY"] = settings.master_key.get_secret_value()
    if settings.master_key_file:
        env["MASTER_KEY_FILE"] = settings.master_key_file
    return env


def master_key_source(settings: Settings) -> str:
    """Where the master key comes from (`LEDGER_MASTER_KEY` or its file, made on first
    start), for the start-up message and `ledger keys rotate`."""
    return master_key_for(ledger_environment(settings))[1]


def build(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    views: Iterable[str] | None = None,
) -> Container:
    """The ledger and, built on first use, the read models (`views`: all by default)."""
    settings = settings or Settings()
    env = ledger_environment(settings)
    if "SQLITE_DBNAME" in env:
        store_file = Path(env["SQLITE_DBNAME"])
        if not store_file.parent.exists():
            private_directory(store_file.parent)
        use_write_ahead_log(env["SQLITE_DBNAME"])
    ledger = Ledger(env, clock=clock)
    if "SQLITE_DBNAME" in env:
        private_sqlite_files(env["SQLITE_DBNAME"])
    ledger.retention_years = settings.retention_years
    container = Container(settings=settings, ledger=ledger)
    if views is not None:
        container.view_names = list(views)
    ledger.churn_cases = container  # the application's ChurnCases port
    ledger.case_wait = settings.read_wait_seconds
    ledger.manager_backdate = timedelta(days=settings.manager_backdate_days)
    return container
