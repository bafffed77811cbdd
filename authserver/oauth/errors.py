"""authlib's protocol error, under the one name the layers above use for it (authlib stays in oauth/)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error

# Raised by the core with its RFC 6749 error code; calling one gives (status, body, headers).
ProtocolError = OAuth2Error
