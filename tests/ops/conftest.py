"""Fixtures shared by the operations tests."""

from __future__ import annotations

import pytest

from tests.conftest import API
from tests.ops.cluster import REDIRECT, SIGN_IN_GRANTS


@pytest.fixture
def app(register) -> dict:  # type: ignore[no-untyped-def]
    """A web app that signs users in (code + refresh tokens)."""
    return register(*SIGN_IN_GRANTS, "--redirect-uri", REDIRECT, name="Photo App")


@pytest.fixture
def api(register) -> dict:  # type: ignore[no-untyped-def]
    """A resource server: a confidential client that introspects the tokens minted for it (aud API)."""
    return register("--introspect", API, name="Photo API")


@pytest.fixture
def service(register) -> dict:  # type: ignore[no-untyped-def]
    """A confidential service using client credentials; its tokens are for the API by default."""
    return register("--resource", API, name="billing")
