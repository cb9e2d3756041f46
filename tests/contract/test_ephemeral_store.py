"""Contract for :class:`idp.store.interfaces.EphemeralStore`: one suite, every backend.

The same tests run against the in-process store, the SQLite file (the embedded
default) and a REAL Redis server (no fakes: the point is to pin down what Redis
actually does, and make the other backends match it). Redis comes from
``IDP_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``); when it is
unreachable the Redis cases skip, unless ``IDP_REQUIRE_REDIS=1`` turns that into a
failure (CI).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from uuid import uuid4

import pytest
import redis

from idp.store.memory import MemoryEphemeralStore
from idp.store.redis import RedisEphemeralStore, RedisUnavailableError
from idp.store.sqlite import SqliteEphemeralStore

from ..redis_topologies import own_redis_cluster, own_redis_sentinel
from ..servers import HAVE_REDIS

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SHORT = 0.2  # seconds: a TTL that expires within one test
PAST_SHORT = 0.35  # sleep long enough for SHORT to have expired on both backends
THREADS = 20

Store = MemoryEphemeralStore | RedisEphemeralStore | SqliteEphemeralStore
T = TypeVar("T")


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """One client for the session; skip (or fail under IDP_REQUIRE_REDIS=1) if down."""
    client = redis.Redis.from_url(
        REDIS_URL, decode_responses=True, socket_connect_timeout=2, socket_timeout=5
    )
    try:
        RedisEphemeralStore(client).ping()
    except RedisUnavailableError as exc:
        client.close()
        if os.environ.get("IDP_REQUIRE_REDIS") == "1":
            pytest.fail(f"{exc} (IDP_REQUIRE_REDIS=1, so this is a failure)", pytrace=False)
        pytest.skip(f"{exc}; set IDP_REQUIRE_REDIS=1 to fail instead of skipping")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A fresh key prefix per test; its keys are deleted afterwards."""
    prefix = f"test:{uuid4().hex}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A private three-node Redis Cluster (tests/redis_topologies.py), once per run."""
    if not HAVE_REDIS:
        pytest.skip("needs redis-server")
    with own_redis_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def redis_sentinel_url() -> Iterator[str]:
    """A private primary + replica under one Sentinel, once per run."""
    if not HAVE_REDIS:
        pytest.skip("needs redis-server")
    with own_redis_sentinel() as (setup, _):
        yield setup.url


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster", "redis-sentinel"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryEphemeralStore()
        return
    if request.param == "sqlite":
        sqlite_store = SqliteEphemeralStore(tmp_path / "ephemeral.sqlite3")
        yield sqlite_store
        sqlite_store.close()
        return
    if request.param in ("redis-cluster", "redis-sentinel"):
        # Through IDP_REDIS_URL's own parsing, as a deployment would configure it.
        url = request.getfixturevalue(request.param.replace("-", "_") + "_url")
        topology_store = RedisEphemeralStore.from_url(url, prefix=f"test:{uuid4().hex}:")
        yield topology_store
        topology_store.close()
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisEphemeralStore(client, prefix=request.getfixturevalue("redis_prefix"))


def race(fn: Callable[[], T], threads: int = THREADS) -> list[T]:
    """Run ``fn`` in ``threads`` threads released together by a barrier."""
    barrier = threading.Barrier(threads, timeout=10)

    def run() -> T:
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(run) for _ in range(threads)]
        return [f.result() for f in futures]


# -- put / get -----------------------------------------------------------------


def test_ping_succeeds(store: Store) -> None:
    assert store.ping() is None


@pytest.mark.parametrize("value", ["plain", "", "Grüße 🔐 日本語 ünïcödé", '{"a": [1, 2]}'])
def test_put_get_round_trip(store: Store, value: str) -> None:
    store.put("kéy:🔑", value, ttl=60)
    assert store.get("kéy:🔑") == value


def test_get_absent_is_none(store: Store) -> None:
    assert store.get("absent") is None


def test_put_replaces_value_and_ttl(store: Store) -> None:
    store.put("k", "first", ttl=60)
    store.put("k", "second", ttl=SHORT)
    assert store.get("k") == "second"
    remaining = store.ttl("k")
    assert remaining is not None and 0 < remaining <= SHORT
    store.put("k", "third", ttl=60)
    remaining = store.ttl("k")
    assert remaining is not None and 59 < remaining <= 60


