"""The command line: `ledger serve`, `ledger history` and the rest of API.md's commands.

The commands live in one module per group; this table puts them on `app`, in the order
`ledger --help` lists them.
"""

from __future__ import annotations

import typer

from ledger.cli.data import demo, history, import_names
from ledger.cli.integrity import chain, chain_backfill, digest, export, verify
from ledger.cli.master_key import keys, keys_rotate
from ledger.cli.serving import ADMIN_TOKEN_FILE, ensure_admin_token, project, rebuild, serve
from ledger.store.files import private_process

__all__ = [
    "ADMIN_TOKEN_FILE",
    "app",
    "chain",
    "chain_backfill",
    "demo",
    "digest",
    "ensure_admin_token",
    "export",
    "history",
    "import_names",
    "keys",
    "keys_rotate",
    "project",
    "rebuild",
    "serve",
    "verify",
]

app = typer.Typer(help="Client relationship ledger", no_args_is_help=True)


@app.callback()
def _private_files() -> None:
    """Client relationship ledger."""
    private_process()  # databases, tokens and bundles it writes are 0600, directories 0700


app.command()(serve)
app.command()(demo)
app.command("import")(import_names)
app.command()(history)
app.command()(verify)
app.command()(digest)
app.command()(export)
app.add_typer(keys, name="keys")
app.add_typer(chain, name="chain")
app.command()(project)
app.command()(rebuild)
