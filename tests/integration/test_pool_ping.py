"""Pooled PostgreSQL connections are pinged only after sitting idle (issue 12).

A connection that died while idle (the server restarted, an administrator ended
the backend) must be replaced without failing a request; one used a moment ago is
trusted without the ping's round trip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select, text

from idp.errors import UnavailableError
from idp.store.sql import database as database_module
from idp.store.sql.database import Database

from ..conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs IDP_TEST_DATABASE_URL (PostgreSQL)")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    fresh = Database.from_url(database_url)
    yield fresh
    fresh.dispose()


def _backend_pid(db: Database) -> int:
    with db.reader() as uow:
        return int(uow.session.execute(select(func.pg_backend_pid())).scalar_one())


def _terminate(database_url: str, pid: int) -> None:
    admin = create_engine(database_url)
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    finally:
        admin.dispose()


def test_a_connection_that_died_while_idle_is_replaced(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    first = _backend_pid(db)
    _terminate(database_url, first)
    # The pooled connection is dead; the ping finds out and the pool connects afresh.
    second = _backend_pid(db)
    assert second != first


def test_a_connection_used_a_moment_ago_is_not_pinged(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = _backend_pid(db)
    _terminate(database_url, first)
    # Trusted without a ping: the dead connection fails this request with a 503's error...
    with pytest.raises(UnavailableError):
        _backend_pid(db)
    # ...and the pool, having dropped it, serves the next one.
    assert _backend_pid(db) != first