def test_value_expires(store: Store) -> None:
    store.put("k", "v", ttl=SHORT)
    assert store.get("k") == "v"
    time.sleep(PAST_SHORT)
    assert store.get("k") is None
    assert store.ttl("k") is None


def test_sub_millisecond_ttl_is_rounded_up_to_one_millisecond(store: Store) -> None:
    store.put("k", "v", ttl=0.0001)
    time.sleep(0.01)
    assert store.get("k") is None


@pytest.mark.parametrize("bad", [0, -1, -0.5, math.nan, math.inf])
def test_non_positive_ttl_raises(store: Store, bad: float) -> None:
    with pytest.raises(ValueError):
        store.put("k", "v", ttl=bad)
    with pytest.raises(ValueError):
        store.put_new("k", "v", ttl=bad)
    with pytest.raises(ValueError):
        store.hit("k", ttl=bad)
    assert store.get("k") is None


# -- put_new -------------------------------------------------------------------


def test_put_new_stores_once_and_does_not_overwrite(store: Store) -> None:
    assert store.put_new("k", "first", ttl=10) is True
    assert store.put_new("k", "second", ttl=60) is False
    assert store.get("k") == "first"
    remaining = store.ttl("k")
    assert remaining is not None and remaining <= 10


def test_put_new_succeeds_again_after_expiry(store: Store) -> None:
    assert store.put_new("k", "old", ttl=SHORT) is True
    time.sleep(PAST_SHORT)
    assert store.put_new("k", "new", ttl=60) is True
    assert store.get("k") == "new"


def test_get_many_reads_each_key_in_order(store: Store) -> None:
    store.put("a", "1", ttl=60)
    store.put("c", "3", ttl=60)
    store.put("gone", "x", ttl=SHORT)
    time.sleep(PAST_SHORT)
    assert store.get_many("c", "b", "a", "gone", "a") == ["3", None, "1", None, "1"]
    assert store.get_many() == []


LINKS = [("grant", "revoked:"), ("account", "account:"), (None, "version"), ("missing", "x:")]


def test_get_linked_reads_the_value_and_the_keys_it_names(store: Store) -> None:
    store.put("token", '{"grant": "g1", "account": 42, "other": true}', ttl=60)
    store.put("revoked:g1", "1", ttl=60)
    store.put("version", "v7", ttl=60)
    store.put("account:42", "stamp", ttl=60)
    value, linked = store.get_linked("token", LINKS)
    assert value == '{"grant": "g1", "account": 42, "other": true}'
    assert linked == ["1", "stamp", "v7", None]


def test_get_linked_names_keys_only_from_strings_and_integers(store: Store) -> None:
    store.put("account:True", "no", ttl=60)
    store.put("account:1", "no", ttl=60)
    store.put("account:None", "no", ttl=60)
    store.put("revoked:[]", "no", ttl=60)
    for document in ('{"account": true, "grant": []}', '{"account": null}', "[1, 2]", "{bad"):
        store.put("token", document, ttl=60)
        assert store.get_linked("token", LINKS) == (document, [None, None, None, None])


def test_get_linked_of_an_absent_or_expired_key_is_none(store: Store) -> None:
    store.put("version", "v7", ttl=60)
    assert store.get_linked("token", LINKS) == (None, [])
    store.put("token", '{"grant": "g1"}', ttl=SHORT)
    time.sleep(PAST_SHORT)
    assert store.get_linked("token", LINKS) == (None, [])
    store.put("token", '{"grant": "g1"}', ttl=60)
    store.put("revoked:g1", "1", ttl=SHORT)
    time.sleep(PAST_SHORT)
    assert store.get_linked("token", LINKS) == ('{"grant": "g1"}', [None, None, "v7", None])


# -- take / delete -------------------------------------------------------------


def test_take_returns_once(store: Store) -> None:
    store.put("code", "payload", ttl=60)
    assert store.take("code") == "payload"
    assert store.take("code") is None
    assert store.get("code") is None


def test_take_absent_and_expired_is_none(store: Store) -> None:
    assert store.take("absent") is None
    store.put("code", "payload", ttl=SHORT)
    time.sleep(PAST_SHORT)
    assert store.take("code") is None


