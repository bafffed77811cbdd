"""Scope and resource (RFC 8707) decisions shared by the grants."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidScopeError, OAuth2Error

from authserver.domain import Client


def quoted(value: str, limit: int = 100) -> str:
    """Caller input made safe for an error_description (RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E)."""
    safe = "".join(ch if (ch in (" ", "!") or ("#" <= ch <= "[") or ("]" <= ch <= "~")) else "?" for ch in value)
    return safe if len(safe) <= limit else safe[:limit] + "..."


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown, or not allowed for this client."""

    error = "invalid_target"


def granted_scope(client: Client, requested: str | None) -> str:
    """RFC 6749 §3.3: the requested scope must lie within the client's; none requested -> all of it."""
    if requested is None:
        return " ".join(client.scopes)
    wanted = requested.split()
    if not wanted:
        raise InvalidScopeError("scope must not be empty")
    unknown = [s for s in wanted if s not in client.scopes]
    if unknown:
        raise InvalidScopeError(f"Scope not allowed for this client: {quoted(' '.join(sorted(set(unknown))))}")
    return " ".join(dict.fromkeys(wanted))


def audience(client: Client, resources: list[str]) -> str | list[str]:
    """The token's `aud`: the requested resources, each registered for the client (RFC 8707 §2.2).

    With none requested, the client's registered resources, or its own client_id (RFC 9068 §3
    requires a default resource indicator).
    """
    for resource in resources:
        if resource not in client.resources:
            raise InvalidTargetError(f"Resource not registered for this client: {quoted(resource)}")
    chosen = list(dict.fromkeys(resources)) or list(client.resources) or [client.client_id]
    return chosen[0] if len(chosen) == 1 else chosen
