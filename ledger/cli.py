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


if __name__ == "__main__":
    app()