def test_delete_counts_existing_keys(store: Store) -> None:
    assert store.delete() == 0
    store.put("a", "1", ttl=60)
    store.put("b", "2", ttl=60)
    assert store.delete("a", "b", "missing") == 2
    assert store.get("a") is None and store.get("b") is None
    assert store.delete("a") == 0
    store.put("a", "1", ttl=60)
    assert store.delete("a", "a") == 1


# -- hit -----------------------------------------------------------------------


def test_hit_counts_up(store: Store) -> None:
    assert [store.hit("fails", ttl=60) for _ in range(3)] == [1, 2, 3]
    assert store.get("fails") == "3"


def test_hit_does_not_extend_ttl(store: Store) -> None:
    store.hit("fails", ttl=10)
    first = store.ttl("fails")
    assert first is not None and 9 < first <= 10
    store.hit("fails", ttl=100)
    store.hit("fails", ttl=100)
    later = store.ttl("fails")
    assert later is not None and later <= first


def test_hit_counter_expires_and_restarts(store: Store) -> None:
    assert store.hit("fails", ttl=SHORT) == 1
    assert store.hit("fails", ttl=SHORT) == 2
    time.sleep(PAST_SHORT)
    assert store.hit("fails", ttl=SHORT) == 1


def test_hit_on_put_value_keeps_its_ttl(store: Store) -> None:
    store.put("n", "41", ttl=10)
    assert store.hit("n", ttl=100) == 42
    remaining = store.ttl("n")
    assert remaining is not None and remaining <= 10


@pytest.mark.parametrize("value", ["abc", "", "1.5", " 5", "+5", "007", "-0", str(2**63)])
def test_hit_on_non_integer_raises_value_error(store: Store, value: str) -> None:
    store.put("n", value, ttl=60)
    with pytest.raises(ValueError):
        store.hit("n", ttl=60)
    assert store.get("n") == value


def test_hit_overflow_raises_value_error(store: Store) -> None:
    store.put("n", str(2**63 - 1), ttl=60)
    with pytest.raises(ValueError):
        store.hit("n", ttl=60)


# -- ttl -----------------------------------------------------------------------


def test_expire_moves_deadline_and_keeps_value(store: Store) -> None:
    assert store.hit("counter", ttl=0.2) == 1
    assert store.expire("counter", ttl=30) is True
    time.sleep(0.35)
    assert store.hit("counter", ttl=0.2) == 2
    remaining = store.ttl("counter")
    assert remaining is not None and 29 < remaining <= 30


def test_expire_absent_is_false_and_creates_nothing(store: Store) -> None:
    assert store.expire("nothing", ttl=30) is False
    assert store.get("nothing") is None


def test_set_members_add_list_remove(store: Store) -> None:
    assert store.members("idx") == set()
    store.add_member("idx", "a", ttl=30)
    store.add_member("idx", "b", ttl=30)
    store.add_member("idx", "a", ttl=30)
    assert store.members("idx") == {"a", "b"}
    assert store.remove_member("idx", "a") is True
    assert store.remove_member("idx", "a") is False
    assert store.members("idx") == {"b"}


def test_set_expires_and_ttl_only_lengthens(store: Store) -> None:
    store.add_member("idx", "a", ttl=0.2)
    store.add_member("idx", "b", ttl=0.1)  # a shorter TTL must not shorten the set's life
    time.sleep(0.15)
    assert store.members("idx") == {"a", "b"}
    time.sleep(0.2)
    assert store.members("idx") == set()


def test_ttl_absent_is_none(store: Store) -> None:
    assert store.ttl("absent") is None


# -- concurrency ---------------------------------------------------------------


def test_concurrent_hits_are_all_counted(store: Store) -> None:
    def ten_hits() -> list[int]:
        return [store.hit("fails", ttl=60) for _ in range(10)]

    counts = [c for batch in race(ten_hits) for c in batch]
    assert store.get("fails") == str(THREADS * 10)
    assert sorted(counts) == list(range(1, THREADS * 10 + 1))


def test_concurrent_take_has_one_winner(store: Store) -> None:
    store.put("code", "payload", ttl=60)
    results = race(lambda: store.take("code"))
    assert results.count("payload") == 1
    assert results.count(None) == THREADS - 1


