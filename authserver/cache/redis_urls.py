"""Which Redis a URL names: one server, a Sentinel-managed primary, or a Cluster (no redis import here).

- `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS), `unix:///path.sock`: one server;
- `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?sentinel_password=P]`:
  the primary that the Sentinels at those addresses name `service` (failover follows it); the password
  is the data nodes', `sentinel_password` the Sentinels' own if they have one;
- `redis+cluster://[[user]:password@]host[:port][,host[:port]...]`: a Redis Cluster, found from any
  of those nodes (database 0 only, as Cluster has no others).
`rediss+sentinel://` and `rediss+cluster://` use TLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

SINGLE_SCHEMES = ("redis", "rediss", "unix")
SCHEMES = (*SINGLE_SCHEMES, "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class RedisTarget:
    kind: str  # single | sentinel | cluster
    url: str  # as given (single: passed to redis-py as it is)
    nodes: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    tls: bool = False


def parse(url: str) -> RedisTarget:
    """Raise ValueError with a readable message for anything else."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"must start with one of {', '.join(s + '://' for s in SCHEMES)}")
    if scheme in SINGLE_SCHEMES:
        return RedisTarget("single", url)
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    kind = "sentinel" if scheme.endswith("+sentinel") else "cluster"
    default_port = DEFAULT_SENTINEL_PORT if kind == "sentinel" else DEFAULT_PORT
    nodes = tuple(_node(h, default_port) for h in hosts.split(","))
    path = [p for p in parts.path.split("/") if p]
    query = parse_qs(parts.query)
    common = {
        "url": url,
        "nodes": nodes,
        "username": unquote(username) or None,
        "password": unquote(password) or None,
        "tls": scheme.startswith("rediss"),
    }
    if kind == "cluster":
        if path:
            raise ValueError("a redis+cluster:// URL has no path (a Cluster has database 0 only)")
        return RedisTarget("cluster", **common)  # type: ignore[arg-type]
    if not path or len(path) > 2:
        raise ValueError("a redis+sentinel:// URL names the service: redis+sentinel://host:26379/mymaster[/db]")
    db = path[1] if len(path) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"the database must be a number, not {db!r}")
    sentinel_password = query.get("sentinel_password", [None])[0]
    return RedisTarget(
        "sentinel",
        service=unquote(path[0]),
        db=int(db),
        sentinel_password=sentinel_password,
        **common,  # type: ignore[arg-type]
    )


def _node(text: str, default_port: int) -> tuple[str, int]:
    if not text:
        raise ValueError("an empty host in the list")
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host or (port and not port.isdigit()):
        raise ValueError(f"not host:port: {text!r}")
    return host, int(port) if port else default_port
