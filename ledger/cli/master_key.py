"""`ledger keys rotate`: a new master key for every client's key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from ledger.bootstrap import master_key_source
from ledger.cli.opening import open_ledger
from ledger.config import Settings
from ledger.privacy import MasterKey
from ledger.privacy.keys import write_key_file

keys = typer.Typer(help="The master key that wraps every client's key")


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
    container = open_ledger(settings)
    try:
        count = container.ledger.keyring.rotate(MasterKey.from_text(text))
    finally:
        container.close()
    os.replace(pending, target)
    typer.echo(json.dumps({"rewrapped": count, "master_key": str(target)}))
