"""The command line: `ledger serve`, `ledger history` and the rest of API.md's commands."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.bootstrap import PROJECTIONS, build, master_key_source
from ledger.config import Settings
from ledger.domain import LedgerError
from ledger.integrity import (
    BundleError,
    Digest,
    ProofCheck,
    UnlinkedLog,
    Verification,
    verify_bundle,
)
from ledger.privacy import MasterKey
from ledger.privacy.keys import write_key_file
from ledger.store import redact_url
from ledger.store.files import open_private, private_directory, private_process

app = typer.Typer(help="Client relationship ledger", no_args_is_help=True)


@app.callback()
def _private_files() -> None:
    """Client relationship ledger."""
    private_process()  # databases, tokens and bundles it writes are 0600, directories 0700


ADMIN_TOKEN_FILE = Path("var/admin-token")


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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    no_projections: Annotated[
        bool, typer.Option("--no-projections", help="do not run the projections in-process")
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option(help="log every request as a JSON line (off for benchmarks: it costs CPU)"),
    ] = True,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from ledger.api.app import create_app
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
        f"ledger: master key from {master_key_source(settings)} (keep a copy apart from the "
        "database: without it no personal data can be read)"
    )
    typer.echo(f"ledger: console at http://{host}:{port}/ (sign in with an API key)")
    typer.echo(f"ledger: API docs at http://{host}:{port}/docs")
    typer.echo(
        "ledger: projections "
        + ("read from views kept by another process" if settings.no_projections else "run here")
    )
    if workers > 1:
        # Workers are separate processes: each imports the factory and builds its container.
        uvicorn.run(
            "ledger.api.main:create",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
        )
        return
    container = build(settings)
    try:
        uvicorn.run(create_app(container), host=host, port=port, access_log=False)
    finally:
        container.close()


@app.command()
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
    container = build()
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


@app.command("import")
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
    container = build()
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


# ---- integrity: the hash chain's digest, verification and offline bundles ---------------


def _read_digest(path: Path) -> Digest:
    try:
        return Digest.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, AttributeError) as error:
        typer.echo(f"error: {path}: not a digest ({error})", err=True)
        raise typer.Exit(2) from None


def _report(result: Verification | ProofCheck) -> None:
    typer.echo(json.dumps(result.as_dict()))
    if isinstance(result, ProofCheck) and not result.ok:
        typer.echo(
            f"line {result.line}: {result.check} check failed"
            + (f" (position {result.first_mismatch})" if result.first_mismatch else ""),
            err=True,
        )
    elif not result.ok:
        typer.echo(f"position {result.first_mismatch}: does not verify", err=True)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def verify(
    digest: Annotated[
        Path | None, typer.Option(help="a digest JSON file kept from earlier (`ledger digest`)")
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(help="check this exported bundle instead of the database (offline)"),
    ] = None,
) -> None:
    """Recompute the hash chain and print {ok, checked, first_mismatch}; exit 1 if not ok."""
    expected = _read_digest(digest) if digest is not None else None
    if bundle is not None:
        try:
            with bundle.open(encoding="utf-8") as lines:
                result = verify_bundle(lines, expected)
        except (OSError, BundleError) as error:
            typer.echo(f"error: {bundle}: {error}", err=True)
            raise typer.Exit(1) from None
        _report(result)
        return
    container = build()
    try:
        result = container.integrity.verify(expected)
    finally:
        container.close()
    _report(result)


@app.command()
def digest(
    out: Annotated[Path | None, typer.Option(help="write the digest JSON here")] = None,
) -> None:
    """Print (or write) the digest {position, hash, recorded_at} of the whole log."""
    container = build()
    try:
        text = json.dumps(container.integrity.digest().as_dict())
    finally:
        container.close()
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"digest written to {out}", err=True)


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="the bundle file to write (JSON Lines)")],
    client: Annotated[
        str | None,
        typer.Option(help="only this client's events, each with its inclusion proof"),
    ] = None,
) -> None:
    """Write the whole log and its digest (or, with --client, one client's events and
    their Merkle proofs) to one file that `ledger verify --bundle` checks with no
    database."""
    container = build()
    try:
        positions = None
        if client is not None:
            history = container.ledger.client_history(client)
            positions = [entry.position for entry in history if entry.position is not None]
        with open_private(out) as file:
            if positions is None:
                cut = container.integrity.export(file)
            else:
                cut = container.integrity.export_events(
                    file, positions, subject={"client_id": client or ""}
                )
    except LedgerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        container.close()
    typer.echo(json.dumps(cut.as_dict()))


keys = typer.Typer(help="The master key that wraps every client's key")
app.add_typer(keys, name="keys")


@keys.command("rotate")
def keys_rotate(
    out: Annotated[
        Path | None,
        typer.Option(help="where to write the new key when it comes from LEDGER_MASTER_KEY"),
    ] = None,
) -> None:
    """Re-wrap every client key under a new master key, in one transaction; no event is
    rewritten. The new key replaces the key file (or, with LEDGER_MASTER_KEY, is written to
    --out: set LEDGER_MASTER_KEY to it before the next start)."""
    settings = Settings()
    source = master_key_source(settings)
    from_environment = source == "LEDGER_MASTER_KEY"
    if from_environment and out is None:
        typer.echo("error: the master key comes from LEDGER_MASTER_KEY: give --out", err=True)
        raise typer.Exit(2)
    target = out if from_environment else Path(source)
    assert target is not None
    text = MasterKey.generate_text()
    # Kept beside the old key until the key table holds the new wrapping: a failure in
    # between leaves both keys on disk, never the table wrapped by a key that is lost.
    pending = target.with_name(target.name + ".new")
    write_key_file(pending, text, replace=True)
    container = build(settings)
    try:
        count = container.ledger.keyring.rotate(MasterKey.from_text(text))
    finally:
        container.close()
    os.replace(pending, target)
    typer.echo(json.dumps({"rewrapped": count, "master_key": str(target)}))


chain = typer.Typer(help="The hash chain and Merkle tree kept beside the log")
app.add_typer(chain, name="chain")


@chain.command("backfill")
def chain_backfill() -> None:
    """Link a log written before the hash chain existed and grow the Merkle tree over
    it. Refused, with nothing written, if a chain exists and events past its head have
    no link, or if an event does not match its link: that is tampering, not age."""
    container = build()
    try:
        done = container.integrity.backfill()
    except UnlinkedLog as refused:
        typer.echo(f"refused at position {refused.position}: {refused}", err=True)
        raise typer.Exit(1) from None
    finally:
        container.close()
    typer.echo(json.dumps(done.as_dict()))


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
    """Rebuild read models from the whole log (stop other projection runners first).

    Several views are rebuilt in up to one process per core (a rebuild is bound by
    Python, and processes use every core); one view, or the in-memory store, in this
    process."""
    container = build()
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


if __name__ == "__main__":
    app()
