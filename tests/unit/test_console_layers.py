"""The console reaches the ledger through one adapter, `ledger.console.sources`, so that a
move of the application or the read models changes that module only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import ledger.console
from ledger.domain import values

OUTSIDE = ("ledger.application", "ledger.projections", "ledger.bootstrap", "ledger.domain")
OUTSIDE_TOO = ("ledger.integrity", "ledger.api.writers", "ledger.api.deps", "ledger.api.schemas")


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


CLOSED_SETS = {
    name: set(value)
    for name, value in vars(values).items()
    if name.isupper() and isinstance(value, tuple) and all(isinstance(v, str) for v in value)
}
QUOTED_LIST = re.compile(r"\(\s*\"[a-z_]+\"(?:\s*,\s*\"[a-z_]+\")+\s*,?\s*\)")


def _copies(literals: list[set[str]]) -> list[tuple[str, set[str]]]:
    return [
        (name, found)
        for found in literals
        if len(found) >= 2
        for name, closed in CLOSED_SETS.items()
        if found <= closed
    ]


def test_the_console_keeps_no_copy_of_the_domains_closed_sets() -> None:
    """Tiers, statuses, kinds, outcomes, parties, roles, channels...: a page or template
    that needs one takes it from `ledger.domain.values` (through the adapter), so that a
    value added there shows up in every form and table at once."""
    assert {"TIERS", "CHURN_KINDS", "OUTCOMES", "PARTIES"} <= CLOSED_SETS.keys()
    folder = Path(ledger.console.__file__).parent
    found = []
    for module in folder.rglob("*.py"):
        literals = [
            {e.value for e in node.elts}
            for node in ast.walk(ast.parse(module.read_text()))
            if isinstance(node, ast.Tuple | ast.List | ast.Set)
            and node.elts
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
        ]
        found += [(module.name, *copy) for copy in _copies(literals)]
    for template in (folder / "templates").glob("*.html"):
        literals = [
            set(re.findall(r'"([a-z_]+)"', m)) for m in QUOTED_LIST.findall(template.read_text())
        ]
        found += [(template.name, *copy) for copy in _copies(literals)]
    assert not found, found
