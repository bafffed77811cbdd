"""Client addresses as keys for counters: one key per IPv4 address, one per IPv6 /64.

An IPv6 host usually controls a whole /64 (RFC 4291 §2.5.1 interface identifiers; SLAAC privacy
addresses, RFC 8981, change within it all the time), so counting single IPv6 addresses would let one
machine rotate through 2**64 of them. IPv4-mapped IPv6 addresses count as their IPv4 address.
"""

from __future__ import annotations

import functools
import ipaddress

UNKNOWN = "unknown"


# Parsing an address costs more than the rest of a rate-limit check; a busy server sees few addresses
# often (and a bounded cache cannot be grown by many).
@functools.lru_cache(maxsize=4096)
def source_key(ip: str | None) -> str:
    """The counter key of a client address: the IPv4 address, the IPv6 /64 network, or "unknown"."""
    if not ip:
        return UNKNOWN
    try:
        address = ipaddress.ip_address(ip.strip().split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
