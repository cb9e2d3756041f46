"""One Redis, a Sentinel-watched primary, or a Cluster: chosen by the URL's scheme.

``IDP_REDIS_URL`` takes what redis-py itself supports, and nothing hand-rolled:

- ``redis://``, ``rediss://``, ``unix://``: one server (redis-py's ``from_url``).
- ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]`` (and
  ``rediss+sentinel://``): ask the Sentinels which server is the primary of
  ``service`` and follow fail-overs (redis-py's ``Sentinel.master_for``). Sentinel
  has no URL form in redis-py, so this one follows the common convention.
- ``redis+cluster://host:port`` (and ``rediss+cluster://``): a Redis Cluster; the
  node given is only the first contact (redis-py's ``RedisCluster``).

Every operation of the ephemeral store touches one key (MULTI/EXEC pipelines
included), so it works unchanged on a Cluster: no command spans two hash slots.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

SINGLE_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SCHEMES = SINGLE_SCHEMES + SENTINEL_SCHEMES + CLUSTER_SCHEMES


class RedisUrlError(ValueError):
    pass


def _hosts(netloc: str, default_port: int) -> tuple[str | None, list[tuple[str, int]]]:
    """``[:password@]h1:p1,h2:p2`` -> (password, [(h1, p1), (h2, p2)])."""
    password = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        password = unquote(userinfo.partition(":")[2]) or None
    hosts = []
    for part in netloc.split(","):
        host, _, port = part.strip().rpartition(":") if ":" in part else (part.strip(), "", "")
        host = host.strip("[]")
        if not host:
            raise RedisUrlError("every Sentinel needs a host")
        try:
            number = int(port) if port else default_port
        except ValueError as exc:
            raise RedisUrlError(f"bad port {port!r}") from exc
        if not 0 < number < 65536:
            raise RedisUrlError(f"bad port {port!r}")
        hosts.append((host, number))
    return password, hosts


def parse_sentinel_url(url: str) -> tuple[str | None, list[tuple[str, int]], str, int, bool]:
    """(password, sentinels, service name, db, tls) of a ``redis+sentinel://`` URL."""
    parts = urlsplit(url)
    password, hosts = _hosts(parts.netloc, 26379)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise RedisUrlError("a Sentinel URL ends in /service_name or /service_name/db")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise RedisUrlError(f"bad database number {path[1]!r}")
        db = int(path[1])
    return password, hosts, unquote(path[0]), db, parts.scheme.startswith("rediss")


def check_redis_url(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise RedisUrlError(f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    if scheme in SENTINEL_SCHEMES:
        parse_sentinel_url(url)
    if scheme in CLUSTER_SCHEMES:
        _hosts(urlsplit(url).netloc, 6379)
    return url


def connect(url: str, *, timeout: float) -> Any:
    """A ``str``-decoding client for ``url``, every call bounded by ``timeout``.

    A refused or dropped connection is retried once at once (a pooled connection
    from before a restart); a timeout never (redis-py's default backoff would turn
    a 2-second timeout into ten).
    """
    check_redis_url(url)
    scheme = urlsplit(url).scheme
    common: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    retry = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))
    if scheme in SENTINEL_SCHEMES:
        password, hosts, service, db, tls = parse_sentinel_url(url)
        sentinel = Sentinel(
            hosts,
            sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
            password=password,
            db=db,
            ssl=tls,
            retry=retry,
            **common,
        )
        return sentinel.master_for(service, **common)
    if scheme in CLUSTER_SCHEMES:
        parts = urlsplit(url)
        password, hosts = _hosts(parts.netloc, 6379)
        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in hosts],
            password=password,
            ssl=scheme.startswith("rediss"),
            retry=retry,
            **common,
        )
    return redis.Redis.from_url(url, retry=retry, **common)