def test_concurrent_put_new_has_one_winner(store: Store) -> None:
    results = race(lambda: store.put_new("lock", threading.current_thread().name, ttl=60))
    assert results.count(True) == 1
    assert results.count(False) == THREADS - 1


def test_put_new_then_get_stores_once_and_reads_after_the_write(store: Store) -> None:
    store.put("marker", "on", ttl=60)
    stored, values = store.put_new_then_get("slot", "a", ttl=60, read=["marker", "slot", "none"])
    assert stored is True
    assert values == ["on", "a", None]  # the read of "slot" sees this call's write
    stored, values = store.put_new_then_get("slot", "b", ttl=60, read=["slot"])
    assert stored is False
    assert values == ["a"]
    assert store.ttl("slot") is not None


def test_concurrent_put_new_then_get_has_one_winner(store: Store) -> None:
    results = race(lambda: store.put_new_then_get("slot", "x", ttl=60, read=[])[0])
    assert results.count(True) == 1


def test_delete_if_deletes_only_the_value_it_names(store: Store) -> None:
    store.put("slot", "mine", ttl=60)
    assert store.delete_if("slot", "theirs") is False
    assert store.get("slot") == "mine"
    assert store.delete_if("slot", "mine") is True
    assert store.get("slot") is None
    assert store.delete_if("slot", "mine") is False  # gone: nothing to delete


def test_concurrent_delete_if_has_one_winner(store: Store) -> None:
    store.put("slot", "token", ttl=60)
    results = race(lambda: store.delete_if("slot", "token"))
    assert results.count(True) == 1


# -- memory backend only -------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_memory_expiry_follows_injected_clock() -> None:
    clock = FakeClock()
    store = MemoryEphemeralStore(clock=clock)
    store.put("k", "v", ttl=10)
    assert store.put_new("once", "v", ttl=10) is True
    assert store.hit("fails", ttl=10) == 1
    clock.advance(9.99)
    assert store.get("k") == "v"
    assert store.ttl("k") == pytest.approx(0.01, abs=0.002)
    assert store.put_new("once", "w", ttl=10) is False
    assert store.hit("fails", ttl=10) == 2
    clock.advance(0.02)
    assert store.get("k") is None
    assert store.ttl("k") is None
    assert store.take("k") is None
    assert store.put_new("once", "w", ttl=10) is True
    assert store.hit("fails", ttl=10) == 1


def test_memory_sweep_drops_expired_keys_nobody_reads() -> None:
    clock = FakeClock()
    store = MemoryEphemeralStore(clock=clock)
    every = store._SWEEP_EVERY
    for i in range(every):
        store.put(f"old:{i}", "v", ttl=1)
    clock.advance(2)
    for i in range(every):
        store.put(f"new:{i}", "v", ttl=60)
    assert len(store._entries) == every
    assert all(key.startswith("new:") for key in store._entries)


# -- Redis backend only --------------------------------------------------------


def test_redis_keys_carry_the_prefix(redis_client: redis.Redis, redis_prefix: str) -> None:
    store = RedisEphemeralStore(redis_client, prefix=redis_prefix)
    store.put("k", "v", ttl=60)
    assert redis_client.get(f"{redis_prefix}k") == "v"
    assert redis_client.get("k") is None


def test_redis_from_url_decodes_to_str(redis_client: redis.Redis, redis_prefix: str) -> None:
    store = RedisEphemeralStore.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        store.ping()
        store.put("k", "Grüße", ttl=60)
        assert store.get("k") == "Grüße"
        assert store.take("k") == "Grüße"
    finally:
        store.close()


def test_redis_ping_names_url_without_password() -> None:
    store = RedisEphemeralStore.from_url("redis://app:s3cret@127.0.0.1:1/0")
    try:
        with pytest.raises(ConnectionError, match=r"redis://app:\*\*\*@127\.0\.0\.1:1/0") as info:
            store.ping()
        assert "s3cret" not in str(info.value)
    finally:
        store.close()


# -- SQLite backend only -------------------------------------------------------

PROCESSES = 4
HITS_PER_PROCESS = 25


def _hits_from_another_process(path: str) -> list[int]:
    """Runs in a child process: its own connection to the same file."""
    store = SqliteEphemeralStore(path)
    try:
        return [store.hit("fails", ttl=60) for _ in range(HITS_PER_PROCESS)]
    finally:
        store.close()


