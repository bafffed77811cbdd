"""The test suite's own shape: a test module imports helpers (tests/helpers.py, tests/pages.py, tests/http/device.py,
...) and gets fixtures from conftest.py, never from another test module (which would run its tests' imports,
and couple two files that should change independently)."""

from __future__ import annotations

import ast
import pathlib

TESTS = pathlib.Path(__file__).resolve().parent.parent


def imported_modules(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(path.relative_to(TESTS)): sorted(
            m for m in imported_modules(path) if m.rsplit(".", 1)[-1].startswith("test_")
        )
        for path in TESTS.rglob("*.py")
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}
