"""Redirect URIs: what may be registered, and whether a requested one matches a registered one.

Registration (every way a client is made: the CLI today, an admin API or dynamic registration later)
calls `check`; /authorize and the request-object checks call `matches`. Matching is exact string
comparison (RFC 9700 §4.1.3), with one relaxation: RFC 8252 §7.3, any port on a loopback IP literal
for public (native) clients. So what is registered must already be unambiguous: no userinfo, no
wildcard, no fragment (RFC 6749 §3.1.2), no dot segment in any spelling (RFC 3986 §5.2.4 removes them,
so `/cb/%2e%2e/evil` names another path to some parsers and not to others), a port in 1-65535.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

# Schemes that run code or read local data in a browser are never redirect targets.
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "about", "blob"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
# host[:port] of an http(s) URI: a DNS name or IPv4 address, or a bracketed IPv6 address; no userinfo.
_AUTHORITY = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?$")


class RedirectUriError(ValueError):
    """Why a URI cannot be registered; the message completes "<option> ..." (e.g. "must not ...")."""


def check(uri: str) -> str:
    """Return `uri` if it may be registered as a redirect (or post-logout redirect) URI; else raise."""
    if not uri or any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in uri):
        raise RedirectUriError("must be an absolute URI without spaces or control characters")
    if "#" in uri:
        raise RedirectUriError("must not have a fragment (RFC 6749 section 3.1.2)")
    if "*" in uri:
        raise RedirectUriError("must not contain a wildcard: redirect URIs are matched exactly")
    if "\\" in uri:
        raise RedirectUriError("must not contain a backslash (browsers read it as '/')")
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unbalanced or invalid [IPv6] host
        raise RedirectUriError("must be a valid absolute URI") from None
    if not parts.scheme or not _SCHEME.match(parts.scheme):
        raise RedirectUriError("must be an absolute URI with a scheme")
    scheme = parts.scheme
    if scheme.lower() in FORBIDDEN_SCHEMES:
        raise RedirectUriError(f"must not use the {scheme}: scheme")
    if "@" in parts.netloc:
        raise RedirectUriError("must not contain userinfo (user@host)")
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        raise RedirectUriError("must not contain dot segments ('.', '..', or their %2e spellings)")
    if scheme in ("http", "https"):
        if not parts.netloc:
            raise RedirectUriError("has no host")
        authority = _AUTHORITY.match(parts.netloc)
        if authority is None:
            raise RedirectUriError("must have a host of letters, digits, dots and dashes, and a numeric port")
        port = authority["port"]
        if port is not None and not 1 <= int(port) <= 65535:
            raise RedirectUriError("must have a port between 1 and 65535")
        if scheme == "http" and parts.hostname not in LOOPBACK_NAMES:
            raise RedirectUriError("must use https (plain http only for loopback)")
    elif scheme.lower() in ("http", "https"):
        raise RedirectUriError("must spell its scheme in lower case")
    elif parts.netloc and _AUTHORITY.match(parts.netloc) is None:
        raise RedirectUriError("must have a host of letters, digits, dots and dashes, and a numeric port")
    return uri


def _loopback(uri: str) -> tuple[str, str, str] | None:
    """(host, path, query) of an `http://<loopback IP literal>[:port]/...` URI without userinfo or
    fragment and with a port in 1-65535; None for anything else."""
    if "#" in uri or "\\" in uri or any(c.isspace() for c in uri):
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    authority = _AUTHORITY.match(parts.netloc)
    if parts.scheme != "http" or authority is None:
        return None
    port = authority["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    host = authority["host"].strip("[]")
    try:
        if not ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:  # a name (RFC 8252 §8.3: "localhost" is NOT RECOMMENDED and gets no relaxation)
        return None
    return str(ipaddress.ip_address(host)), parts.path, parts.query


def matches(registered: Iterable[str], requested: str, *, public: bool) -> bool:
    """Whether `requested` is one of the `registered` URIs: exactly, or, for a public client, as a
    loopback redirect on another port (RFC 8252 §7.3)."""
    registered = tuple(registered)
    if requested in registered:
        return True
    if not public:
        return False
    wanted = _loopback(requested)
    return wanted is not None and any(_loopback(uri) == wanted for uri in registered)
