"""Login throttling with exponential back-off, per account and per client IP, in the shared cache.

An unknown login name is counted under its own name, so a locked account and an unknown one look
the same from outside. While locked the caller still verifies the password (same cost) and gives the
same generic answer. A cache outage raises StorageUnavailable: sign-in fails closed (503), it never
skips the check.
"""

from __future__ import annotations

from authserver.audit import Events
from authserver.cache import Cache
from authserver.settings import Settings

FAIL = "login-fail:"
LOCK = "login-lock:"


class LoginThrottle:
    def __init__(self, cache: Cache, settings: Settings, events: Events) -> None:
        self.cache = cache
        self.settings = settings
        self.events = events

    @staticmethod
    def account_key(user_id: str | None, login: str) -> str:
        return f"user:{user_id}" if user_id else f"name:{login.strip().lower()[:320]}"

    def locked(self, account: str, ip: str | None) -> bool:
        keys = [LOCK + account] + ([LOCK + "ip:" + ip] if ip else [])
        return any(self.cache.get(k) is not None for k in keys)

    def _count(self, key: str, limit: int) -> int | None:
        failures = self.cache.incr(FAIL + key, self.settings.login_failure_window)
        if failures < limit:
            return None
        lock = min(self.settings.login_lock_seconds * 2 ** (failures - limit), self.settings.login_max_lock_seconds)
        self.cache.set(LOCK + key, str(failures), lock)
        return lock

    def failure(self, account: str, ip: str | None, *, user_id: str | None = None) -> None:
        lock = self._count(account, self.settings.login_max_failures)
        if lock is not None:
            self.events.emit("account.locked", user_id=user_id, account=account, seconds=lock, ip=ip)
        if ip:
            ip_lock = self._count("ip:" + ip, self.settings.login_ip_max_failures)
            if ip_lock is not None:
                self.events.emit("ip.locked", seconds=ip_lock, ip=ip)

    def success(self, account: str) -> None:
        self.cache.delete(FAIL + account)
