"""Redis :class:`~idp.store.interfaces.EphemeralStore`, shared by all processes.

Each method is a single Redis command (or one MULTI/EXEC), so atomicity comes
from the server, not from locks that only one process could see.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster

from idp.errors import UnavailableError
from idp.store.linked import Link, linked_keys

from .connect import connect

# Seconds a command may wait for Redis (connect and each reply) before the request
# gets a 503: a hung server (SIGSTOP, a full network buffer) must not hold a worker.
DEFAULT_TIMEOUT = 2.0


class RedisUnavailableError(UnavailableError):
    """Redis could not be reached or did not answer in time; the message names the
    (password-free) URL."""

    def __init__(self, detail: str) -> None:
        super().__init__("redis", detail)


F = TypeVar("F", bound=Callable[..., Any])


# A refused, dropped or timed-out connection, or a Cluster with a slot unserved.
_OUTAGES = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError)


def _unavailable_on_error(method: F) -> F:
    """Turn a refused, dropped or timed-out connection into :class:`RedisUnavailableError`.

    After a failure the store answers "unavailable" at once for ``timeout`` seconds
    (a small circuit breaker): one request that finds Redis hung waits at most the
    timeout once, and the requests queued behind it do not each wait it again.
    """

    @functools.wraps(method)
    def wrapper(self: RedisEphemeralStore, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._down_until:
            raise RedisUnavailableError(f"{self._url}: still failing (retrying shortly)")
        try:
            return method(self, *args, **kwargs)
        except _OUTAGES as exc:
            with self._lock:
                self._down_until = time.monotonic() + self._timeout
            raise RedisUnavailableError(f"{self._url}: {exc.__class__.__name__}") from exc

    return wrapper  # type: ignore[return-value]


# GET a JSON value and the keys its fields name, in one round trip (``get_linked``;
# the naming rule is ``idp.store.linked.linked_key``'s). ARGV: the store's key prefix,
# then (field, prefix) pairs, an empty field meaning "read the prefix as a key".
_GET_LINKED = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local ok, doc = pcall(cjson.decode, raw)
local out = {raw}
for i = 2, #ARGV - 1, 2 do
  local field, tail = ARGV[i], ARGV[i + 1]
  local name = nil
  if field == '' then
    name = tail
  elseif ok and type(doc) == 'table' then
    local value = doc[field]
    if type(value) == 'string' then
      name = tail .. value
    elseif type(value) == 'number' and value == math.floor(value) then
      name = tail .. string.format('%d', value)
    end
  end
  local found = false
  if name then found = redis.call('GET', ARGV[1] .. name) end
  out[#out + 1] = found
end
return out
"""


def _ttl_ms(ttl: float) -> int:
    """Whole milliseconds, at least 1: PX takes integers and PX 0 is an error."""
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    return max(1, round(ttl * 1000))


