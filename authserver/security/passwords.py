"""User passwords: argon2id (RFC 9106) via argon2-cffi; callers run these off the event loop."""

from __future__ import annotations

import functools
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authserver.settings import Settings

MIN_LENGTH = 12  # NIST SP 800-63B §3.1.1.2 asks for at least 8; we ask for 12.
MAX_LENGTH = 128

# Each hash holds 64 MiB while it runs: at most this many at once per process, so a burst of
# sign-ins queues instead of growing a worker by gigabytes (the thread pool alone allows 40). One
# semaphore for the process, whatever Passwords objects it builds.
_CONCURRENT = threading.BoundedSemaphore(4)


def _hasher(cost: str) -> PasswordHasher:
    """AUTHSERVER_ARGON2_COST: `standard` is argon2-cffi's RFC 9106 "low memory" profile (argon2id, 3 passes,
    64 MiB, 4 lanes); `test` is the cheapest argon2id, for test suites (production refuses it)."""
    if cost == "standard":
        return PasswordHasher()
    if cost == "test":
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    raise ValueError(f"unknown argon2 cost {cost!r}")


class Passwords:
    """Hashing and checking user passwords with one argon2id parameter set, built once from Settings
    (services.py, the CLI's context) and passed to whatever hashes or checks a password. Blocking: callers
    run these off the event loop."""

    def __init__(self, cost: str = "standard") -> None:
        self.cost = cost
        self.hasher = _hasher(cost)
        self._dummy: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        return cls(settings.argon2_cost)

    def hash(self, password: str) -> str:
        with _CONCURRENT:
            return self.hasher.hash(password)

    def needs_rehash(self, stored: str) -> bool:
        """True when `stored` was made with other parameters than these."""
        return self.hasher.check_needs_rehash(stored)

    def _dummy_hash(self) -> str:
        # Verified when the user is unknown, so unknown users and wrong passwords cost the same. Made on
        # first use, not at construction: a 64 MiB hash in every process that merely builds its services
        # (each worker, each CLI command) would cost memory and start-up time for nothing. (Two threads
        # may both make one at first; either serves.)
        if self._dummy is None:
            self._dummy = self.hash("not-a-real-password-but-the-same-cost")
        return self._dummy

    def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """(ok, new_hash). new_hash is set when the stored hash uses outdated parameters. Without a stored
        hash (an unknown user, an account made through an upstream) the check costs what a real one does
        and fails."""
        target = stored or self._dummy_hash()
        try:
            with _CONCURRENT:
                self.hasher.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, None
        if not stored:
            # No password at all: nothing matches, not even the dummy's known plaintext.
            return False, None
        return True, (self.hash(password) if self.needs_rehash(stored) else None)

    def dummy_verify(self, password: str) -> None:
        """The cost of a real check, whose answer is not used (against telling users apart by timing)."""
        self.verify(password, None)


class PasswordPolicyError(ValueError):
    pass


@functools.cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn bundles the 30,000 most common passwords from public breach corpora.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, *, username: str = "", email: str = "") -> None:
    """NIST SP 800-63B §3.1.1.2: length limits and a blocklist, no composition rules."""
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"password must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    identifiers = {username.lower(), email.lower(), email.lower().split("@")[0]} - {""}
    if lowered in identifiers:
        raise PasswordPolicyError("password must not be the username or email")
    if lowered in _common_passwords():
        raise PasswordPolicyError("password is too common: it appears in lists of breached passwords")
    from zxcvbn import zxcvbn

    # Catches what a list cannot: "aaaaaaaaaaaa", "password1234", the username with digits appended.
    # zxcvbn refuses inputs over 72 characters; the first 72 say enough about guessability.
    if zxcvbn(password[:72], user_inputs=sorted(identifiers))["score"] < 2:
        raise PasswordPolicyError("password is too easy to guess: use a longer phrase of unrelated words")
