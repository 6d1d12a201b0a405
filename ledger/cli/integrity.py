"""The hash chain's digest, verification and offline bundles: `ledger verify`, `ledger
digest`, `ledger export`, and `ledger chain backfill` for a log older than the chain."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.opening import open_ledger
from ledger.domain import LedgerError
from ledger.integrity import (
    BundleError,
    Digest,
    ProofCheck,
    UnlinkedLog,
    Verification,
    verify_bundle,
)
from ledger.store.files import open_private


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
    with closing(open_ledger()) as container:
        result = container.integrity.verify(expected)
    _report(result)


def digest(
    out: Annotated[Path | None, typer.Option(help="write the digest JSON here")] = None,
) -> None:
    """Print (or write) the digest {position, hash, recorded_at} of the whole log."""
    with closing(open_ledger()) as container:
        text = json.dumps(container.integrity.digest().as_dict())
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"digest written to {out}", err=True)


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
    with closing(open_ledger()) as container:
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
    typer.echo(json.dumps(cut.as_dict()))


chain = typer.Typer(help="The hash chain and Merkle tree kept beside the log")


@chain.command("backfill")
def chain_backfill() -> None:
    """Link a log written before the hash chain existed and grow the Merkle tree over
    it. Refused, with nothing written, if a chain exists and events past its head have
    no link, or if an event does not match its link: that is tampering, not age."""
    with closing(open_ledger()) as container:
        try:
            done = container.integrity.backfill()
        except UnlinkedLog as refused:
            typer.echo(f"refused at position {refused.position}: {refused}", err=True)
            raise typer.Exit(1) from None
    typer.echo(json.dumps(done.as_dict()))
