"""The one password check, the one second-factor code check and the one passkey check, all through the
one throttle.

Every page that takes a password (sign-in, re-authentication, password change), a second-factor
code (/mfa, re-authentication) or a passkey (sign-in, /mfa, re-authentication) calls these, so each guess anywhere is reserved in the same counters
before it is checked (security/throttle.py). They are synchronous (argon2, the database, the cache):
handlers run them with run_sync.

A refused (throttled) password still costs one argon2 verification against a dummy hash, so a locked
account answers in the same time as a wrong password; its result is never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from starlette.requests import Request

from authserver.domain import Passkey, User
from authserver.i18n import N_, Message
from authserver.interaction import ceremonies, known_device
from authserver.interaction.events import client_ip
from authserver.security import backup_codes, passwords, totp, webauthn
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
        return known_device.is_known(svc.settings, self.device_cookie, user_id, int(svc.clock()))


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


@dataclass(frozen=True)
class Factors:
    """The user's second factors: an authenticator app (TOTP) and passkeys. A passkey is a second factor
    after the password, and both factors at once without it (with user verification)."""

    totp: bool
    passkeys: int

    @property
    def any(self) -> bool:
        return self.totp or self.passkeys > 0


def second_factors(svc: Services, user_id: str) -> Factors:
    factor = svc.store.get_totp(user_id)
    return Factors(factor is not None and factor.confirmed_at is not None, len(svc.store.list_passkeys(user_id)))


def has_second_factor(svc: Services, user_id: str) -> bool:
    return second_factors(svc, user_id).any


def mfa_required_by(svc: Services) -> list[str]:
    """Names of the enabled clients that require a second factor: every account may sign in to them, so
    none may remove its last second factor while one exists."""
    return sorted(c.name for c in svc.store.list_clients() if c.require_mfa and not c.disabled)


# One application, or a list of them ("A, B and C", written the language's way).
_REQUIRED_BY_ONE = N_(
    "%(apps)s requires two-step verification, so your last second factor cannot be removed. Add another "
    "passkey or an authenticator app first."
)
_REQUIRED_BY_SEVERAL = N_(
    "%(apps)s require two-step verification, so your last second factor cannot be removed. Add another "
    "passkey or an authenticator app first."
)


def last_factor_refusal(names: list[str]) -> Message:
    return Message(_REQUIRED_BY_ONE if len(names) == 1 else _REQUIRED_BY_SEVERAL, apps=tuple(names))


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
        svc.passwords.dummy_verify(candidate)
        return PasswordCheck(Verdict.THROTTLED, account, named, reservation)
    ok, new_hash = svc.passwords.verify(candidate, user.password_hash if user else None)
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
    step = totp.matching_step(secret, code, svc.clock())
    if step is not None:
        return "otp" if svc.store.use_totp_step(user_id, step) else None  # replay of a used step
    backup = backup_codes.normalise(code)
    if backup and svc.store.use_backup_code(user_id, backup_codes.hash_code(svc.hasher, backup), int(svc.clock())):
        return "backup"
    return None


@dataclass(frozen=True)
class PasskeyCheck:
    verdict: Verdict
    # Why a WRONG answer was wrong, for the audit trail (passkey.failed): challenge, unknown_credential,
    # user_handle, verification, sign_count_regressed, malformed.
    reason: str | None
    passkey: Passkey | None  # the stored credential, when the response named one
    assertion: webauthn.Assertion | None  # when right
    reservation: Reservation | None

    @property
    def user_id(self) -> str | None:
        return self.passkey.user_id if self.passkey else None


def passkey_amr(passkey: Passkey, assertion: webauthn.Assertion) -> tuple[str, ...]:
    """RFC 8176 values for one passkey use: `swk` for a synced passkey (a key in software, copied by a cloud
    keychain), `hwk` for one bound to its device; `user` for the presence test, and `pin` when the
    authenticator verified the user (a PIN, pattern or biometric: it does not say which)."""
    kind = "swk" if passkey.backup_eligible else "hwk"
    return (kind, "user", "pin") if assertion.user_verified else (kind, "user")


def check_passkey(
    svc: Services,
    who: Guesser,
    response_json: str,
    *,
    purpose: ceremonies.Purpose,
    binding: str,
    user_id: str | None = None,
    sign_in: str | None = None,
    require_verification: bool,
) -> PasskeyCheck:
    """Is `response_json` a valid assertion (navigator.credentials.get()) answering a challenge this server
    issued for `purpose` and `binding`, by a registered passkey (of `user_id`, when the account is known)?

    Counted by the one throttle like a password or a code, against the credential's owner (or the expected
    account; an unknown credential under a keyed hash of its id). The challenge is consumed whatever the
    outcome. A right answer stores the new sign counter; a counter that did not increase is refused for a
    device-bound passkey (a possible clone, WebAuthn L3 §6.1.1) and accepted for a synced one."""
    throttle = svc.throttle
    try:
        shown: webauthn.Presented | None = webauthn.presented(response_json)
    except webauthn.PasskeyError:
        shown = None
    passkey = svc.store.get_passkey(shown.credential_id) if shown else None
    owner = user_id or (passkey.user_id if passkey else None)
    account = throttle.account_key(owner, "passkey:" + (shown.credential_id if shown else ""))
    known = owner is not None and who.knows(svc, owner)
    reservation = throttle.reserve(throttle.for_account(account, who.source, known_device=known, sign_in=sign_in))
    if not reservation.allowed:
        return PasskeyCheck(Verdict.THROTTLED, None, passkey, None, reservation)

    def wrong(reason: str) -> PasskeyCheck:
        throttle.failed(reservation, user_id=owner, ip=who.ip)
        return PasskeyCheck(Verdict.WRONG, reason, passkey, None, reservation)

    if shown is None:
        return wrong("malformed")
    if ceremonies.take(svc.cache, shown.challenge, purpose, binding, int(svc.clock())) is None:
        return wrong("challenge")
    if passkey is None or (user_id is not None and passkey.user_id != user_id):
        return wrong("unknown_credential")
    # §7.2 step 6: the authenticator's user handle, when it gives one, must name the credential's owner.
    if shown.user_handle is not None and shown.user_handle != passkey.user_id:
        return wrong("user_handle")
    try:
        assertion = webauthn.verify_assertion(
            svc.rp, response_json, shown.challenge, passkey.public_key, require_verification=require_verification
        )
    except webauthn.PasskeyError:
        return wrong("verification")
    owner_record = svc.store.get_user(passkey.user_id)
    if owner_record is None or owner_record.disabled:
        return wrong("account_disabled")
    strict = not passkey.backup_eligible and not (passkey.sign_count == 0 and assertion.sign_count == 0)
    if strict and not webauthn.counter_ok(passkey.sign_count, assertion.sign_count):
        return wrong("sign_count_regressed")
    recorded = svc.store.record_passkey_use(
        passkey.credential_id,
        sign_count=assertion.sign_count,
        backed_up=assertion.backed_up,
        now=int(svc.clock()),
        counter_must_advance=strict,
    )
    if not recorded:
        # Deleted meanwhile, or another assertion with the same counter won the race.
        return wrong("sign_count_regressed" if svc.store.get_passkey(passkey.credential_id) else "unknown_credential")
    throttle.succeeded(reservation, complete=True)
    return PasskeyCheck(Verdict.RIGHT, None, passkey, assertion, reservation)
