"""No `assert` in the package: `python -O` strips them, so nothing may depend on one (STYLE.md: config
validated with assert is a defect; an impossible state raises, a missing value is a branch)."""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent.parent / "authserver"


def test_the_package_has_no_assert() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == []
