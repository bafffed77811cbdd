"""The shared short-lived store: revocation denylist, replay guards, later poll state and limits.

Memory for one process (the embedded default), Redis for several workers and nodes. A backend that
cannot be reached raises ``errors.StorageUnavailable``; callers decide to fail closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Cache(Protocol):
    def get(self, key: str) -> str | None: ...
    def get_many(self, keys: list[str]) -> list[str | None]:
        """Several keys in one round trip."""
        ...

    async def get_many_async(self, keys: list[str]) -> list[str | None]:
        """get_many without leaving the event loop (the introspection fast path)."""
        ...

    def set(self, key: str, value: str, ttl: float) -> None: ...
    def add(self, key: str, value: str, ttl: float) -> bool:
        """Set only if absent; True when this call set it (single-use markers)."""
        ...

    def incr(self, key: str, ttl: float, *, refresh: bool = False, amount: int = 1) -> int:
        """Add `amount` (default 1), starting the expiry on first use (with `refresh`: at every use, so
        the key lives `ttl` after its last increment); returns the new value."""
        ...

    def decr(self, key: str) -> int:
        """Give back one incr: decrement a live counter (never below zero, keeping its expiry); an
        absent or expired key stays absent. Returns the new value (0 when absent)."""
        ...

    def take(self, key: str) -> str | None:
        """Atomic get-and-delete."""
        ...

    def delete(self, key: str) -> None: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...
    async def close_async(self) -> None:
        """Close what get_many_async opened (on the event loop that opened it)."""
        ...

    @property
    def shared(self) -> bool:
        """True when every worker and node sees the same data."""
        ...


def build_cache(redis_url: str | None, prefix: str, clock: Callable[[], float] | None = None) -> Cache:
    """`clock`: what the in-process cache's TTLs run on (Redis keeps its own time)."""
    if redis_url:
        from authserver.cache.redis import RedisCache

        return RedisCache(redis_url, prefix)
    from authserver.cache.memory import MemoryCache

    return MemoryCache(clock) if clock is not None else MemoryCache()
