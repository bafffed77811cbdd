"""Accounts: what a valid account is (the username, email and name shapes and the password policy, shared
with the sign-up and account pages), and the administrator's operations on users shared by the CLI and the
admin API."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from authserver.audit import Events
from authserver.domain import User
from authserver.manage.errors import Conflict, Invalid, NotFound, Stale
from authserver.revocations import Denylist, revoke_user_grants
from authserver.security.passwords import PasswordPolicyError, Passwords, check_policy
from authserver.store import DuplicateError, RefreshTokenStore, Removal, Store, UserStore

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,149}$")
# Deliberately loose (RFC 5321 allows much); it must look like one address with a domain.
EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
MAX_EMAIL = 320
MAX_NAME = 200


def username_problem(username: str) -> str | None:
    if not USERNAME.fullmatch(username):
        return "1-150 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


def email_problem(email: str) -> str | None:
    if len(email) > MAX_EMAIL or not EMAIL.fullmatch(email):
        return "an email address such as name@example.com"
    return None


def name_problem(name: str) -> str | None:
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        return f"at most {MAX_NAME} characters on one line"
    return None


def password_problem(password: str, *, username: str, email: str) -> str | None:
    try:
        check_policy(password, username=username, email=email)
    except PasswordPolicyError as exc:
        return str(exc)
    return None


def new_user(
    passwords: Passwords, username: str, email: str, name: str, password: str, *, now: int, email_verified: bool = False
) -> User:
    """The record of a new account (fields already checked); hashing is slow: call it off the event loop."""
    return User(
        id=str(uuid.uuid4()),
        username=username.lower(),
        email=email.lower(),
        name=name,
        password_hash=passwords.hash(password),
        email_verified=email_verified,
        created_at=now,
    )


# The CLI option of each field (`user create`), for its messages.
CLI_OPTIONS = {"username": "--username", "email": "--email", "name": "--name", "password": "the password"}
# What an update may change (the password has its own operation).
UPDATABLE = ("username", "email", "name", "email_verified")


def describe(user: User) -> dict[str, object]:
    """The user as the CLI prints it and the API returns it."""
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "email_verified": user.email_verified,
        "disabled": user.disabled,
        "created_at": user.created_at,
    }


def check_fields(username: str, email: str, name: str) -> None:
    problem = username_problem(username)
    if problem:
        raise Invalid("{username} must be " + problem, field="username")
    if email_problem(email):
        raise Invalid("{email} must be an email address", field="email")
    problem = name_problem(name)
    if problem:
        raise Invalid("{name} must be " + problem, field="name")


def check_password(password: str, *, username: str, email: str) -> None:
    if not password:
        raise Invalid("{password} is empty", field="password")
    problem = password_problem(password, username=username, email=email)
    if problem:
        raise Invalid(problem, field="password")


def create(
    store: UserStore,
    passwords: Passwords,
    *,
    username: str,
    email: str,
    name: str,
    password: str,
    now: int,
    email_verified: bool = False,
) -> User:
    """Blocking (the password hash is slow)."""
    check_fields(username, email, name)
    check_password(password, username=username, email=email)
    user = new_user(passwords, username, email, name, password, now=now, email_verified=email_verified)
    try:
        store.add_user(user)
    except DuplicateError as exc:
        raise Conflict(str(exc), field="username") from None
    return user


def find(store: UserStore, ref: str) -> User:
    """By id, username or email."""
    user = store.get_user(ref) or store.find_user(ref)
    if user is None:
        raise NotFound("no user", value=ref)
    return user


def get(store: UserStore, user_id: str) -> User:
    user = store.get_user(user_id)
    if user is None:
        raise NotFound("no user", value=user_id)
    return user


def update(store: UserStore, user_id: str, changes: Mapping[str, Any], *, expected_version: int | None = None) -> User:
    current = get(store, user_id)
    if expected_version is not None and current.version != expected_version:
        raise Stale("the user changed since it was read")
    values: dict[str, Any] = {k: getattr(current, k) for k in UPDATABLE}
    for key, value in changes.items():
        if key not in UPDATABLE:
            if key == "password":
                raise Invalid("{password} is changed with its own operation (set-password)", field=key)
            raise Invalid("{" + key + "} cannot be changed", field=key)
        if key == "email_verified":
            if not isinstance(value, bool):
                raise Invalid("{email_verified} must be true or false", field=key)
        elif not isinstance(value, str):
            raise Invalid("{" + key + "} must be a string", field=key)
        values[key] = value
    check_fields(values["username"], values["email"], values["name"])
    if values["email"].lower() != current.email and "email_verified" not in changes:
        values["email_verified"] = False  # a new address is unverified until proved (or said so)
    updated = replace(
        current,
        username=values["username"].lower(),
        email=values["email"].lower(),
        name=values["name"],
        email_verified=values["email_verified"],
        version=current.version + 1,
    )
    try:
        stored = store.update_user(updated, expected_version=current.version)
    except DuplicateError as exc:
        raise Conflict(str(exc), field="username" if "username" in changes else "email") from None
    if not stored:
        if store.get_user(user_id) is None:
            raise NotFound("no user", value=user_id)
        raise Stale("the user changed since it was read")
    return updated


def set_password(store: UserStore, passwords: Passwords, user: User, password: str) -> None:
    """Blocking (hashing). Voids the user's unused password-reset links."""
    check_password(password, username=user.username, email=user.email)
    store.set_password_hash(user.id, passwords.hash(password))


def end_tokens(
    store: RefreshTokenStore, denylist: Denylist, events: Events, user_id: str, *, reason: str, access_ttl: int, by: str
) -> int:
    """Revoke every refresh-token family of the user and deny the access tokens issued under them."""
    grants = revoke_user_grants(store, denylist, user_id, reason=reason, access_ttl=access_ttl)
    for grant_id in grants:
        events.emit("grant.revoked", grant_id=grant_id, user_id=user_id, reason=reason, by=by)
    return len(grants)


def set_disabled(store: UserStore, user: User, disabled: bool, *, end: Callable[[str, str], int]) -> int:
    """Disable (ending every token now: `end(user_id, reason)`, how many grants it revoked) or enable
    (restoring none of them)."""
    if not store.set_user_disabled(user.id, disabled):
        raise NotFound("no user", value=user.id)
    return end(user.id, "user_disabled") if disabled else 0


def reset_mfa(store: Store, user: User, *, end: Callable[[str, str], int], events: Events, by: str) -> dict[str, Any]:
    """Remove the second factors and passkeys; whatever signed in with them loses its tokens."""
    removed = store.delete_totp(user.id) is Removal.REMOVED
    passkeys = store.delete_passkeys(user.id)
    revoked = end(user.id, "mfa_reset")
    # An administrator weakening an account is exactly what the audit trail is for.
    events.emit(
        "mfa.reset", user_id=user.id, by=by, had_factor=removed, passkeys_removed=passkeys, grants_revoked=revoked
    )
    if passkeys:
        events.emit("passkey.removed", user_id=user.id, by=by, count=passkeys)
    return {"mfa_removed": removed, "passkeys_removed": passkeys, "grants_revoked": revoked}
