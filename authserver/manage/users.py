"""What a valid new account is: the username, email and name shapes and the password policy."""

from __future__ import annotations

import re
import time
import uuid

from authserver.domain import User
from authserver.security import passwords

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
        passwords.check_policy(password, username=username, email=email)
    except passwords.PasswordPolicyError as exc:
        return str(exc)
    return None


def new_user(username: str, email: str, name: str, password: str, *, email_verified: bool = False) -> User:
    """The record of a new account (fields already checked); hashing is slow: call it off the event loop."""
    return User(
        id=str(uuid.uuid4()),
        username=username.lower(),
        email=email.lower(),
        name=name,
        password_hash=passwords.hash_password(password),
        email_verified=email_verified,
        created_at=int(time.time()),
    )
