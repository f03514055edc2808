"""The test suite's own layout (issue 9): test modules share helpers through the helper
modules in tests/ (harness, journeys, seeds, fakes…), never by importing each other —
otherwise running one test file runs or breaks another's module-level setup."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_another() -> None:
    modules = sorted(TESTS.glob("test_*.py"))
    assert len(modules) > 30  # the scan sees the suite
    offenders = {
        f"{path.name} imports {name}"
        for path in modules
        for name in imported_modules(path)
        if name.startswith("tests.test_")
    }
    assert not offenders, sorted(offenders)
