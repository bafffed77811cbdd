"""Assertions shared by the CLI tests: how a failing command must look to a person."""

from __future__ import annotations

import re


def assert_error(result, *, code: int = 1, contains: str | None = None) -> str:  # type: ignore[no-untyped-def]
    """One line on stderr, starting `authserver: error:`, nothing on stdout, no traceback."""
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith("authserver: error: "), result.err
    assert result.out == ""
    if contains is not None:
        assert contains in result.err, result.err
    return result.err


def assert_usage_error(result, *, contains: str | None = None) -> str:  # type: ignore[no-untyped-def]
    """argparse usage errors: exit 2, one line `authserver[ sub ...]: error: ...`, no usage dump."""
    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    assert result.err.count("\n") == 1, result.err
    assert re.match(r"^authserver( [a-z-]+)*: error: ", result.err), result.err
    assert result.out == ""
    if contains is not None:
        assert contains in result.err, result.err
    return result.err
