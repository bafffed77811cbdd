"""Well-known upstreams: what `authserver upstream add --preset NAME` fills in.

Google and Microsoft are OpenID Connect providers (configured from their discovery documents); GitHub is
plain OAuth 2.0 (no ID token): its user API answers the profile, and its email API says which addresses
it verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from authserver.domain import UPSTREAM_OAUTH2, UPSTREAM_OIDC


@dataclass(frozen=True)
class Preset:
    display_name: str
    kind: str
    scopes: tuple[str, ...]
    issuer: str = ""  # {tenant} is replaced by --tenant
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    emails_endpoint: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"  # noqa: S105 - a protocol name, not a secret
    claim_map: dict[str, str] = field(default_factory=dict)
    needs_tenant: bool = False


PRESETS = {
    "google": Preset("Google", UPSTREAM_OIDC, ("openid", "email", "profile"), issuer="https://accounts.google.com"),
    # A single tenant: its ID tokens name the tenant in `iss`, so "common" could not be validated.
    "microsoft": Preset(
        "Microsoft",
        UPSTREAM_OIDC,
        ("openid", "email", "profile"),
        issuer="https://login.microsoftonline.com/{tenant}/v2.0",
        needs_tenant=True,
    ),
    "github": Preset(
        "GitHub",
        UPSTREAM_OAUTH2,
        ("read:user", "user:email"),
        authorization_endpoint="https://github.com/login/oauth/authorize",
        token_endpoint="https://github.com/login/oauth/access_token",  # noqa: S106 - a URL, not a secret
        userinfo_endpoint="https://api.github.com/user",
        emails_endpoint="https://api.github.com/user/emails",
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a protocol name, not a secret
        claim_map={"sub": "id", "preferred_username": "login", "name": "name", "email": "email"},
    ),
}
