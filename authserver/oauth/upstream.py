"""The client side of OpenID Connect and OAuth 2.0, towards an upstream identity provider (authlib).

Pure protocol steps, no HTTP (authserver/upstream/ makes the calls): read a discovery document, build the
authorization request (code + PKCE S256 + state + nonce), the token request, and validate an ID token
fully (OIDC Core §3.1.3.7): a signature by one of the upstream's keys with an asymmetric algorithm it
announced, `iss` exactly the upstream's issuer, our client_id in `aud` (and `azp` when there are several
audiences), `exp` in the future, `iat` recent and not ahead, `nonce` the one this sign-in sent.
"""

from __future__ import annotations

import base64
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError, MissingKeyError
from joserfc.jwk import KeySet

# Asymmetric algorithms only: HS* would make the client secret a signing key, `none` no signature at all.
ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# Clock skew allowed on exp and iat, and how old an ID token may be when it reaches us (it was just minted).
LEEWAY = 60
MAX_ID_TOKEN_AGE = 600


class UpstreamProtocolError(Exception):
    """What the upstream sent (or announced) cannot be used; the message says why, for the audit trail."""


class UnknownSigningKey(UpstreamProtocolError):
    """The ID token names a key the cached key set does not have: the upstream may have rotated its keys."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    id_token_algs: tuple[str, ...]
    token_endpoint_auth_method: str
    iss_parameter_supported: bool


def provider_metadata(data: Any, expected_issuer: str) -> ProviderMetadata:
    """An OpenID Provider's discovery document (OIDC Discovery 1.0 §3), checked with authlib; its `issuer`
    must be exactly the one it was fetched for (§4.3: otherwise another provider could impersonate it)."""
    if not isinstance(data, dict):
        raise UpstreamProtocolError("the discovery document is not a JSON object")
    try:
        metadata = OpenIDProviderMetadata(data)
        metadata.validate()
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamProtocolError(f"the discovery document is not valid: {exc}") from None
    if data.get("issuer") != expected_issuer:
        raise UpstreamProtocolError(
            f"the discovery document names the issuer {data.get('issuer')!r}, not {expected_issuer!r}"
        )
    if "code" not in data.get("response_types_supported", []):
        raise UpstreamProtocolError("the provider does not support the authorization code flow")
    methods = data.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise UpstreamProtocolError("the provider does not support PKCE with S256")
    algs = tuple(a for a in data.get("id_token_signing_alg_values_supported", []) if a in ID_TOKEN_ALGS)
    if not algs:
        raise UpstreamProtocolError("the provider signs ID tokens with no asymmetric algorithm we accept")
    auth_methods = data.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" in auth_methods:
        auth_method = "client_secret_basic"
    elif "client_secret_post" in auth_methods:
        auth_method = "client_secret_post"
    else:
        raise UpstreamProtocolError("the provider accepts neither client_secret_basic nor client_secret_post")
    return ProviderMetadata(
        issuer=data["issuer"],
        authorization_endpoint=data["authorization_endpoint"],
        token_endpoint=data["token_endpoint"],
        jwks_uri=data["jwks_uri"],
        userinfo_endpoint=data.get("userinfo_endpoint"),
        id_token_algs=algs,
        token_endpoint_auth_method=auth_method,
        iss_parameter_supported=data.get("authorization_response_iss_parameter_supported") is True,
    )


def new_secret() -> str:
    """A state, nonce or PKCE verifier: 43 characters from authlib's generator (RFC 7636 §4.1 allows 43-128)."""
    return generate_token(43)


def authorization_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    state: str,
    nonce: str | None,
    verifier: str,
) -> str:
    """RFC 6749 §4.1.1 with RFC 7636 (S256) and, for OpenID Connect, OIDC Core §3.1.2.1 `nonce`."""
    challenge: str = create_s256_code_challenge(verifier)  # type: ignore[no-untyped-call]  # authlib is untyped here
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"}
    if nonce is not None:
        extra["nonce"] = nonce
    return str(
        prepare_grant_uri(
            endpoint, client_id, "code", redirect_uri=redirect_uri, scope=" ".join(scopes), state=state, **extra
        )
    )


def token_request(
    *, code: str, redirect_uri: str, verifier: str, client_id: str, client_secret: str, auth_method: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The form and headers of the code exchange (RFC 6749 §4.1.3), authenticating as `auth_method`."""
    body = prepare_token_request("authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=verifier)
    form = dict(parse_qsl(body))
    headers: dict[str, str] = {}
    if auth_method == "client_secret_post":
        form.update(client_id=client_id, client_secret=client_secret)
    else:
        # RFC 6749 §2.3.1: each part form-urlencoded, then base64.
        raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    return form, headers


def key_set(data: Any) -> KeySet:
    """The upstream's JWKS (public keys only)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keys = KeySet.import_key_set(data)
    except (ValueError, JoseError, TypeError, KeyError, AttributeError):
        raise UpstreamProtocolError("the provider's key set (JWKS) is not valid") from None
    if any(key.is_private for key in keys) or any(key.key_type == "oct" for key in keys):
        raise UpstreamProtocolError("the provider's key set holds private or symmetric keys")
    return keys


def id_token_claims(
    token: str,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    algs: tuple[str, ...],
    now: int,
) -> dict[str, Any]:
    """The claims of a valid ID token; raises UnknownSigningKey (refresh the keys and try once more) or
    UpstreamProtocolError naming the check that failed."""
    allowed = [a for a in algs if a in ID_TOKEN_ALGS]
    try:
        decoded = jwt.decode(token, keys, algorithms=allowed)
    except (MissingKeyError, InvalidKeyIdError):
        raise UnknownSigningKey("the ID token is signed with a key the provider does not publish") from None
    except JoseError as exc:
        raise UpstreamProtocolError(f"the ID token's signature is not valid ({exc.error})") from None
    except (ValueError, TypeError):
        raise UpstreamProtocolError("the ID token is malformed") from None
    claims = CodeIDToken(
        decoded.claims,
        dict(decoded.header),
        options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
            "sub": {"essential": True},
        },
        params={"nonce": nonce, "client_id": client_id},
    )
    try:
        claims.validate(now=now, leeway=LEEWAY)
    except JoseError as exc:
        raise UpstreamProtocolError(
            f"the ID token was refused: {exc.error} {getattr(exc, 'claim', '')}".strip()
        ) from None
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)) or iat > now + LEEWAY or iat < now - MAX_ID_TOKEN_AGE:
        raise UpstreamProtocolError("the ID token was refused: iat is not recent")
    if not isinstance(claims.get("sub"), str) or not 0 < len(claims["sub"]) <= 255:
        raise UpstreamProtocolError("the ID token was refused: sub is not a usable identifier")
    return dict(claims)
