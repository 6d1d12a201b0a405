"""Putting clients in and reading one back: `ledger demo`, `ledger import`, `ledger history`."""

from __future__ import annotations

import json
import sys
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.opening import open_ledger
from ledger.domain import LedgerError


def demo(
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same ledger")] = 7,
    clients: Annotated[int, typer.Option(min=1, help="number of clients")] = 20_000,
    end: Annotated[
        str | None, typer.Option(help="last day of the demo year (YYYY-MM-DD); default today")
    ] = None,
) -> None:
    """Load a demo branch (24 outlets, ~300 staff, a year of client events) into the store."""
    from ledger.demo import load_demo

    end_day = date.fromisoformat(end) if end else None
    container = open_ledger()
    try:
        if container.ledger.position:
            typer.echo(
                "error: the store is not empty; point LEDGER_DATABASE_URL at a new one", err=True
            )
            raise typer.Exit(1)
        stats = load_demo(
            container.ledger,
            seed=seed,
            clients=clients,
            end=end_day,
            progress=lambda s: typer.echo(
                f"  {s.clients} clients, {s.events} events, {s.seconds:.0f}s", err=True
            ),
        )
    finally:
        container.close()
    typer.echo(
        f"loaded {stats.units} units, {stats.staff} staff, {stats.clients} clients "
        f"({stats.churns} churns): {stats.events} events in {stats.seconds:.1f}s "
        f"({stats.events / max(stats.seconds, 1e-9):.0f} events/s)"
    )
    for kind, count in sorted(stats.by_type.items()):
        typer.echo(f"  {kind}: {count}")


def import_names(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX")],
    recorded_by: Annotated[str, typer.Option(help="who the events are recorded by")] = "import",
) -> None:
    """Import a name list (CSV or XLSX: client_id, name, outlet, tier, designated_manager,
    registered_on, phone, address, employer, assets, assets_as_of, source, referrer): every
    row is checked first; any bad row is reported and nothing is written."""
    from ledger.name_lists import read_name_list

    try:
        rows = read_name_list(file.read_bytes())
    except LedgerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    container = open_ledger()
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.render_finish()
            label = "checking rows " if stage == "checked" else "writing events"
            bars[stage] = typer.progressbar(length=total, label=label, file=sys.stderr)
            bars[stage].__enter__()
        bar = bars[stage]
        bar.update(done - bar.pos)

    try:
        report = container.ledger.import_clients(rows, recorded_by=recorded_by, progress=progress)
    finally:
        for bar in bars.values():
            bar.render_finish()
        container.close()
    for error in report.errors:
        typer.echo(f"line {error.line}: {error.field}: {error.message}", err=True)
    if report.errors:
        typer.echo(
            f"error: {len(report.errors)} problem(s) in {report.rows} rows; nothing was written",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(
        f"imported {report.imported} clients ({report.skipped} already in the ledger): "
        f"{report.events} events in {report.seconds:.1f}s "
        f"({report.events / max(report.seconds, 1e-9):.0f} events/s)"
    )


def history(
    client_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Print a client's events in order, with effective and recorded times."""
    with closing(open_ledger()) as container:
        try:
            entries = container.ledger.client_history(client_id)
        except LedgerError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
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
                        "hash": entry.hash,
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
            if entry.hash:
                typer.echo(f"        hash: {entry.hash}")
            for key, value in entry.data.items():
                typer.echo(f"        {key}: {value}")
