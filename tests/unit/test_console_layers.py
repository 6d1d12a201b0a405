"""The console reaches the ledger through one adapter, `ledger.console.sources`, so that a
move of the application or the read models changes that module only."""

from __future__ import annotations

import ast
from pathlib import Path

import ledger.console

OUTSIDE = ("ledger.application", "ledger.projections", "ledger.bootstrap", "ledger.domain")
OUTSIDE_TOO = ("ledger.integrity", "ledger.api.auth", "ledger.api.deps", "ledger.api.schemas")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_only_the_adapter_imports_the_application_and_the_read_models() -> None:
    folder = Path(ledger.console.__file__).parent
    modules = sorted(folder.rglob("*.py"))
    assert len(modules) > 5
    for module in modules:
        reaching = {
            name for name in imported_modules(module) if name.startswith(OUTSIDE + OUTSIDE_TOO)
        }
        if module.name == "sources.py":
            assert reaching, "the adapter imports nothing: the check is looking at nothing"
        else:
            assert not reaching, f"{module.relative_to(folder)} imports {sorted(reaching)}"
