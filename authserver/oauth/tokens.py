"""RS256 JWT access tokens shaped per RFC 9068, and their verification."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from authserver.clock import Clock
from authserver.oauth.keyring import KeyRing
from authserver.security import jws_rs256

ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a protocol name, not a secret
LOGOUT_TOKEN_TYP = "logout+jwt"  # noqa: S105 - a protocol name, not a secret
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# §2.4 leaves exp to us; two minutes cover delivery, and the RP rejects replays by jti until then.
LOGOUT_TOKEN_TTL = 120


@dataclass(frozen=True)
class AccessToken:
    """A verified access token's claims."""

    claims: dict[str, Any]

    @property
    def jti(self) -> str:
        jti: str = self.claims["jti"]
        return jti

    @property
    def client_id(self) -> str:
        client_id: str = self.claims["client_id"]
        return client_id

    @property
    def expires_at(self) -> int:
        return int(self.claims["exp"])


class TokenIssuer:
    def __init__(self, issuer: str, keyring: KeyRing, access_ttl: int, clock: Clock) -> None:
        self.clock = clock
        self.issuer = issuer
        self.keyring = keyring
        self.access_ttl = access_ttl

    def issue_access_token(
        self,
        *,
        client_id: str,
        subject: str,
        scope: str,
        audience: str | list[str],
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        _, signer = self.keyring.signer(ACCESS_TOKEN_TYP)
        now = int(self.clock())
        # RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti are required; scope when granted.
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + self.access_ttl,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "client_id": client_id,
        }
        if scope:
            claims["scope"] = scope
        if extra:
            claims.update(extra)
        # RFC 9068 §2.1: typ "at+jwt" keeps access tokens from being accepted as ID tokens (the
        # signer's protected header is {"alg": "RS256", "typ": "at+jwt", "kid": kid}).
        return signer.sign(claims), claims

    def verify_access_token(self, token: str) -> AccessToken | None:
        """Signature, type, issuer and expiry; None for anything that is not our live access token."""
        header = jws_rs256.read_header(token)
        if header is None:
            return None
        kid = header.get("kid")
        # RFC 8725 §3.1: only the one algorithm we sign with; RFC 9068 §4: typ must be at+jwt.
        if header.get("typ") != ACCESS_TOKEN_TYP or header.get("alg") != "RS256" or not isinstance(kid, str):
            return None
        key = self.keyring.verification_key(kid)
        if key is None or key.public_key is None:
            return None
        claims = jws_rs256.verify(token, key.public_key)
        if claims is None or claims.get("iss") != self.issuer:
            return None
        exp, nbf, now = claims.get("exp"), claims.get("nbf"), self.clock()
        if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp < now:
            return None
        if nbf is not None and (not isinstance(nbf, (int, float)) or isinstance(nbf, bool) or nbf > now):
            return None
        if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("client_id"), str):
            return None
        return AccessToken(claims)


def half_hash(value: str) -> str:
    """OIDC Core §3.1.3.6 at_hash: base64url of the left half of SHA-256 (for RS256)."""
    import base64
    import hashlib

    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


class IdTokens:
    """ID tokens (OIDC Core §2) and id_token_hint checks."""

    def __init__(self, issuer: str, keyring: KeyRing, ttl: int, clock: Clock) -> None:
        self.clock = clock
        self.issuer = issuer
        self.keyring = keyring
        self.ttl = ttl

    def issue(
        self,
        *,
        client_id: str,
        subject: str,
        auth_time: int,
        acr: str,
        amr: tuple[str, ...],
        sid: str,
        nonce: str | None = None,
        access_token: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        _, signer = self.keyring.signer("JWT")
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": client_id,
            "exp": now + self.ttl,
            "iat": now,
            "auth_time": auth_time,
            "acr": acr,
            "amr": list(amr),
            "sid": sid,
            "azp": client_id,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["at_hash"] = half_hash(access_token)
        if extra:
            claims.update({k: v for k, v in extra.items() if k not in claims})
        return signer.sign(claims)

    def logout_token(self, *, client_id: str, subject: str, sid: str) -> str:
        """OIDC Back-Channel Logout 1.0 §2.4: explicitly typed, with the logout event and no nonce, so it
        can never pass for an ID token."""
        key = self.keyring.signing_key()
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": secrets.token_urlsafe(16),
            "sub": subject,
            "sid": sid,
            "events": {LOGOUT_EVENT: {}},
        }
        return jwt.encode({"alg": "RS256", "typ": LOGOUT_TOKEN_TYP, "kid": key.kid}, claims, key)

    def verify_hint(self, token: str) -> dict[str, Any] | None:
        """An ID token we issued, signature and issuer checked; expiry is not (OIDC Core §3.1.2.1:
        an expired ID token is still a valid hint)."""
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeEncodeError):
            return None
        kid = header.get("kid")
        # Only an ID token is a hint: never an access token or a logout token signed by the same key.
        if header.get("typ") in (ACCESS_TOKEN_TYP, LOGOUT_TOKEN_TYP) or not isinstance(kid, str):
            return None
        key = self.keyring.verification_key(kid)
        if key is None:
            return None
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"]).claims
        except (JoseError, ValueError, TypeError):
            return None
        if claims.get("iss") != self.issuer or not isinstance(claims.get("sub"), str):
            return None
        return claims