def _redact(url: str) -> str:
    """The URL without password or query string, safe to log and show."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _describe(client: redis.Redis) -> str:
    """Best-effort URL for a client built without one (for error messages)."""
    if not hasattr(client, "connection_pool"):
        return f"redis ({type(client).__name__})"
    kwargs = client.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={db}"
    host = str(kwargs.get("host", "localhost"))
    if ":" in host:
        host = f"[{host}]"
    tls = issubclass(client.connection_pool.connection_class, redis.SSLConnection)
    scheme = "rediss" if tls else "redis"
    return f"{scheme}://{host}:{kwargs.get('port', 6379)}/{db}"


def _text(value: bytes | str | None) -> str | None:
    """A reply of a decoding client: ``str`` (or None); the constructor ensured it."""
    if isinstance(value, bytes):
        raise TypeError("a Redis reply was not decoded: the client lost decode_responses")
    return value


# KEYS[1] holds ARGV[1]: delete it. Atomic on the server, unlike a GET then a DEL.
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisEphemeralStore:
    """Every key is stored as ``prefix + key`` so several apps can share a database.

    The client must use ``decode_responses=True`` (values are ``str``): one that
    does not is refused here, since its ``get`` would hand callers ``bytes`` that
    never equal the ``str`` they stored.
    """

    def __init__(
        self, client: redis.Redis, *, prefix: str = "idp:", timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if not client.get_encoder().decode_responses:
            raise ValueError("RedisEphemeralStore needs a client with decode_responses=True")
        self._client = client
        self._prefix = prefix
        self._url = _describe(client)
        self._timeout = timeout
        self._down_until = 0.0
        self._lock = threading.Lock()
        # A Cluster spreads the keys a value names over other slots, which neither a
        # script nor MGET may touch: there ``get_linked`` takes two round trips.
        self._cluster = isinstance(client, RedisCluster)
        self._get_linked_sha = (
            None if self._cluster else hashlib.sha1(_GET_LINKED.encode()).hexdigest()
        )
        # The pool :meth:`_command` checks connections out of; None: every command goes
        # through the client (a Cluster routes by slot; a single-connection client has
        # its own lock).
        self._pool: redis.ConnectionPool | None = (
            client.connection_pool
            if type(client) is redis.Redis and client.connection is None
            else None
        )

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "idp:", timeout: float = DEFAULT_TIMEOUT
    ) -> RedisEphemeralStore:
        """Build a client for ``url`` decoding to ``str``: one server, Sentinel or
        Cluster (``idp.store.redis.connect``).

        Every connect and reply is bounded by ``timeout`` (``IDP_REDIS_TIMEOUT``).
        redis-py's default retries three times with backoff, which turns a 2-second
        timeout into ten; here a refused or dropped connection is retried once, at
        once (a pooled connection left over from before a Redis restart), and a
        timeout never.
        """
        client = connect(url, timeout=timeout)
        store = cls(client, prefix=prefix, timeout=timeout)
        store._url = _redact(url)
        return store

    def ping(self) -> None:
        """Fail fast at start-up with a message naming the URL, not deep in a login."""
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise RedisUnavailableError(f"Redis at {self._url} is unreachable: {exc}") from exc
        self._down_until = 0.0

    def close(self) -> None:
        """Release pooled connections (the client is unusable afterwards)."""
        self._client.close()

    def _key(self, key: str) -> str:
        return self._prefix + key

    def _command(self, *args: str | int) -> Any:
        """One command and its raw reply, on a connection of the client's pool.

        The commands of every token, introspection and UserInfo request (SET, GET,
        EVALSHA) take this way rather than ``execute_command``: redis-py 8 wraps each
        call in a retry object, operation-metrics hooks, a per-command HIMPORT check
        and the response callbacks, which cost as much as the round trip's own work
        (``bench.endpoint_cost``, issue 12). What they do that matters here is kept:
        a connection checked out of (and back into) the same pool, so its health
        check, fork handling and Sentinel discovery apply; and the client's retry
        (``connect``): a refused or dropped connection (a pooled one from before a
        Redis restart, or a Sentinel fail-over) is closed and the command sent once
        more, at once; a timeout is not retried. The connection closes itself on any
        error of its socket, so it goes back to the pool usable either way.
        """
        pool = self._pool
        if pool is None:
            return self._client.execute_command(*args)  # type: ignore[no-untyped-call]
        # Any: redis-py leaves the connection's send_command and disconnect unannotated.
        connection: Any = pool.get_connection()
        try:
            try:
                connection.send_command(*args)
                return connection.read_response()
            except redis.ConnectionError:
                connection.disconnect()
                connection.send_command(*args)
                return connection.read_response()
        finally:
            pool.release(connection)

    @_unavailable_on_error
    def put(self, key: str, value: str, *, ttl: float) -> None:
        """SET PX: replaces value and TTL in one command."""
        self._command("SET", self._key(key), value, "PX", _ttl_ms(ttl))

    @_unavailable_on_error
    def put_new(self, key: str, value: str, *, ttl: float) -> bool:
        """SET NX PX: the server decides which of several racing callers wins."""
        name, ms = self._key(key), _ttl_ms(ttl)
        reply = self._client.execute_command("SET", name, value, "PX", ms, "NX")  # type: ignore[no-untyped-call]
        return bool(reply)

    @_unavailable_on_error
    def get(self, key: str) -> str | None:
        """GET; Redis never returns an expired key."""
        return _text(self._command("GET", self._key(key)))

    @_unavailable_on_error
    def get_many(self, *keys: str) -> list[str | None]:
        """MGET; on a Cluster GETs in one pipeline (MGET may not span slots there)."""
        if not keys:
            return []
        if not self._cluster:
            return [_text(v) for v in self._client.mget([self._key(k) for k in keys])]
        return self._get_pipelined([self._key(k) for k in keys])

    def _get_pipelined(self, keys: list[str]) -> list[str | None]:
        with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
            return [_text(v) for v in pipe.execute()]

    @_unavailable_on_error
    def get_linked(self, key: str, links: Sequence[Link]) -> tuple[str | None, list[str | None]]:
        """One EVALSHA (a Lua script); on a Cluster a GET, then the linked GETs pipelined."""
        if self._get_linked_sha is not None:
            args = [self._prefix]
            for field, prefix in links:
                args += [field or "", prefix]
            reply = self._evalsha(self._get_linked_sha, _GET_LINKED, self._key(key), args)
            if not reply:
                return None, []
            raw, *found = reply
            return _text(raw), [_text(v) for v in found]
        raw = _text(self._client.get(self._key(key)))
        if raw is None:
            return None, []
        names = linked_keys(raw, links)
        wanted = [self._key(name) for name in names if name is not None]
        values = iter(self._get_pipelined(wanted) if wanted else [])
        return raw, [None if name is None else next(values) for name in names]

    def _evalsha(self, sha: str, script: str, key: str, args: list[str]) -> Any:
        """EVALSHA straight through :meth:`_command` (redis-py's ``Script`` adds a
        few layers per call); a server that lacks the script (restarted, failed over)
        is given it once and asked again."""
        try:
            return self._command("EVALSHA", sha, 1, key, *args)
        except redis.exceptions.NoScriptError:
            self._client.script_load(script)
            return self._command("EVALSHA", sha, 1, key, *args)

    @_unavailable_on_error
    def take(self, key: str) -> str | None:
        """GETDEL: a one-time value (authorization code) can be redeemed only once.

        GET followed by DEL would let two parallel redemptions both succeed.
        """
        return _text(self._client.getdel(self._key(key)))

    @_unavailable_on_error
    def put_new_then_get(
        self, key: str, value: str, *, ttl: float, read: Sequence[str]
    ) -> tuple[bool, list[str | None]]:
        """SET NX PX and the GETs in one pipeline on one connection, which one server
        runs in order. A Cluster pipeline may run the keys' nodes in any order, so
        there the reads wait for the write (two round trips, as before)."""
        if isinstance(self._client, RedisCluster):
            stored = bool(self._client.set(self._key(key), value, px=_ttl_ms(ttl), nx=True))
            return stored, self.get_many(*read)
        with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._key(key), value, px=_ttl_ms(ttl), nx=True)
            for name in read:
                pipe.get(self._key(name))
            stored, *values = pipe.execute()
        return bool(stored), [_text(v) for v in values]

    @_unavailable_on_error
    def delete_if(self, key: str, value: str) -> bool:
        """One Lua script on one key (so also on a Cluster): GET, compare, DEL."""
        return bool(self._client.eval(_DELETE_IF, 1, self._key(key), value))

    @_unavailable_on_error
    def delete(self, *keys: str) -> int:
        """DEL; returns how many existed (DEL with no keys is a Redis error)."""
        if not keys:
            return 0
        return int(self._client.delete(*(self._key(k) for k in keys)))

    @_unavailable_on_error
    def hit(self, key: str, *, ttl: float) -> int:
        """MULTI INCR + PEXPIRE NX: the window starts at the first hit and never slides.

        Without NX every failure would extend the lockout window; without MULTI a
        crash between the two commands could leave a counter that never expires.
        A non-integer value raises ValueError, as in the memory backend.
        """
        name = self._key(key)
        ms = _ttl_ms(ttl)
        with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.pexpire(name, ms, nx=True)
            try:
                count, _ = pipe.execute()
            except redis.ResponseError as exc:
                raise ValueError(f"cannot count hits on {key!r}: {exc}") from exc
        return int(count)

    @_unavailable_on_error
    def expire(self, key: str, *, ttl: float) -> bool:
        """PEXPIRE: a new deadline for a live key; False when it is absent."""
        return bool(self._client.pexpire(self._key(key), _ttl_ms(ttl)))

    @_unavailable_on_error
    def ttl(self, key: str) -> float | None:
        """PTTL in seconds; None when absent.

        A key without expiry (-1) cannot be made through this interface; if one was
        made by hand it reports ``math.inf`` rather than pretending it is absent.
        """
        ms = int(self._client.pttl(self._key(key)))
        if ms == -2:
            return None
        if ms == -1:
            return math.inf
        return ms / 1000

    @_unavailable_on_error
    def add_member(self, key: str, member: str, *, ttl: float) -> None:
        """SADD + PEXPIRE (only ever lengthened) in one MULTI/EXEC."""
        name = self._key(key)
        ms = _ttl_ms(ttl)
        with self._client.pipeline(transaction=True) as pipe:
            pipe.sadd(name, member)
            pipe.pexpire(name, ms, nx=True)
            pipe.pexpire(name, ms, gt=True)
            pipe.execute()

    @_unavailable_on_error
    def members(self, key: str) -> set[str]:
        return {str(m) for m in self._client.smembers(self._key(key))}

    @_unavailable_on_error
    def remove_member(self, key: str, member: str) -> bool:
        return bool(self._client.srem(self._key(key), member))