def test_sqlite_hits_from_several_processes_are_all_counted(tmp_path: Path) -> None:
    """What the CLI and each server worker see is one counter, counted exactly."""
    path = str(tmp_path / "ephemeral.sqlite3")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=PROCESSES, mp_context=context) as pool:
        batches = list(pool.map(_hits_from_another_process, [path] * PROCESSES))
    counts = sorted(c for batch in batches for c in batch)
    assert counts == list(range(1, PROCESSES * HITS_PER_PROCESS + 1))
    store = SqliteEphemeralStore(path)
    try:
        assert store.get("fails") == str(PROCESSES * HITS_PER_PROCESS)
    finally:
        store.close()


def test_sqlite_fresh_file_opened_by_many_threads_at_once_never_says_locked(
    tmp_path: Path,
) -> None:
    """A fresh store's first opens switch the file to WAL, which answers "database is
    locked" at once to the threads that lose: they must wait as for any lock (CI saw
    a race test fail on it; a server's workers open the file together at start)."""
    for n in range(60):
        store = SqliteEphemeralStore(tmp_path / f"fresh-{n}.sqlite3")
        results = race(lambda store=store: store.put_new("k", "v", ttl=60))
        assert results.count(True) == 1
        store.close()


def test_sqlite_two_handles_on_one_file_share_state(tmp_path: Path) -> None:
    server = SqliteEphemeralStore(tmp_path / "e.sqlite3")
    cli = SqliteEphemeralStore(tmp_path / "e.sqlite3")
    try:
        server.hit("lock:jdoe", ttl=60)
        server.add_member("idx", "a", ttl=60)
        assert cli.delete("lock:jdoe") == 1
        assert cli.remove_member("idx", "a") is True
        assert server.get("lock:jdoe") is None
        assert server.members("idx") == set()
    finally:
        server.close()
        cli.close()


def test_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteEphemeralStore(tmp_path / "sub" / "e.sqlite3")
    try:
        store.ping()
        path = tmp_path / "sub" / "e.sqlite3"
        assert path.stat().st_mode & 0o077 == 0
        import sqlite3

        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_sqlite_expiry_follows_injected_clock_and_sweep_drops_old_rows(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteEphemeralStore(tmp_path / "e.sqlite3", clock=clock)
    try:
        store.put("k", "v", ttl=10)
        assert store.hit("fails", ttl=10) == 1
        clock.advance(9.99)
        assert store.get("k") == "v"
        assert store.ttl("k") == pytest.approx(0.01, abs=0.002)
        clock.advance(0.02)
        assert store.get("k") is None and store.hit("fails", ttl=10) == 1
        for i in range(store._SWEEP_EVERY):
            store.put(f"old:{i}", "v", ttl=1)
        clock.advance(2)
        for i in range(store._SWEEP_EVERY):
            store.put(f"new:{i}", "v", ttl=60)
        import sqlite3

        with sqlite3.connect(store.path) as conn:
            keys = [k for (k,) in conn.execute("SELECT key FROM entries")]
        assert not any(k.startswith("old:") for k in keys)
    finally:
        store.close()


def test_sqlite_unwritable_path_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = SqliteEphemeralStore(blocker / "e.sqlite3")
    with pytest.raises(ConnectionError, match="not-a-dir"):
        store.ping()


def test_sqlite_write_lock_held_too_long_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    """Another process holding the write lock past the busy timeout: a ConnectionError."""
    import sqlite3

    path = tmp_path / "e.sqlite3"
    store = SqliteEphemeralStore(path, busy_timeout=0.05)
    store.put("k", "v", ttl=60)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ConnectionError, match="e.sqlite3"):
            store.hit("fails", ttl=60)
        assert store.get("k") == "v"  # readers are not blocked (WAL)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.hit("fails", ttl=60) == 1
    store.close()


def test_a_redis_client_that_returns_bytes_is_refused() -> None:
    # Its get/take would hand callers b"..." that never equals the str they stored
    # (mypy --strict found the store declared str for what such a client returns).
    # Building a client opens no connection, so this needs no server.
    raw = redis.Redis(host="127.0.0.1", port=6379)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisEphemeralStore(raw)
    RedisEphemeralStore(redis.Redis(host="127.0.0.1", port=6379, decode_responses=True))
