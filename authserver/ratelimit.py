"""Rate limits: fixed windows from the `limits` library, in Redis (shared by every worker and node)
or in memory. A storage failure raises StorageUnavailable: limits fail closed (503), never open."""

from __future__ import annotations

import time
from collections.abc import Callable

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from authserver.errors import OAuthError, StorageUnavailable
from authserver.settings import Settings

LIMITS = (
    "token",
    "introspect",
    "revoke",
    "token_ip",
    "introspect_ip",
    "revoke_ip",
    "device_authorization_ip",
    "login_ip",
    "login_account",
    "device_entry_ip",
    "signup_ip",
    "mail_address",
    "mail_ip",
)


class RateLimited(OAuthError):
    status_code = 429
    error = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests; retry in {retry_after} s", headers={"retry-after": str(retry_after)})
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, settings: Settings, on_reject: Callable[[str], None] | None = None) -> None:
        self.enabled = settings.rate_limits_enabled
        self._on_reject = on_reject
        self._items: dict[str, RateLimitItem] = {
            name: parse(getattr(settings, f"rate_limit_{name}")) for name in LIMITS
        }
        # Device codes per client: every live user code is one more target for a blind guess (§5.1).
        self._items["device_authorization"] = parse(f"{settings.device_codes_per_minute}/minute")
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(
                settings.redis_url,
                key_prefix=settings.cache_prefix + "limits",
                wrap_exceptions=True,
                socket_timeout=2,
                socket_connect_timeout=2,
            )
        else:
            storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(storage)

    def hit(self, name: str, *identity: str) -> None:
        """Count one request; raise RateLimited (with Retry-After) when over the limit."""
        if not self.enabled:
            return
        item = self._items[name]
        try:
            if self._limiter.hit(item, name, *identity):
                return
            reset = self._limiter.get_window_stats(item, name, *identity).reset_time
        except StorageError as exc:
            raise StorageUnavailable("rate-limit store unavailable") from exc
        if self._on_reject is not None:
            self._on_reject(name)
        raise RateLimited(max(1, int(reset - time.time()) + 1))

    def hit_client(self, name: str, client_id: str, *, authenticated: bool, source: str) -> None:
        """Charge a client's own budget, once the client is known.

        Only after authentication: a request anyone could send naming the client (no or wrong
        credentials) must not spend its budget. A public client proves nothing, so anyone may name it:
        its budget is kept per source address (a `web.addresses.source_key`).
        """
        if authenticated:
            self.hit(name, "client", client_id)
        else:
            self.hit(name, "public", client_id, source)

    def hit_sign_in(self, source: str, account: str) -> None:
        """Count one password or second-factor attempt against its source (a source_key) and its account."""
        self.hit("login_ip", source)
        self.hit("login_account", account)
