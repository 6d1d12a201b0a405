"""The command line: `ledger serve`, `ledger history` and the rest of API.md's commands."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ledger.bootstrap import build
from ledger.domain import LedgerError

app = typer.Typer(help="Client relationship ledger", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from ledger.api.app import create_app

    container = build()
    typer.echo(f"ledger: {container.settings.store} store; docs at http://{host}:{port}/docs")
    try:
        uvicorn.run(create_app(container), host=host, port=port)
    finally:
        container.close()


@app.command()
def history(
    client_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Print a client's events in order, with effective and recorded times."""
    container = build()
    try:
        entries = container.ledger.client_history(client_id)
    except LedgerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        container.close()
    for entry in entries:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "event_id": entry.event_id,
                        "type": entry.type,
                        "version": entry.version,
                        "position": entry.position,
                        "occurred_at": entry.occurred_at.isoformat(),
                        "recorded_at": entry.recorded_at.isoformat(),
                        "recorded_by": entry.recorded_by,
                        "data": entry.data,
                        "retracted_by": entry.retracted_by,
                    },
                    default=str,
                )
            )
        else:
            retracted = f"  [retracted by {entry.retracted_by}]" if entry.retracted_by else ""
            typer.echo(
                f"{entry.version:>5} #{entry.position} {entry.type:<16} "
                f"effective {entry.occurred_at.isoformat()}  "
                f"recorded {entry.recorded_at.isoformat()} by {entry.recorded_by}{retracted}"
            )
            for key, value in entry.data.items():
                typer.echo(f"        {key}: {value}")


@app.command()
def project() -> None:
    """Run the projections alone, following the store until stopped."""
    container = build()
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


@app.command()
def rebuild(
    names: Annotated[
        list[str] | None, typer.Argument(help="projections to rebuild (all if none)")
    ] = None,
) -> None:
    """Rebuild read models from the whole log (stop other projection runners first)."""
    container = build()
    try:
        projections = container.start_projections(follow=False)
        try:
            end = projections.rebuild(names or None)
        except KeyError as error:
            typer.echo(f"error: {error.args[0]}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"rebuilt {', '.join(names or projections.views)} up to position {end}")
    finally:
        container.close()
