"""The one throttle for every guessable secret: passwords, second-factor codes (TOTP and backup codes)
and device user codes, wherever they are typed (sign-in, /mfa, the account page's re-authentication,
device code entry).

An attempt is *reserved* before the secret is checked: the counters that apply are incremented in
turn, narrowest first (an atomic INCR in the shared cache), each compared with its limit only after
its increment, so parallel guesses cannot all pass a limit that a read-then-write check would have let
through. The attempt that reaches a limit takes that counter's lock (an atomic set-if-absent) *before*
its check; later attempts find the lock and are refused unchecked. A refused attempt gives its
increments back, so it counts nowhere: an attacker stuck on one lock cannot push the other counters
(the account-wide one above all) towards theirs. A right guess gives its increments back too, and a
completed sign-in clears the counter of its (account, address) pair. Counts are forgotten a window
after the last attempt.

Counters for passwords and second-factor codes (the same for both, so a code is no easier to guess
than a password):
- per (account, source address): `login_max_failures`, then a lock that doubles with each failure;
- per account, all addresses together: `login_account_max_failures` (higher), skipped for a browser
  carrying the account's known-device cookie, so an attacker cannot lock the owner out;
- per source address, whatever the account: `login_ip_max_failures`;
- per half-finished sign-in (the /mfa page): `mfa_max_attempts` codes, then the sign-in is discarded.
Device user codes: `device_guess_limit` per source address and per signed-in account per
`device_guess_window`.

A source address is an IPv4 address or an IPv6 /64 (web/addresses.py). Unknown login names are
counted under a keyed hash of the name (never the typed text: it may be a pasted password), so a
locked account and an unknown one look the same from outside. A cache outage raises
StorageUnavailable: guessing fails closed (503), it never skips the check.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from authserver.security.derive import derive_key
from authserver.settings import Settings


class Counters(Protocol):
    """What the throttle needs of the shared cache (cache.Cache provides it, atomically on every backend)."""

    def incr(self, key: str, ttl: float, *, refresh: bool = False) -> int: ...
    def decr(self, key: str) -> int: ...
    def add(self, key: str, value: str, ttl: float) -> bool: ...
    def delete(self, key: str) -> None: ...


class EventSink(Protocol):
    def emit(self, name: str, **fields: object) -> None: ...


COUNT = "throttle:"
LOCK = "throttle-lock:"
MAX_LOGIN_LENGTH = 320


@dataclass(frozen=True)
class Rule:
    """One family of counters: how many attempts, over what window, then how long a lock."""

    name: str
    limit: int
    window: int
    lock_seconds: int
    max_lock_seconds: int
    # Cleared by a completed sign-in (the pair counter); other counters only get the attempt back.
    reset_on_success: bool = False
    # Audit event emitted when a failure leaves this counter locked.
    lock_event: str | None = None

    @property
    def counter_ttl(self) -> int:
        # Past the longest lock too: a count must never be forgotten while its lock still holds.
        return max(self.window, self.max_lock_seconds + 5)

    def lock_for(self, count: int) -> int:
        """Lock duration once `count` attempts were reserved: the first lock at the limit, doubling after."""
        return min(self.lock_seconds * (1 << min(max(count - self.limit, 0), 32)), self.max_lock_seconds)


@dataclass(frozen=True)
class Counter:
    rule: Rule
    subject: str

    @property
    def count_key(self) -> str:
        return f"{COUNT}{self.rule.name}:{self.subject}"

    @property
    def lock_key(self) -> str:
        return f"{LOCK}{self.rule.name}:{self.subject}"


@dataclass(frozen=True)
class Reservation:
    """The outcome of reserving one attempt. Check the secret only when `allowed`."""

    allowed: bool
    counters: tuple[Counter, ...]
    counts: tuple[int, ...]
    # Locks this attempt took because it was the one to reach a limit.
    locks: tuple[Counter, ...] = ()
    # Names of the rules that refused it (empty when allowed).
    refused_by: tuple[str, ...] = ()

    def reached(self, rule: str) -> bool:
        """This attempt used the last try that `rule` allows (or was refused by it)."""
        return rule in self.refused_by or any(
            c.rule.name == rule and n >= c.rule.limit for c, n in zip(self.counters, self.counts, strict=True)
        )


@dataclass(frozen=True)
class Rules:
    pair: Rule
    account: Rule
    source: Rule
    sign_in: Rule
    code_source: Rule
    code_account: Rule

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        lock, longest = settings.login_lock_seconds, settings.login_max_lock_seconds
        window = settings.login_failure_window
        guess_window = settings.device_guess_window
        return cls(
            pair=Rule(
                "pair",
                settings.login_max_failures,
                window,
                lock,
                longest,
                reset_on_success=True,
                lock_event="account.locked",
            ),
            account=Rule(
                "account", settings.login_account_max_failures, window, lock, longest, lock_event="account.locked"
            ),
            source=Rule("source", settings.login_ip_max_failures, window, lock, longest, lock_event="ip.locked"),
            # A half-finished sign-in is discarded at its limit: the lock only has to outlive it.
            sign_in=Rule(
                "sign-in",
                settings.mfa_max_attempts,
                settings.interaction_ttl,
                settings.interaction_ttl,
                settings.interaction_ttl,
            ),
            code_source=Rule("code-source", settings.device_guess_limit, guess_window, guess_window, guess_window),
            code_account=Rule("code-account", settings.device_guess_limit, guess_window, guess_window, guess_window),
        )


class Throttle:
    def __init__(self, cache: Counters, rules: Rules, events: EventSink, name_key: bytes) -> None:
        self.cache = cache
        self.rules = rules
        self.events = events
        self._name_key = name_key

    @classmethod
    def from_settings(cls, cache: Counters, settings: Settings, events: EventSink) -> Throttle:
        return cls(cache, Rules.from_settings(settings), events, derive_key(settings.secret_bytes(), "login-name"))

    # --- what is counted -------------------------------------------------------------------------

    def account_key(self, user_id: str | None, login: str) -> str:
        """The account an attempt is counted against: the user's id, or a keyed hash of an unknown name
        (HMAC-SHA-256 under a key derived from the secret, so the audit trail never holds the typed text
        and a stolen table cannot be checked against a dictionary)."""
        if user_id:
            return f"user:{user_id}"
        name = login.strip().lower()[:MAX_LOGIN_LENGTH].encode("utf-8", "surrogatepass")
        return "name:" + hmac.new(self._name_key, name, hashlib.sha256).hexdigest()[:32]

    def for_account(
        self, account: str, source: str, *, known_device: bool = False, sign_in: str | None = None
    ) -> tuple[Counter, ...]:
        """The counters of a password or second-factor attempt on `account` from `source` (a source_key)."""
        r = self.rules
        counters = [Counter(r.sign_in, sign_in)] if sign_in is not None else []
        counters += [Counter(r.pair, f"{account}|{source}"), Counter(r.source, source)]
        if not known_device:
            counters.append(Counter(r.account, account))
        return tuple(counters)

    def for_user_code(self, source: str, user_id: str | None) -> tuple[Counter, ...]:
        """The counters of a device user-code entry (RFC 8628 §5.1: user codes must be rate-limited)."""
        counters = [Counter(self.rules.code_source, source)]
        if user_id:
            counters.append(Counter(self.rules.code_account, f"user:{user_id}"))
        return tuple(counters)

    # --- one attempt -------------------------------------------------------------------------------

    def reserve(self, counters: Sequence[Counter]) -> Reservation:
        """Count the attempt on each counter in turn, deciding as it goes; a refused attempt is given back.

        Going in order (the narrowest counter first) keeps the counts exact under concurrency: an attempt
        refused by one counter never reaches the next, so it cannot make a wider counter look fuller than
        it is and refuse someone there. Counters live `window` after their last increment and at least as
        long as any lock they take, so a count below the limit means no lock of an earlier round is left."""
        counts: list[int] = []
        taken: list[Counter] = []
        for counter in counters:
            count = self.cache.incr(counter.count_key, counter.rule.counter_ttl, refresh=True)
            counts.append(count)
            # Whoever reaches the limit first holds the lock while its own guess is checked; the others
            # find it taken and are refused unchecked.
            if count >= counter.rule.limit:
                if not self.cache.add(counter.lock_key, str(count), counter.rule.lock_for(count)):
                    counted = tuple(counters[: len(counts)])
                    self._give_back(counted, taken)
                    return Reservation(False, counted, tuple(counts), (), (counter.rule.name,))
                taken.append(counter)
        return Reservation(True, tuple(counters), tuple(counts), tuple(taken))

    def failed(self, reservation: Reservation, *, user_id: str | None = None, ip: str | None = None) -> None:
        """The secret was checked and wrong: the attempt stays counted, and locks it took stay."""
        counts = dict(zip(reservation.counters, reservation.counts, strict=True))
        for counter in reservation.locks:
            if counter.rule.lock_event:
                self.events.emit(
                    counter.rule.lock_event,
                    user_id=user_id,
                    ip=ip,
                    scope=counter.rule.name,
                    seconds=counter.rule.lock_for(counts[counter]),
                )

    def succeeded(self, reservation: Reservation, *, complete: bool) -> None:
        """The secret was right. `complete`: the whole sign-in (or re-authentication) succeeded, so the
        pair's failures are forgotten; otherwise (a right password before the second factor) the attempt
        is only given back, so knowing the password never buys more code guesses."""
        if not reservation.allowed:
            return
        for counter in reservation.counters:
            if complete and counter.rule.reset_on_success:
                self.cache.delete(counter.count_key)
            else:
                self.cache.decr(counter.count_key)
        for counter in reservation.locks:
            self.cache.delete(counter.lock_key)

    def _give_back(self, counters: Sequence[Counter], taken: Sequence[Counter]) -> None:
        for counter in taken:
            self.cache.delete(counter.lock_key)
        for counter in counters:
            self.cache.decr(counter.count_key)
