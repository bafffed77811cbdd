"""Which local account an upstream sign-in is.

1. the account already linked to this upstream account (its `sub`);
2. on the account page ("Connect NAME"): the signed-in account, unless the upstream account belongs to
   another one;
3. with --link-by-email: the local account with the same address, only when the upstream asserts
   `email_verified` (anyone can type any address into an account at another provider);
4. otherwise a new account (unless --no-signup), with the upstream's address, verified if it says so;
   never an account whose address another local account has.
A disabled local account is refused like at the login page.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass

from authserver.domain import Upstream, UpstreamIdentity, User
from authserver.i18n import N_, Message
from authserver.manage.users import EMAIL, MAX_EMAIL, USERNAME
from authserver.store import DuplicateError, Store
from authserver.upstream.signin import Asserted


class Refused(Exception):
    """No local account for this sign-in: `reason` for the audit trail, the message for the person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Resolved:
    user: User
    linked: bool = False  # a new link was made (upstream.linked)
    created: bool = False  # a new account was made


def _identity(upstream: Upstream, asserted: Asserted, user_id: str, now: int) -> UpstreamIdentity:
    return UpstreamIdentity(
        upstream=upstream.name, subject=asserted.subject, user_id=user_id, email=asserted.email, created_at=now
    )


def _username_base(asserted: Asserted) -> str:
    for candidate in (asserted.preferred_username, (asserted.email or "").split("@")[0]):
        cleaned = re.sub(r"[^a-z0-9._-]", "", (candidate or "").lower()).lstrip("._-")[:40]
        if cleaned and USERNAME.fullmatch(cleaned):
            return cleaned
    return "user"


def signed_in_user(store: Store, upstream: Upstream, asserted: Asserted, now: int) -> Resolved:
    """Steps 1, 3 and 4 (a sign-in from the login page)."""
    name = upstream.display_name
    identity = store.get_upstream_identity(upstream.name, asserted.subject)
    if identity is not None:
        user = store.get_user(identity.user_id)
        if user is None or user.disabled:
            raise Refused("account_disabled", N_("This account cannot sign in."))
        store.touch_upstream_identity(upstream.name, asserted.subject, now)
        return Resolved(user)
    local = store.find_user(asserted.email) if asserted.email else None
    if local is not None:
        if not (upstream.link_by_email and asserted.email_verified):
            raise Refused(
                "email_in_use" if not upstream.link_by_email else "email_unverified",
                Message(
                    N_(
                        "An account with the address %(email)s exists already. Sign in with your password, "
                        "then connect %(name)s on your account page."
                    ),
                    email=asserted.email or "",
                    name=name,
                ),
            )
        if local.disabled:
            raise Refused("account_disabled", N_("This account cannot sign in."))
        try:
            store.add_upstream_identity(_identity(upstream, asserted, local.id, now))
        except DuplicateError:
            raise Refused(
                "already_linked",
                Message(N_("Your account is connected to another %(name)s account already."), name=name),
            ) from None
        return Resolved(local, linked=True)
    if not upstream.signup:
        raise Refused(
            "signup_disabled",
            Message(N_("There is no account for this %(name)s account here. Sign in with your password."), name=name),
        )
    if asserted.email is None or len(asserted.email) > MAX_EMAIL or not EMAIL.fullmatch(asserted.email):
        raise Refused(
            "no_email",
            Message(N_("%(name)s did not share an email address, so no account can be made for you."), name=name),
        )
    base = _username_base(asserted)
    for attempt in range(5):
        username = base if attempt == 0 else f"{base[:40]}-{secrets.randbelow(10**6):06d}"
        if store.find_user(username) is not None:
            continue
        user = User(
            id=str(uuid.uuid4()),
            username=username,
            email=asserted.email,
            name=asserted.name,
            password_hash="",  # no password: it signs in through the upstream (or a passkey, or a reset)
            email_verified=asserted.email_verified,
            created_at=now,
        )
        try:
            store.add_federated_user(user, _identity(upstream, asserted, user.id, now))
        except DuplicateError:
            continue  # a name or the address taken meanwhile: look again
        return Resolved(user, linked=True, created=True)
    raise Refused("signup_conflict", N_("No account could be made for you now. Try again."))


def link_to(store: Store, upstream: Upstream, asserted: Asserted, user_id: str, now: int) -> Resolved:
    """Step 2: "Connect NAME" on the account page of `user_id`."""
    name = upstream.display_name
    user = store.get_user(user_id)
    if user is None or user.disabled:
        raise Refused("account_disabled", N_("This account cannot sign in."))
    identity = store.get_upstream_identity(upstream.name, asserted.subject)
    if identity is not None:
        if identity.user_id == user_id:
            return Resolved(user)
        raise Refused(
            "linked_elsewhere", Message(N_("This %(name)s account is connected to another account here."), name=name)
        )
    try:
        store.add_upstream_identity(_identity(upstream, asserted, user_id, now))
    except DuplicateError:
        raise Refused(
            "already_linked", Message(N_("Your account is connected to another %(name)s account already."), name=name)
        ) from None
    return Resolved(user, linked=True)
