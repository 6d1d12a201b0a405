"""`python -m ledger.cli`: the same commands as the `ledger` script."""

from ledger.cli import app

if __name__ == "__main__":
    app()
