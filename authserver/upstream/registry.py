"""Adding an upstream: its name, its endpoints (from discovery or given), its sealed client secret.

One validator for every way an upstream is made (the CLI today, the admin API later).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authserver.delivery import DeliveryError
from authserver.delivery.http import call_json
from authserver.domain import UPSTREAM_OAUTH2, UPSTREAM_OIDC, Upstream
from authserver.oauth import upstream as protocol
from authserver.security.crypto import Sealer
from authserver.security.egress import EgressPolicy, EgressRefused
from authserver.upstream.presets import PRESETS

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
CLAIMS = ("sub", "email", "email_verified", "name", "preferred_username")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
LOOPBACK = ("localhost", "127.0.0.1", "::1")


class UpstreamConfigError(ValueError):
    """An upstream we refuse to add; the message says why."""


def secret_sealer(secret_key: bytes) -> Sealer:
    # Bound to the upstream's name (the AEAD context): a sealed secret copied to another row fails to open.
    return Sealer(secret_key, "upstream-client-secret")


@dataclass(frozen=True)
class NewUpstream:
    """What the operator asked for (CLI flags)."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    preset: str | None = None
    tenant: str | None = None
    display_name: str | None = None
    issuer: str | None = None
    scopes: tuple[str, ...] | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    emails_endpoint: str | None = None
    token_endpoint_auth_method: str | None = None
    claim_map: dict[str, str] = field(default_factory=dict)
    signup: bool = True
    link_by_email: bool = False
    trust_mfa: bool = False
    mfa_acr_values: tuple[str, ...] = ()


def check_url(url: str, what: str, *, production: bool) -> str:
    """https, or plain http to a loopback host outside production (a local test provider)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise UpstreamConfigError(f"{what} is not a valid URL") from None
    if parts.username or parts.password or parts.fragment or not parts.hostname:
        raise UpstreamConfigError(f"{what} must be an absolute URL without credentials or fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and not production and parts.hostname in LOOPBACK):
        return url
    raise UpstreamConfigError(f"{what} must be https (http only to localhost, outside production)")


def discover(issuer: str, *, policy: EgressPolicy, timeout: float) -> protocol.ProviderMetadata:
    """Fetch and check the provider's discovery document (OIDC Discovery 1.0 §4)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        answer = call_json("GET", url, policy=policy, timeout=timeout)
    except (DeliveryError, EgressRefused) as exc:
        raise UpstreamConfigError(f"cannot fetch {url}: {exc}") from None
    if answer.status != 200:
        raise UpstreamConfigError(f"{url} answered {answer.status}")
    try:
        return protocol.provider_metadata(answer.body, issuer)
    except protocol.UpstreamProtocolError as exc:
        raise UpstreamConfigError(str(exc)) from None


