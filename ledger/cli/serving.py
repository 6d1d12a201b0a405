"""Running the ledger: `ledger serve` (the HTTP API), `ledger project` (the projections
alone) and `ledger rebuild` (read models from the whole log)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from ledger.bootstrap import PROJECTIONS, sqlite_files
from ledger.cli.opening import open_ledger
from ledger.config import Settings
from ledger.store import redact_url
from ledger.store.files import private_directory
from ledger.store.prewarm import prewarm_in_background

ADMIN_TOKEN_FILE = Path("var/admin-token")
# How long `serve` waits, as it ends, for the asking of the store's files ahead to end.
PREWARM_WAIT = 5.0


def ensure_admin_token(token_file: Path = ADMIN_TOKEN_FILE) -> Path | None:
    """With no LEDGER_ADMIN_TOKEN set, use the one in `token_file`, creating it (mode 0600)
    on first start; the environment then carries it to every worker."""
    if Settings().admin_token is not None:
        return None
    private_directory(token_file.parent)
    if not token_file.exists():
        descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    os.environ["LEDGER_ADMIN_TOKEN"] = token_file.read_text().strip()
    return token_file


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name that may resolve anywhere


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    no_projections: Annotated[
        bool,
        typer.Option("--no-projections", help="do not run the projections (`ledger project` does)"),
    ] = False,
    projections_apart: Annotated[
        bool,
        typer.Option(
            "--projections-apart",
            help="run the projections in a child process of their own, on another core than "
            "the requests (always so with --workers above 1)",
        ),
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option(help="log every request as a JSON line (off for benchmarks: it costs CPU)"),
    ] = True,
) -> None:
    """Serve the HTTP API with uvicorn."""
    from ledger.api.observability import configure_json_logs

    # Through the environment, so that every worker reads it. uvicorn's own access log
    # is off: it prints paths and queries; the ledger's JSON line prints route templates.
    os.environ["LEDGER_ACCESS_LOG"] = "1" if access_log else "0"
    configure_json_logs(access=access_log)

    token_file = ensure_admin_token()
    if no_projections:
        # Through the environment, so that every worker reads it.
        os.environ["LEDGER_NO_PROJECTIONS"] = "1"
    settings = Settings()
    typer.echo(f"ledger: {settings.store} store at {redact_url(settings.database_url)}")
    prewarming = None
    if settings.store == "sqlite":
        # The first reads after a start from the kernel's cache rather than the disk; asked
        # first thing, so the kernel has the time the start takes.
        prewarming = prewarm_in_background(sqlite_files(settings.database_url))
    try:
        _serve(settings, host, port, workers, projections_apart, token_file)
    finally:
        if prewarming is not None:
            # Its line logged before this returns, while the streams are open (a refused
            # start ends before the child does).
            prewarming.join(PREWARM_WAIT)


def _serve(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    projections_apart: bool,
    token_file: Path | None,
) -> None:
    """`serve` from the store's opening on: the messages, then uvicorn until it stops."""
    import uvicorn

    from ledger.api.app import create_app

    # Built before anything is served: a master key that is not the store's stops here.
    container = open_ledger(settings)
    if not _loopback(host):
        typer.echo(
            f"ledger: warning: listening on {host}, open to other machines, in plain HTTP: "
            "the ledger has no TLS of its own. Keep it on 127.0.0.1 behind a "
            "TLS-terminating proxy (README: Running behind a TLS-terminating proxy).",
            err=True,
        )
    if token_file is not None:
        typer.echo(f"ledger: admin token in {token_file.resolve()} (send it as a Bearer token)")
    typer.echo(
        f"ledger: master key from {container.ledger.master_key_source} (keep a copy apart from the "
        "database: without it no personal data can be read)"
    )
    typer.echo(f"ledger: console at http://{host}:{port}/ (sign in with an API key)")
    typer.echo(f"ledger: API docs at http://{host}:{port}/docs")
    # API.md: the projections run in the serving process. Asked to (or with several
    # workers, which must not each keep the views), and on a store other processes can
    # open, they run in one child process, on another core (ledger.projections.projector).
    apart = (projections_apart or workers > 1) and not (
        settings.no_projections or settings.store == "memory"
    )
    typer.echo(
        "ledger: projections "
        + (
            "read from views kept by another process"
            if settings.no_projections
            else "run in a child process"
            if apart
            else "run here"
        )
    )
    if workers > 1:
        # Workers are separate processes: each imports the factory and builds its container;
        # they read the views one projector keeps, or each runs the projections itself.
        if apart:
            os.environ["LEDGER_NO_PROJECTIONS"] = "1"
            container.start_projections(apart=True)
        else:
            container.close()
        try:
            uvicorn.run(
                "ledger.api.main:create",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                access_log=False,
            )
        finally:
            if apart:
                container.close()
        return
    from ledger.api.main import settle_heap

    app = create_app(container, apart=apart)
    settle_heap()
    try:
        uvicorn.run(app, host=host, port=port, access_log=False)
    finally:
        container.close()


def project() -> None:
    """Run the projections alone, following the store until stopped."""
    container = open_ledger()
    projections = container.start_projections(follow=False)
    typer.echo(
        f"ledger: projecting {container.settings.store} store; positions {projections.positions()}"
    )
    try:
        projections.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        container.close()


def rebuild(
    names: Annotated[
        list[str] | None, typer.Argument(help="projections to rebuild (all if none)")
    ] = None,
) -> None:
    """Rebuild read models from the whole log (stop other projection runners first).

    Several views are rebuilt in up to one process per core (a rebuild is bound by
    Python, and processes use every core); one view, or the in-memory store, in this
    process."""
    container = open_ledger()
    try:
        chosen = list(names or PROJECTIONS)
        try:
            if len(chosen) > 1:
                end = min(container.rebuild_in_processes(chosen).values())
            else:
                end = container.runner.rebuild(chosen)
        except KeyError as error:
            typer.echo(f"error: {error.args[0]}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"rebuilt {', '.join(chosen)} up to position {end}")
    finally:
        container.close()
