"""Locate migrations/ and templates/ whether installed from a wheel or from a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    # A wheel carries them under authserver/_data (see pyproject.toml); an editable install
    # points at the checkout, where they sit beside the package.
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"authserver cannot find its {name}/ directory")
