"""WebAuthn challenges in the shared cache: random, single use, bound, and dead after 5 minutes.

Each challenge is stored under a hash of itself with what it is for: the purpose (registering a passkey,
signing in, a second factor, re-authentication) and what it is bound to (the half-finished sign-in's
interaction id, or the browser session's sid for account pages), and for whom when that is known.
Finishing a ceremony *takes* it (atomic get-and-delete), so a replayed response finds nothing, on any
worker or node. The expiry is checked against the stored time as well as the cache's TTL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

from authserver.cache import Cache

PREFIX = "webauthn-challenge:"
TTL = 300

Purpose = Literal["register", "sign-in", "second-factor", "reauth", "reset"]


@dataclass(frozen=True)
class Ceremony:
    purpose: Purpose
    binding: str
    user_id: str | None
    expires_at: int


def _key(challenge: str) -> str:
    return PREFIX + hashlib.sha256(challenge.encode("utf-8", "surrogatepass")).hexdigest()


def begin(cache: Cache, challenge: str, purpose: Purpose, binding: str, user_id: str | None, now: int) -> None:
    ceremony = Ceremony(purpose, binding, user_id, now + TTL)
    cache.set(_key(challenge), json.dumps(asdict(ceremony)), TTL + 5)


def take(cache: Cache, challenge: str, purpose: Purpose, binding: str, now: int) -> Ceremony | None:
    """The ceremony this challenge began, consumed; None if unknown, used, expired or begun for another
    purpose or another sign-in/session (it is consumed all the same)."""
    raw = cache.take(_key(challenge))
    if raw is None:
        return None
    ceremony = Ceremony(**json.loads(raw))
    if ceremony.purpose != purpose or ceremony.binding != binding or ceremony.expires_at <= now:
        return None
    return ceremony
