"""The ledger a command works on, built through the composition root; a master key it
cannot start with (not a key, or not the store's) refused in one line that names where the
key came from, never the key, rather than a traceback, or a 500 at each read."""

from __future__ import annotations

import typer

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.privacy.cipher import MasterKeyError


def open_ledger(settings: Settings | None = None) -> Container:
    try:
        return build(settings)
    except MasterKeyError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
