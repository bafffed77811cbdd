"""Redis cache shared by every worker and node. Connection errors become StorageUnavailable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, cast

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from authserver.errors import StorageUnavailable

_INCR_WITH_TTL = """
local v = redis.call('INCRBY', KEYS[1], ARGV[3])
if v == tonumber(ARGV[3]) or ARGV[2] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
"""
# Only a live key is decremented (DECR on a missing key would create a -1 with no expiry), never below 0.
_DECR_EXISTING = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if tonumber(v) <= 0 then return 0 end
return redis.call('DECR', KEYS[1])
"""


@contextlib.contextmanager
def _translate() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StorageUnavailable("redis unavailable") from exc


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


# Short timeouts and one quick retry: a Redis restart costs a few failed requests, not a hang.
def _options() -> dict[str, Any]:
    return {
        "decode_responses": True,
        "socket_timeout": 2.0,
        "socket_connect_timeout": 2.0,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        "health_check_interval": 30,
    }


def _async_options() -> dict[str, Any]:
    return {**_options(), "retry": AsyncRetry(ExponentialBackoff(cap=0.2, base=0.02), retries=1)}


class RedisCache:
    shared = True

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._redis = redis.Redis.from_url(url, **_options())
        # An asyncio client for the few reads made on the event loop, bound to the loop that first uses it.
        self._async: redis.asyncio.Redis | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._prefix = prefix
        self._incr = self._redis.register_script(_INCR_WITH_TTL)
        self._decr = self._redis.register_script(_DECR_EXISTING)

    def get(self, key: str) -> str | None:
        with _translate():
            return cast("str | None", self._redis.get(self._prefix + key))

    def get_many(self, keys: list[str]) -> list[str | None]:
        with _translate():
            return cast("list[str | None]", self._redis.mget([self._prefix + k for k in keys]))

    async def get_many_async(self, keys: list[str]) -> list[str | None]:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            self._async = redis.asyncio.Redis.from_url(self._url, **_async_options())
            self._async_loop = loop
        with _translate():
            return cast("list[str | None]", await self._async.mget([self._prefix + k for k in keys]))

    def set(self, key: str, value: str, ttl: float) -> None:
        with _translate():
            self._redis.set(self._prefix + key, value, px=_ms(ttl))

    def add(self, key: str, value: str, ttl: float) -> bool:
        with _translate():
            return bool(self._redis.set(self._prefix + key, value, px=_ms(ttl), nx=True))

    def incr(self, key: str, ttl: float, *, refresh: bool = False, amount: int = 1) -> int:
        with _translate():
            return int(self._incr(keys=[self._prefix + key], args=[_ms(ttl), "1" if refresh else "0", amount]))

    def decr(self, key: str) -> int:
        with _translate():
            return int(self._decr(keys=[self._prefix + key]))

    def take(self, key: str) -> str | None:
        with _translate():
            return cast("str | None", self._redis.getdel(self._prefix + key))

    def delete(self, key: str) -> None:
        with _translate():
            self._redis.delete(self._prefix + key)

    def ping(self) -> None:
        with _translate():
            self._redis.ping()

    def close(self) -> None:
        self._redis.close()

    async def close_async(self) -> None:
        client, self._async = self._async, None
        if client is not None and self._async_loop is asyncio.get_running_loop():
            await client.aclose()
