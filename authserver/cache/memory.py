"""In-process cache for a single process. Expired entries are dropped lazily and by a size sweep.

Its TTLs run on the clock it is given: the app passes its one clock (services.py), so a test that moves the
clock expires entries as Redis would after that time; on its own (the CLI) it uses time.monotonic."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_SWEEP_EVERY = 1024


class MemoryCache:
    shared = False

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._writes = 0

    def _live(self, key: str, now: float) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._data[key]
            return None
        return item[0]

    def _put(self, key: str, value: str, ttl: float, now: float) -> None:
        self._data[key] = (value, now + ttl)
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            for k in [k for k, (_, exp) in self._data.items() if exp <= now]:
                del self._data[k]

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key, self._clock())

    def get_many(self, keys: list[str]) -> list[str | None]:
        with self._lock:
            now = self._clock()
            return [self._live(k, now) for k in keys]

    async def get_many_async(self, keys: list[str]) -> list[str | None]:
        return self.get_many(keys)  # a dictionary lookup under an uncontended lock: nothing blocks

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            self._put(key, value, ttl, self._clock())

    def add(self, key: str, value: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._live(key, now) is not None:
                return False
            self._put(key, value, ttl, now)
            return True

    def incr(self, key: str, ttl: float, *, refresh: bool = False, amount: int = 1) -> int:
        with self._lock:
            now = self._clock()
            current = self._live(key, now)
            if current is None:
                self._put(key, str(amount), ttl, now)
                return amount
            value = int(current) + amount
            self._data[key] = (str(value), now + ttl if refresh else self._data[key][1])
            return value

    def decr(self, key: str) -> int:
        with self._lock:
            current = self._live(key, self._clock())
            if current is None:
                return 0
            value = max(0, int(current) - 1)
            self._data[key] = (str(value), self._data[key][1])
            return value

    def take(self, key: str) -> str | None:
        with self._lock:
            value = self._live(key, self._clock())
            self._data.pop(key, None)
            return value

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def ping(self) -> None:
        return None

    def close(self) -> None:
        self._data.clear()

    async def close_async(self) -> None:
        return None
