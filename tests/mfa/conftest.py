"""Second-factor methods over the configured backends (SQLite + in-process, or PG + Redis)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from idp.flows.methods.base import AccountFacts
from idp.store.interfaces import EphemeralStore
from idp.store.memory import MemoryEphemeralStore
from idp.store.redis import RedisEphemeralStore
from idp.store.secret_box import SecretBox
from idp.store.sql.database import Database

from ..conftest import REDIS_URL

# Fifteen seconds into a 30-second step, so ±1 step is never a matter of rounding.
NOW = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)
SECRET_KEY = "test-secret-key-" + "x" * 32


def new_account(db: Database, username: str) -> int:
    with db.transaction() as uow:
        return uow.accounts.add(username=username, password_hash="x", email=None, now=NOW).id


def facts(db: Database, account_id: int) -> AccountFacts:
    with db.transaction() as uow:
        return AccountFacts(account_id, uow.credentials.kinds(account_id))


@pytest.fixture
def db(clean_database: Database) -> Database:
    return clean_database


@pytest.fixture
def alice(db: Database) -> int:
    return new_account(db, "alice")


@pytest.fixture
def bob(db: Database) -> int:
    return new_account(db, "bob")


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_secret_key(SECRET_KEY)


@pytest.fixture
def two_processes(
    redis_client: redis.Redis | None,
) -> Iterator[tuple[EphemeralStore, EphemeralStore]]:
    """Two provider processes' views of the same ephemeral state.

    With Redis: two connections on one fresh key prefix, as two processes of one
    deployment have. In-process: one store, which is all a single process has.
    """
    if redis_client is None:
        store = MemoryEphemeralStore()
        yield store, store
        return
    assert REDIS_URL
    prefix = f"test:{uuid.uuid4().hex}:"
    clients = [redis.Redis.from_url(REDIS_URL, decode_responses=True) for _ in range(2)]
    yield (
        RedisEphemeralStore(clients[0], prefix=prefix),
        RedisEphemeralStore(clients[1], prefix=prefix),
    )
    keys = list(redis_client.scan_iter(match=prefix + "*", count=500))
    if keys:
        redis_client.delete(*keys)
    for client in clients:
        client.close()
