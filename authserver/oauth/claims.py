"""Which user claims a grant may see (OIDC Core §5.4 scopes, §5.5 the `claims` parameter)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from authserver.domain import User
from authserver.i18n import N_, Message

SCOPE_CLAIMS = {
    "profile": ("name", "preferred_username", "updated_at"),
    "email": ("email", "email_verified"),
}
STANDARD_SCOPES = ("openid", "profile", "email", "offline_access")
SUPPORTED_CLAIMS = ("sub", "name", "preferred_username", "updated_at", "email", "email_verified")
# In words for the consent page (marked for the catalogs: translated when shown).
SCOPE_DESCRIPTIONS = {
    "openid": N_("Know who you are (sign you in)"),
    "profile": N_("See your name and username"),
    "email": N_("See your email address"),
    "offline_access": N_("Stay connected when you are not using it"),
}
CLAIM_DESCRIPTIONS = {
    "name": N_("See your name"),
    "preferred_username": N_("See your username"),
    "updated_at": N_("See when your profile changed"),
    "email": N_("See your email address"),
    "email_verified": N_("See whether your email address is verified"),
}
# A scope of the client's own (an API's), which only the client can explain: named as it is.
OTHER_SCOPE = N_("Use the permission “%(scope)s”")


def describe_scope(scope: str) -> str:
    """A scope in words (translated when shown), or the generic line naming it."""
    return SCOPE_DESCRIPTIONS.get(scope) or Message(OTHER_SCOPE, scope=scope)


class ClaimsRequestError(ValueError):
    pass


def parse_claims_request(raw: str | None) -> dict[str, Any] | None:
    """Validate the OIDC `claims` request parameter (§5.5); keep only claims we can supply."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # deeply nested input exhausts the parser's recursion
        raise ClaimsRequestError("claims must be a JSON object") from None
    if not isinstance(data, dict):
        raise ClaimsRequestError("claims must be a JSON object")
    result: dict[str, Any] = {}
    subjects = set()
    for member in ("userinfo", "id_token"):
        requested = data.get(member)
        if requested is None:
            continue
        if not isinstance(requested, dict):
            raise ClaimsRequestError(f"claims.{member} must be a JSON object")
        for name, spec in requested.items():
            if spec is not None and not isinstance(spec, dict):
                raise ClaimsRequestError(f"claims.{member}.{name} must be null or an object")
        sub = requested.get("sub")
        if isinstance(sub, dict) and "value" in sub:
            if not isinstance(sub["value"], str):
                raise ClaimsRequestError(f"claims.{member}.sub.value must be a string")
            subjects.add(sub["value"])
        result[member] = sorted(name for name in requested if name in SUPPORTED_CLAIMS and name != "sub")
    if len(subjects) > 1:
        raise ClaimsRequestError("claims ask for two different subjects")
    if subjects:
        result["sub"] = subjects.pop()
    return result


def consent_scopes(scopes: Sequence[str], claims_request: dict[str, Any] | None) -> frozenset[str]:
    """The scopes a grant really needs consent for: those asked, plus the scope behind each claim
    asked for by name (claims must not slip past a consent given for fewer scopes)."""
    needed = set(scopes)
    for member in ("userinfo", "id_token"):
        for claim in (claims_request or {}).get(member, ()):
            needed.update(scope for scope, names in SCOPE_CLAIMS.items() if claim in names)
    return frozenset(needed)


def user_claims(user: User) -> dict[str, Any]:
    return {
        "name": user.name or None,
        "preferred_username": user.username,
        "updated_at": user.created_at,
        "email": user.email,
        "email_verified": user.email_verified,
    }


def released_claims(
    user: User, scope: str, requested: list[str] | None = None, *, by_scope: bool = True
) -> dict[str, Any]:
    """Claims for the granted scopes (if by_scope) plus the ones asked for by name."""
    names: list[str] = []
    if by_scope:
        for s in scope.split():
            names.extend(SCOPE_CLAIMS.get(s, ()))
    names.extend(requested or ())
    values = user_claims(user)
    return {n: values[n] for n in dict.fromkeys(names) if values.get(n) is not None}


def consent_items(scopes: Sequence[str], claims_request: dict[str, Any] | None) -> list[str]:
    items = [describe_scope(s) for s in scopes]
    members = claims_request or {}
    extra = sorted({c for m in ("userinfo", "id_token") for c in members.get(m, ())})
    covered = {c for s in scopes for c in SCOPE_CLAIMS.get(s, ())}
    items.extend(CLAIM_DESCRIPTIONS[c] for c in extra if c not in covered)
    return items
