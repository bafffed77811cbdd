"""Where the server may send requests of its own (back-channel logout today).

RFC 9700 §4.13 / OWASP SSRF guidance: a client-registered URL must not turn the server into a proxy
into its own network. https only (plain http to a loopback address in development, for local
receivers); in production every address the name resolves to must be public, unless an operator
lists its network in AUTHSERVER_EGRESS_ALLOWED_NETWORKS. The request then goes to the address that
was checked (no second DNS lookup an attacker could answer differently), with TLS still verified
against the name.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(Exception):
    """The destination is not one this server may call."""


class Unresolvable(Exception):
    """The name does not resolve (now): a reason to try again later, not a refusal."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # the name, for TLS (SNI and certificate check) and the Host header
    port: int
    target: str  # path and query
    address: IPAddress  # the checked address the connection goes to

    @property
    def pinned_url(self) -> str:
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.target}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """'10.0.0.0/8, fd00::/8' -> networks; raises ValueError on a malformed entry."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class EgressPolicy:
    production: bool
    allowed_networks: tuple[IPNetwork, ...] = ()

    def destination(self, url: str) -> Destination:
        """Check `url` and the addresses its host resolves to; the first acceptable one is used."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise EgressRefused("not a valid URL") from None
        scheme, host = parts.scheme.lower(), (parts.hostname or "")
        if scheme not in ("https", "http") or not host or parts.username or parts.password or parts.fragment:
            raise EgressRefused("only absolute https URLs without credentials or fragment")
        port = port or (443 if scheme == "https" else 80)
        addresses = self._resolve(host, port)
        if scheme == "http" and (self.production or not all(a.is_loopback for a in addresses)):
            raise EgressRefused("plain http only to a loopback address, in development")
        for address in addresses:
            self.check_address(address)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Destination(scheme, host, port, target, addresses[0])

    def check_address(self, address: IPAddress) -> None:
        if any(address in network for network in self.allowed_networks):
            return
        if address.is_multicast or address.is_unspecified:
            raise EgressRefused(f"{address} is not a destination")
        if self.production and not address.is_global:
            # Private, loopback, link-local (cloud metadata at 169.254.169.254), reserved, CGNAT, ...
            raise EgressRefused(f"{address} is not a public address")

    @staticmethod
    def _resolve(host: str, port: int) -> list[IPAddress]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise Unresolvable(f"cannot resolve {host}") from None
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
            address = mapped or address
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise Unresolvable(f"cannot resolve {host}")
        return addresses
