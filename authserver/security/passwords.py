"""User passwords: argon2id (RFC 9106) via argon2-cffi; callers run these off the event loop."""

from __future__ import annotations

import functools
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12  # NIST SP 800-63B §3.1.1.2 asks for at least 8; we ask for 12.
MAX_LENGTH = 128

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" profile
# Each hash holds 64 MiB while it runs: at most this many at once per process, so a burst of
# sign-ins queues instead of growing a worker by gigabytes (the thread pool alone allows 40).
_CONCURRENT = threading.BoundedSemaphore(4)


@functools.cache
def _dummy_hash() -> str:
    # Verified when the user is unknown, so unknown users and wrong passwords cost the same. Made on
    # first use, not at import: a 64 MiB hash in every process that merely imports this module
    # (each worker, each CLI command) would cost memory and start-up time for nothing.
    return hash_password("not-a-real-password-but-the-same-cost")


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


def hash_password(password: str) -> str:
    with _CONCURRENT:
        return _hasher.hash(password)


def verify_password(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Return (ok, new_hash). new_hash is set when the stored hash uses outdated parameters."""
    target = stored or _dummy_hash()
    try:
        with _CONCURRENT:
            _hasher.verify(target, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if not stored:
        # No password at all (an account made through an upstream): nothing matches, not even the
        # dummy's known plaintext.
        return False, None
    return True, (hash_password(password) if _hasher.check_needs_rehash(stored) else None)
