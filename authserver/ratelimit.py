"""Rate limits: fixed windows counted in the shared cache (Redis for several workers and nodes), with
a local lease in front so that most requests cost no round trip.

A process that needs to count a request takes a *lease* of `chunk` requests from the window's
shared counter in one atomic INCRBY, then admits up to that many requests locally. The shared counter
therefore never lets more than the limit through in a window, whatever the number of processes: a
lease is granted only from what is left (`limit - counted before`). What a process leases but does
not use before the window ends is lost, so a client may be refused up to (chunk - 1) requests per
process before its nominal limit; chunk is 1% of the limit (1 for small limits such as sign-in
attempts, which stay exact). Once the shared counter is spent, the process remembers it and refuses
the rest of the window without asking again (a flood costs no round trips). Windows are aligned to
the epoch, so all nodes agree on them. A cache failure raises StorageUnavailable: limits fail closed
(503), never open.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from limits import parse

from authserver.cache import Cache
from authserver.clock import Clock
from authserver.errors import OAuthError
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
    "admin",
    "admin_ip",
    "signup_ip",
    "mail_address",
    "mail_ip",
)
LEASE_SHARE = 100  # a lease is 1/LEASE_SHARE of the limit
_MAX_LEASES = 10_000
_KEY = "ratelimit:"


class RateLimited(OAuthError):
    status_code = 429
    error = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests; retry in {retry_after} s", headers={"retry-after": str(retry_after)})
        self.retry_after = retry_after


class _Rule:
    __slots__ = ("amount", "chunk", "period")

    def __init__(self, text: str) -> None:
        item = parse(text)
        self.amount = int(item.amount)
        self.period = int(item.get_expiry())
        self.chunk = max(1, self.amount // LEASE_SHARE)


class _Lease:
    __slots__ = ("left", "window")

    def __init__(self, window: int, left: int) -> None:
        self.window = window
        self.left = left  # requests this process may still admit in `window`; -1: the window is spent


class RateLimiter:
    def __init__(
        self, settings: Settings, cache: Cache, clock: Clock, on_reject: Callable[[str], None] | None = None
    ) -> None:
        self._clock = clock  # the windows are periods of this clock
        self.enabled = settings.rate_limits_enabled
        self._cache = cache
        self._on_reject = on_reject
        self._rules = {name: _Rule(getattr(settings, f"rate_limit_{name}")) for name in LIMITS}
        # Device codes per client: every live user code is one more target for a blind guess (§5.1).
        self._rules["device_authorization"] = _Rule(f"{settings.device_codes_per_minute}/minute")
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._lock = threading.Lock()

    def take_local(self, name: str, *identity: str) -> bool:
        """Count one request against a lease this process holds, without any I/O; False when that
        is not possible (no lease for this window, or it is used up): then call hit()."""
        if not self.enabled:
            return True
        rule = self._rules[name]
        window = int(self._clock() // rule.period)
        with self._lock:
            lease = self._leases.get((name, ":".join(identity)))
            if lease is not None and lease.window == window and lease.left > 0:
                lease.left -= 1
                return True
        return False

    def can_take_local(self, name: str, *identity: str) -> bool:
        """Whether take_local() would succeed now (nothing is counted)."""
        if not self.enabled:
            return True
        rule = self._rules[name]
        window = int(self._clock() // rule.period)
        with self._lock:
            lease = self._leases.get((name, ":".join(identity)))
            return lease is not None and lease.window == window and lease.left > 0

    def hit(self, name: str, *identity: str) -> None:
        """Count one request; raise RateLimited (with Retry-After) when over the limit."""
        if not self.enabled:
            return
        rule = self._rules[name]
        now = self._clock()
        window = int(now // rule.period)
        who = ":".join(identity)
        with self._lock:
            lease = self._leases.get((name, who))
            if lease is not None and lease.window == window:
                if lease.left > 0:
                    lease.left -= 1
                    return
                if lease.left < 0:
                    self._refuse(name, rule, window, now)
        # The shared counter lives one window past its own, so a slow clock cannot reopen it.
        counted = self._cache.incr(f"{_KEY}{name}:{who}:{window}", rule.period * 2, amount=rule.chunk)
        granted = min(rule.chunk, rule.amount - (counted - rule.chunk))
        with self._lock:
            if len(self._leases) >= _MAX_LEASES:
                self._leases.clear()
            # Threads of one process may lease at the same moment: add to what another left in this window
            # instead of replacing it, or each replaced lease's unused requests would be lost.
            current = self._leases.get((name, who))
            carried = current.left if current is not None and current.window == window and current.left > 0 else 0
            if granted <= 0 and carried > 0:
                current.left -= 1  # type: ignore[union-attr]  # carried > 0 means current is a lease
                return
            self._leases[(name, who)] = _Lease(window, carried + granted - 1 if granted > 0 else -1)
        if granted <= 0:
            self._refuse(name, rule, window, now)

    def _refuse(self, name: str, rule: _Rule, window: int, now: float) -> None:
        if self._on_reject is not None:
            self._on_reject(name)
        reset = (window + 1) * rule.period
        raise RateLimited(max(1, int(reset - now) + 1))

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
