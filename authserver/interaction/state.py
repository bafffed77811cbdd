"""A pending authorization: the validated request and how far the user got (login -> consent -> done).

Kept in the shared cache for `interaction_ttl`, so any worker or node can continue it; bound to the
browser that started it, and deleted when it ends (single use).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from authserver.cache import Cache

PREFIX = "interaction:"


@dataclass
class Interaction:
    id: str
    request: dict[str, Any]
    browser: str
    created_at: int
    # Set when the user signed in (or re-authenticated) during this interaction.
    authenticated_user: str | None = None
    consented: bool = False
    login_failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def client_id(self) -> str | None:
        return self.request.get("client_id")

    @property
    def prompt(self) -> set[str]:
        return set(self.request["prompt"])


def new_interaction(request: dict[str, Any], browser: str, now: int) -> Interaction:
    return Interaction(id=secrets.token_urlsafe(24), request=request, browser=browser, created_at=now)


def save(cache: Cache, interaction: Interaction, ttl: int) -> None:
    cache.set(PREFIX + interaction.id, json.dumps(asdict(interaction)), ttl)


def load(cache: Cache, interaction_id: str) -> Interaction | None:
    if not interaction_id or len(interaction_id) > 64:
        return None
    raw = cache.get(PREFIX + interaction_id)
    return Interaction(**json.loads(raw)) if raw else None


def finish(cache: Cache, interaction: Interaction) -> bool:
    """Remove it; False if another request already finished it (a double submit)."""
    return cache.take(PREFIX + interaction.id) is not None
