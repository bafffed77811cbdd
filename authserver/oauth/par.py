"""Pushed authorization requests (RFC 9126): the request travels client -> server over an authenticated
back channel and the browser carries only an opaque, single-use `request_uri`.

Pushed requests live in the shared cache (any worker or node can redeem one), keyed by a hash of the
URI so a cache dump holds nothing a browser could present.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from authserver.cache import Cache
from authserver.clock import Clock
from authserver.security.secrets import token_hash

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
# RFC 9126 §2.2: "a short lifetime ... on the order of seconds to minutes"; the issue fixes 60 s.
EXPIRES_IN = 60
_KEY = "par:"


@dataclass(frozen=True)
class PushedRequest:
    client_id: str
    pairs: list[tuple[str, str]]
    # Whether the parameters came from a signed request object (RFC 9101) verified at push time.
    signed: bool
    expires_at: int


class RequestUriError(Exception):
    """The request_uri is not one we issued, or is expired, used, or another client's."""


def is_pushed_uri(value: str) -> bool:
    return value.startswith(REQUEST_URI_PREFIX)


class PushedRequests:
    def __init__(self, cache: Cache, clock: Clock) -> None:
        self._cache = cache
        self._clock = clock

    def push(self, client_id: str, pairs: list[tuple[str, str]], *, signed: bool) -> str:
        request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
        record = {
            "client_id": client_id,
            "pairs": pairs,
            "signed": signed,
            "expires_at": int(self._clock()) + EXPIRES_IN,
        }
        self._cache.set(_KEY + token_hash(request_uri), json.dumps(record), EXPIRES_IN)
        return request_uri

    def take(self, request_uri: str, client_id: str) -> PushedRequest:
        """Redeem a request_uri once, for the client it was pushed by (RFC 9126 §4)."""
        if not is_pushed_uri(request_uri) or len(request_uri) > 200:
            raise RequestUriError("The request_uri was not issued by this server")
        key = _KEY + token_hash(request_uri)
        raw = self._cache.get(key)
        if raw is None:
            raise RequestUriError("The request_uri is unknown, expired or already used")
        record = json.loads(raw)
        # Checked before it is spent: another client presenting it must not burn the rightful client's.
        if record["client_id"] != client_id:
            raise RequestUriError("The request_uri was pushed by another client")
        if self._cache.take(key) is None:  # of two concurrent redemptions, one wins
            raise RequestUriError("The request_uri is unknown, expired or already used")
        if record["expires_at"] <= self._clock():
            raise RequestUriError("The request_uri is unknown, expired or already used")
        return PushedRequest(
            client_id=record["client_id"],
            pairs=[(k, v) for k, v in record["pairs"]],
            signed=record["signed"],
            expires_at=record["expires_at"],
        )
