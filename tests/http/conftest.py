"""Fixtures shared by the HTTP tests (the root tests/conftest.py has the app, the CLI and the users)."""

from __future__ import annotations

import json

import pytest
from joserfc.jwk import KeySet, RSAKey


@pytest.fixture
def key():  # type: ignore[no-untyped-def]
    """A client's RSA signing key (private_key_jwt)."""
    return RSAKey.generate_key(2048, parameters={"kid": "client-key-1"})


@pytest.fixture
def jwt_client(register, key, tmp_path):  # type: ignore[no-untyped-def]
    """A client authenticating with private_key_jwt, its public key registered as a JWKS file."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(KeySet([key]).as_dict(private=False)))
    return register("--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", str(path), "--scope", "a")
