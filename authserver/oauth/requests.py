"""authlib request objects built from data the edge already read (no I/O happens in here)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc6749.requests import OAuth2Request as _AuthlibRequest

from authserver.oauth.dpop import DPoPProof
from authserver.oauth.models import OAuthClient


class FormPayload(OAuth2Payload):
    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        datalist: defaultdict[str, list[Any]] = defaultdict(list)
        for key, value in pairs:
            datalist[key].append(value)
        self._datalist = datalist
        self._data = {key: values[0] for key, values in datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[Any]]:
        return self._datalist


class OAuthRequest(_AuthlibRequest):
    """An authlib OAuth2Request over already-parsed query/form pairs.

    authlib's constructor rejects plain-http URIs unless they are loopback; transport security is
    enforced where it belongs instead: production refuses to start without an https issuer.
    """

    headers: Mapping[str, str]
    payload: FormPayload
    client: OAuthClient | None

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: Sequence[tuple[str, str]] = (),
        form: Sequence[tuple[str, str]] = (),
        client_ip: str | None = None,
        dpop_proofs: Sequence[str] = (),
        source: str = "unknown",
    ) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self._args: dict[str, str | None] = dict(query)
        self._form = dict(form)
        self.payload = FormPayload(list(query) + list(form) if method == "GET" else list(form))
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None
        self.client_ip = client_ip
        # Every DPoP header field sent (RFC 9449 §4.3 item 1 allows one), and the verified proof.
        self.dpop_proofs = list(dpop_proofs)
        self.dpop: DPoPProof | None = None
        # The key of the caller's address for counters (web.addresses.source_key: IPv6 per /64).
        self.source = source
        # Revocation entries read ahead on the event loop (see endpoints/protocol.py), so the lookup of an
        # access token needs no blocking round trip; None: read them in the lookup.
        self.denylist: dict[str, str | None] | None = None

    @property
    def args(self) -> dict[str, str | None]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form
