"""The one password check and the one second-factor check, both through the one throttle.

Every page that takes a password (sign-in, re-authentication, password change) or a second-factor
code (/mfa, re-authentication) calls these, so each guess anywhere is reserved in the same counters
before it is checked (security/throttle.py). They are synchronous (argon2, the database, the cache):
handlers run them with run_sync.

A refused (throttled) password still costs one argon2 verification against a dummy hash, so a locked
account answers in the same time as a wrong password; its result is never used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from starlette.requests import Request

from authserver.domain import User
from authserver.interaction import known_device
from authserver.interaction.events import client_ip
from authserver.security import backup_codes, passwords, totp
from authserver.security.crypto import Sealer
from authserver.security.throttle import Reservation
from authserver.services import Services
from authserver.web.addresses import source_key

# Over-long passwords are refused without hashing: argon2's cost must not be attacker-controlled.
MAX_PASSWORD_CHARS = passwords.MAX_LENGTH * 4
MAX_CODE_CHARS = 64

Method = Literal["otp", "backup"]


class Verdict(StrEnum):
    RIGHT = "right"
    WRONG = "wrong"
    # Not checked: a limit of the throttle refused the attempt.
    THROTTLED = "throttled"


@dataclass(frozen=True)
class Guesser:
    """Who is typing: their address (as given, for the audit trail), its counter key, their device cookie."""

    ip: str | None
    source: str
    device_cookie: str

    def knows(self, svc: Services, user_id: str) -> bool:
        return known_device.is_known(svc.settings, self.device_cookie, user_id)


def guesser(request: Request, svc: Services) -> Guesser:
    ip = client_ip(request)
    return Guesser(ip=ip, source=source_key(ip), device_cookie=known_device.cookie_value(request, svc.settings))


@dataclass(frozen=True)
class PasswordCheck:
    verdict: Verdict
    # The account counted (user:<id>, or name:<keyed hash> for an unknown name) and, whenever the named
    # account exists, its id (for the audit trail only: a refusal never says which part was wrong).
    account: str
    named: str | None
    reservation: Reservation


@dataclass(frozen=True)
class FactorCheck:
    verdict: Verdict
    method: Method | None
    reservation: Reservation


def totp_sealer(svc: Services) -> Sealer:
    return Sealer(svc.settings.secret_bytes(), "totp")


def has_second_factor(svc: Services, user_id: str) -> bool:
    factor = svc.store.get_totp(user_id)
    return factor is not None and factor.confirmed_at is not None


def check_password(
    svc: Services, who: Guesser, password: str, *, user: User | None, login: str = "", complete: bool
) -> PasswordCheck:
    """Is `password` the password of `user` (None: the name `login` matched no account)?

    A disabled account is refused like a wrong password. `complete`: a right password finishes the
    authentication (no second factor follows), so the pair's failure count is cleared."""
    throttle = svc.throttle
    named = user.id if user else None
    account = throttle.account_key(named, login)
    known = user is not None and who.knows(svc, user.id)
    reservation = throttle.reserve(throttle.for_account(account, who.source, known_device=known))
    candidate = password if len(password) <= MAX_PASSWORD_CHARS else ""
    if not reservation.allowed:
        passwords.verify_password(candidate, None)  # the cost of a real check; the answer is not used
        return PasswordCheck(Verdict.THROTTLED, account, named, reservation)
    ok, new_hash = passwords.verify_password(candidate, user.password_hash if user else None)
    if not ok or user is None or user.disabled or not candidate:
        throttle.failed(reservation, user_id=named, ip=who.ip)
        return PasswordCheck(Verdict.WRONG, account, named, reservation)
    if new_hash:
        svc.store.set_password_hash(user.id, new_hash)  # parameters changed since it was stored
    throttle.succeeded(reservation, complete=complete)
    return PasswordCheck(Verdict.RIGHT, account, named, reservation)


def check_second_factor(
    svc: Services, who: Guesser, user_id: str, code: str, *, sign_in: str | None = None
) -> FactorCheck:
    """Is `code` a current TOTP code (not used before) or an unused backup code of the user? A right
    code is spent. `sign_in`: the id of the half-finished sign-in it belongs to, whose own limit
    (`mfa_max_attempts`) counts too."""
    throttle = svc.throttle
    counters = throttle.for_account(
        throttle.account_key(user_id, ""), who.source, known_device=who.knows(svc, user_id), sign_in=sign_in
    )
    reservation = throttle.reserve(counters)
    if not reservation.allowed:
        return FactorCheck(Verdict.THROTTLED, None, reservation)
    method = _spend(svc, user_id, code[:MAX_CODE_CHARS])
    if method is None:
        throttle.failed(reservation, user_id=user_id, ip=who.ip)
        return FactorCheck(Verdict.WRONG, None, reservation)
    throttle.succeeded(reservation, complete=True)
    return FactorCheck(Verdict.RIGHT, method, reservation)


def _spend(svc: Services, user_id: str, code: str) -> Method | None:
    """'otp' or 'backup' when the code is good (and now spent), else None."""
    factor = svc.store.get_totp(user_id)
    if factor is None or factor.confirmed_at is None:
        return None
    secret = totp_sealer(svc).open(factor.secret_enc, user_id).decode()
    step = totp.matching_step(secret, code)
    if step is not None:
        return "otp" if svc.store.use_totp_step(user_id, step) else None  # replay of a used step
    backup = backup_codes.normalise(code)
    if backup and svc.store.use_backup_code(user_id, backup_codes.hash_code(svc.hasher, backup), int(time.time())):
        return "backup"
    return None
