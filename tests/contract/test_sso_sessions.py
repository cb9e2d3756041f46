"""SSO sessions over every ephemeral backend: start, resume, index, end, end everywhere."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from idp.policies.session import SessionRules
from idp.store.interfaces import EphemeralStore
from idp.store.memory import MemoryEphemeralStore
from idp.store.redis import RedisEphemeralStore
from idp.store.sessions import SSOSessionStore
from idp.store.sqlite import SqliteEphemeralStore

RULES = SessionRules(idle_timeout=1800, absolute_timeout=43200)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def ephemeral(
    request: pytest.FixtureRequest, tmp_path: Path, redis_client: redis.Redis | None
) -> Iterator[EphemeralStore]:
    """Overrides the suite's store: here every backend runs, whatever the suite's is."""
    if request.param == "memory":
        yield MemoryEphemeralStore()
    elif request.param == "sqlite":
        store = SqliteEphemeralStore(tmp_path / "ephemeral.sqlite3")
        yield store
        store.close()
    else:
        if redis_client is None:
            pytest.skip("IDP_TEST_REDIS_URL is unset: the PostgreSQL + Redis run covers Redis")
        prefix = f"test:{uuid.uuid4().hex}:"
        yield RedisEphemeralStore(redis_client, prefix=prefix)
        keys = list(redis_client.scan_iter(match=prefix + "*"))
        if keys:
            redis_client.delete(*keys)


def test_start_resume_end(ephemeral: EphemeralStore) -> None:
    sessions = SSOSessionStore(ephemeral, RULES)
    cookie, started = sessions.start(account_id=1, subject="sub-1", now=1000.0)
    assert sessions.resume(cookie, now=1001.0) == started
    assert sessions.resume("forged-cookie", now=1001.0) is None
    sessions.end(cookie)
    assert sessions.resume(cookie, now=1002.0) is None


def test_idle_and_absolute_timeouts(ephemeral: EphemeralStore) -> None:
    sessions = SSOSessionStore(ephemeral, RULES)
    cookie, _ = sessions.start(account_id=1, subject="sub-1", now=1000.0)
    assert sessions.resume(cookie, now=1000.0 + 1800) is None  # idle
    cookie, _ = sessions.start(account_id=1, subject="sub-1", now=1000.0)
    t = 1000.0
    while t + 1700 < 1000.0 + 43200:  # keep it busy: the idle timer never fires
        t += 1700
        assert sessions.resume(cookie, now=t) is not None
    assert sessions.resume(cookie, now=1000.0 + 43200) is None  # absolute


def test_list_and_end_one_or_all(ephemeral: EphemeralStore) -> None:
    sessions = SSOSessionStore(ephemeral, RULES)
    first, a = sessions.start(account_id=1, subject="sub-1", now=1000.0, ip="198.51.100.1")
    second, b = sessions.start(account_id=1, subject="sub-1", now=1010.0)
    other, _ = sessions.start(account_id=2, subject="sub-2", now=1010.0)
    assert [s.key for s in sessions.list_for("sub-1", now=1020.0)] == [b.key, a.key]
    assert sessions.end_by_key("sub-1", a.key) is True
    assert sessions.end_by_key("sub-2", b.key) is False  # not that account's session
    assert sessions.resume(first, now=1030.0) is None
    assert sessions.resume(second, now=1030.0) is not None
    sessions.end_all_for("sub-1", now=1040.0)
    assert sessions.resume(second, now=1041.0) is None
    assert sessions.list_for("sub-1", now=1041.0) == []
    assert sessions.resume(other, now=1041.0) is not None
    # A session started after "end everywhere" is fine.
    fresh, _ = sessions.start(account_id=1, subject="sub-1", now=1050.0)
    assert sessions.resume(fresh, now=1051.0) is not None