def build(spec: NewUpstream, *, secret_key: bytes, policy: EgressPolicy, timeout: float, now: int) -> Upstream:
    """The record to store (endpoints checked, secret sealed); raises UpstreamConfigError."""
    production = policy.production
    if not NAME.fullmatch(spec.name):
        raise UpstreamConfigError(
            "--name must be 1-40 lower-case letters, digits or '-', starting with a letter or digit"
        )
    if not spec.client_id or len(spec.client_id) > 500:
        raise UpstreamConfigError("--client-id is required (at most 500 characters)")
    if not spec.client_secret or len(spec.client_secret) > 2000:
        raise UpstreamConfigError("a client secret is required on stdin (--client-secret-stdin)")
    preset = PRESETS.get(spec.preset) if spec.preset else None
    if spec.preset and preset is None:
        raise UpstreamConfigError(f"unknown preset {spec.preset!r} (one of {', '.join(PRESETS)})")
    if preset and preset.needs_tenant and not spec.tenant:
        raise UpstreamConfigError(f"the {spec.preset} preset needs --tenant (your directory's tenant id)")
    if spec.tenant and not re.fullmatch(r"[A-Za-z0-9.-]{1,100}", spec.tenant):
        raise UpstreamConfigError("--tenant must be a tenant id or domain")
    for claim in spec.claim_map:
        if claim not in CLAIMS:
            raise UpstreamConfigError(f"--claim {claim}=...: the claims are {', '.join(CLAIMS)}")
    auth_method = spec.token_endpoint_auth_method or (preset.token_endpoint_auth_method if preset else None)
    if auth_method is not None and auth_method not in AUTH_METHODS:
        raise UpstreamConfigError(f"--token-endpoint-auth-method must be one of {', '.join(AUTH_METHODS)}")

    issuer = spec.issuer or (preset.issuer.replace("{tenant}", spec.tenant or "") if preset else "")
    authorization = spec.authorization_endpoint or (preset.authorization_endpoint if preset else None)
    kind = UPSTREAM_OAUTH2 if authorization else UPSTREAM_OIDC
    scopes = spec.scopes or (preset.scopes if preset else None)
    fields: dict[str, Any]
    if kind == UPSTREAM_OIDC:
        if not issuer:
            raise UpstreamConfigError(
                "an OpenID Connect upstream needs --issuer (or plain OAuth 2.0: --authorization-endpoint ...)"
            )
        check_url(issuer, "--issuer", production=production)
        metadata = discover(issuer, policy=policy, timeout=timeout)
        for url, what in (
            (metadata.authorization_endpoint, "its authorization_endpoint"),
            (metadata.token_endpoint, "its token_endpoint"),
            (metadata.jwks_uri, "its jwks_uri"),
        ):
            check_url(url, what, production=production)
        scopes = scopes or ("openid", "email", "profile")
        if "openid" not in scopes:
            raise UpstreamConfigError("an OpenID Connect upstream's --scope must include openid")
        fields = {
            "authorization_endpoint": metadata.authorization_endpoint,
            "token_endpoint": metadata.token_endpoint,
            "userinfo_endpoint": metadata.userinfo_endpoint,
            "jwks_uri": metadata.jwks_uri,
            "id_token_algs": metadata.id_token_algs,
            "token_endpoint_auth_method": auth_method or metadata.token_endpoint_auth_method,
            "iss_parameter_supported": metadata.iss_parameter_supported,
            "claim_map": {},
            "emails_endpoint": None,
        }
    else:
        token = spec.token_endpoint or (preset.token_endpoint if preset else None)
        userinfo = spec.userinfo_endpoint or (preset.userinfo_endpoint if preset else None)
        if not token or not userinfo:
            raise UpstreamConfigError(
                "a plain OAuth 2.0 upstream needs --authorization-endpoint, --token-endpoint and --userinfo-endpoint"
            )
        emails = spec.emails_endpoint or (preset.emails_endpoint if preset else None)
        optional: tuple[tuple[str | None, str], ...] = (
            (authorization, "--authorization-endpoint"),
            (token, "--token-endpoint"),
            (userinfo, "--userinfo-endpoint"),
            (emails, "--emails-endpoint"),
        )
        for maybe, what in optional:
            if maybe:
                check_url(maybe, what, production=production)
        if issuer:
            check_url(issuer, "--issuer", production=production)
        claim_map = {"sub": "sub", **(preset.claim_map if preset else {}), **spec.claim_map}
        if not scopes:
            raise UpstreamConfigError("a plain OAuth 2.0 upstream needs --scope")
        fields = {
            "authorization_endpoint": authorization,
            "token_endpoint": token,
            "userinfo_endpoint": userinfo,
            "jwks_uri": None,
            "id_token_algs": (),
            "token_endpoint_auth_method": auth_method or "client_secret_basic",
            "iss_parameter_supported": False,
            "claim_map": claim_map,
            "emails_endpoint": emails,
        }
    if any(not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", s) for s in scopes):
        raise UpstreamConfigError("--scope must be space-separated scope names")
    display = spec.display_name or (preset.display_name if preset else spec.name)
    if len(display) > 100 or any(ord(c) < 32 for c in display):
        raise UpstreamConfigError("--display-name must be at most 100 characters on one line")
    return Upstream(
        name=spec.name,
        display_name=display,
        kind=kind,
        issuer=issuer,
        client_id=spec.client_id,
        client_secret_enc=secret_sealer(secret_key).seal(spec.client_secret.encode(), spec.name),
        scopes=tuple(scopes),
        signup=spec.signup,
        link_by_email=spec.link_by_email,
        trust_mfa=spec.trust_mfa,
        mfa_acr_values=spec.mfa_acr_values,
        preset=spec.preset,
        created_at=now,
        **fields,
    )


def describe(upstream: Upstream, redirect_uri: str) -> dict[str, Any]:
    """What `upstream list/show` prints (never the secret)."""
    return {
        "name": upstream.name,
        "display_name": upstream.display_name,
        "kind": upstream.kind,
        "preset": upstream.preset,
        "issuer": upstream.issuer or None,
        "client_id": upstream.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(upstream.scopes),
        "authorization_endpoint": upstream.authorization_endpoint,
        "token_endpoint": upstream.token_endpoint,
        "userinfo_endpoint": upstream.userinfo_endpoint,
        "jwks_uri": upstream.jwks_uri,
        "token_endpoint_auth_method": upstream.token_endpoint_auth_method,
        "iss_parameter_supported": upstream.iss_parameter_supported,
        "claim_map": upstream.claim_map or None,
        "signup": upstream.signup,
        "link_by_email": upstream.link_by_email,
        "trust_mfa": upstream.trust_mfa,
        "mfa_acr_values": list(upstream.mfa_acr_values),
    }


def redirect_uri(issuer: str, name: str) -> str:
    """One redirect URI per upstream (RFC 9700 §4.4.2.2: an answer arriving at one upstream's URI is
    checked against that upstream only, the mix-up defence that needs nothing from the upstream)."""
    return f"{issuer.rstrip('/')}/login/upstream/{name}/callback"
