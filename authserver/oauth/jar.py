"""Signed request objects (JAR, RFC 9101): authorization parameters as a JWT signed by the client.

The object is verified with the client's registered keys (never a key it carries, never `alg: none`);
its claims then replace the request's parameters entirely (RFC 9101 §5: "the authorization server
MUST only use the parameters in the Request Object").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from authserver.cache import Cache
from authserver.clock import Clock
from authserver.domain import Client

ALGORITHMS = ["RS256", "PS256", "ES256"]
# RFC 9101 §10.8: explicit typing; plain "JWT" and no typ stay accepted for existing OIDC clients.
ACCEPTED_TYP = ("oauth-authz-req+jwt", "jwt")
MAX_LIFETIME = 3600
LEEWAY = 60
MAX_LENGTH = 16384
# JWT claims about the object itself, not authorization parameters.
_OBJECT_CLAIMS = frozenset({"iss", "aud", "exp", "iat", "nbf", "jti", "sub"})


class RequestObjectError(Exception):
    """invalid_request_object (RFC 9101 §7), with a description safe to show."""


@dataclass(frozen=True)
class RequestObjects:
    issuer: str
    cache: Cache
    clock: Clock

    def decode(self, client: Client, value: str) -> list[tuple[str, str]]:
        """The authorization parameters of a verified request object, client_id first."""
        if len(value) > MAX_LENGTH:
            raise RequestObjectError("The request object is too large")
        try:
            header = jws.extract_compact(value.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeEncodeError, TypeError):
            raise RequestObjectError("The request object is not a signed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            # RFC 9101 §6.3 with OIDC's unsigned objects ruled out: only signatures we can check count.
            raise RequestObjectError("Unsigned request objects are not accepted")
        if alg not in ALGORITHMS:
            raise RequestObjectError(f"The request object must be signed with one of {', '.join(ALGORITHMS)}")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP):
            raise RequestObjectError("The request object's typ must be oauth-authz-req+jwt")
        if not client.jwks:
            raise RequestObjectError("The client has no registered keys to verify request objects")
        try:
            keys = KeySet.import_key_set(cast(KeySetSerialization, client.jwks))
            claims = jwt.decode(value, keys, algorithms=ALGORITHMS).claims
        except (JoseError, ValueError, TypeError, RecursionError):
            raise RequestObjectError("The request object's signature does not verify with the client's keys") from None
        self._check_claims(client, claims)
        return [("client_id", client.client_id), *_parameters(claims)]

    def _check_claims(self, client: Client, claims: dict[str, Any]) -> None:
        now = self.clock()
        # RFC 9101 §6.1 / §10.2: iss is the client, aud is this server.
        if claims.get("iss") != client.client_id:
            raise RequestObjectError("The request object's iss must be the client_id")
        if "client_id" in claims and claims["client_id"] != client.client_id:
            raise RequestObjectError("The request object's client_id does not match the request's")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.issuer not in audiences:
            raise RequestObjectError("The request object's aud must be the issuer")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise RequestObjectError("The request object must carry exp")
        if exp <= now - LEEWAY:
            raise RequestObjectError("The request object has expired")
        if exp - now > MAX_LIFETIME:
            raise RequestObjectError("The request object must expire within 60 minutes")
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, (int, float)) or nbf > now + LEEWAY):
            raise RequestObjectError("The request object is not valid yet")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 200:
            raise RequestObjectError("The request object must carry a jti")
        if not self.cache.add(f"jar-jti:{client.client_id}:{jti}", "1", max(exp - now + LEEWAY, 1)):
            raise RequestObjectError("The request object has already been used")


def _parameters(claims: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in claims.items():
        if name in _OBJECT_CLAIMS or name == "client_id":
            continue
        if name in ("request", "request_uri"):
            # RFC 9101 §4: a request object MUST NOT contain request or request_uri.
            raise RequestObjectError(f"The request object must not contain {name}")
        if isinstance(value, str):
            pairs.append((name, value))
        elif isinstance(value, bool):
            raise RequestObjectError(f"The request object's {name} has the wrong type")
        elif isinstance(value, int):
            pairs.append((name, str(value)))  # max_age
        elif isinstance(value, dict) and name == "claims":
            pairs.append((name, json.dumps(value)))
        elif isinstance(value, list) and name == "resource" and all(isinstance(v, str) for v in value):
            pairs.extend((name, v) for v in value)
        else:
            raise RequestObjectError(f"The request object's {name} has the wrong type")
    return pairs
