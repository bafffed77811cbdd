"""Signing keys for administrators (the CLI and the admin API): list, rotate, prune and retire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from authserver.domain import SigningKey
from authserver.manage.errors import Conflict, NotFound
from authserver.oauth.keyring import KeyManager, KeyState
from authserver.security.crypto import DecryptionError


def iso(ts: int | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def describe(state: KeyState) -> dict[str, Any]:
    return {
        "kid": state.key.kid,
        "alg": state.key.alg,
        "state": state.state,
        "created_at": iso(state.key.created_at),
        "activates_at": iso(state.key.activates_at),
        "retired_at": iso(state.retired_at),
        "published_until": iso(state.published_until),
    }


def describe_new(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "published_at": iso(key.created_at),
        "activates_at": iso(key.activates_at),
    }


def rotate(manager: KeyManager) -> SigningKey:
    """Publish a new key; it starts signing once every JWKS cache can have it."""
    try:
        manager.ensure_key()
        return manager.rotate()
    except DecryptionError:
        raise Conflict(
            "AUTHSERVER_SECRET_KEY does not open the stored signing keys: refusing to add a key sealed under "
            "another secret"
        ) from None


def prune(manager: KeyManager) -> list[str]:
    """Delete the keys no longer published (retired longer ago than the longest token lives)."""
    return manager.prune()


def retire(manager: KeyManager, kid: str) -> None:
    """Stop publishing a key that does not sign (a pending key, or a retired one still published): tokens
    it signed stop verifying at once. For a key feared compromised; the active key is retired by rotating."""
    states = {s.key.kid: s for s in manager.describe()}
    state = states.get(kid)
    if state is None:
        raise NotFound("no signing key", value=kid)
    if state.state == "active":
        raise Conflict("the active key signs every new token: rotate first, then retire it once it is retired")
    manager.store.delete_keys([kid])
