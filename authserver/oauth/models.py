"""authlib's ClientMixin over our frozen Client record."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeAlias

from authlib.oauth2.rfc6749 import ClientMixin

from authserver.domain import Client

# What our grants return to authlib: the body stays a dict until handle_response makes it JSON.
GrantResponse: TypeAlias = tuple[int, dict[str, Any], Collection[tuple[str, str]]]


class OAuthClient(ClientMixin):
    def __init__(self, client: Client) -> None:
        self.record = client

    @property
    def client_id(self) -> str:
        return self.record.client_id

    def get_client_id(self) -> str:
        return self.record.client_id

    # The stubs say str; authlib itself treats None as "no default", which is what we mean.
    def get_default_redirect_uri(self) -> str | None:  # type: ignore[override]
        # OAuth 2.1 / RFC 9700 §2.1: the redirect_uri is always sent and matched exactly; no default.
        return None

    # authlib passes the requested scope as a string; the stubs also allow a list, which never comes.
    def get_allowed_scope(self, scope: str) -> str:  # type: ignore[override]
        allowed = set(self.record.scopes)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.record.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:  # pragma: no cover - see client_auth
        raise NotImplementedError("client secrets are verified by ClientAuthenticator")

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.record.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.record.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.record.grant_types


def authenticated(client: ClientMixin | None) -> OAuthClient:
    """The client authlib hands back after authentication: always one ClientAuthenticator made."""
    if not isinstance(client, OAuthClient):
        raise TypeError("the request has no authenticated client")
    return client
