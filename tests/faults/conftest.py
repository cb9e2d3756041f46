"""Fault fixtures: the provider on a Redis (and, where asked, a PostgreSQL) of the
test's own, which the test kills, freezes or restarts (tests/servers.py).

The durable store is the suite's configured one (SQLite, or PostgreSQL in CI's
second run) unless a test brings its own cluster; the ephemeral store is always
the private Redis, with a short timeout so a frozen server costs half a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.app import build_services, create_app
from idp.services import Services
from idp.settings import Settings
from idp.store.redis import RedisEphemeralStore
from idp.store.sql.database import PING_AFTER_IDLE_SECONDS, Database, make_engine, upgrade
from idp.store.sql.models import Base

from ..conftest import Factory
from ..helpers import OIDCActions
from ..servers import (
    HAVE_POSTGRES,
    HAVE_REDIS,
    CuttingRelay,
    OwnPostgres,
    OwnRedis,
    own_postgres,
    own_redis,
)

# Short enough to keep the tests quick; the breaker stays open this long after a fault.
REDIS_TIMEOUT = 0.5


@pytest.fixture
def redis_server() -> Iterator[OwnRedis]:
    if not HAVE_REDIS:
        pytest.skip("needs redis-server")
    with own_redis() as server:
        yield server


def wait_for_recovery() -> None:
    """Let the store's breaker close (it fails fast for one timeout after a fault)."""
    time.sleep(REDIS_TIMEOUT + 0.1)


def build_on(settings: Settings, db: Database, redis_server: OwnRedis) -> Services:
    url = redis_server.url()
    settings = settings.with_overrides(redis_url=url, redis_timeout=REDIS_TIMEOUT)
    ephemeral = RedisEphemeralStore.from_url(url, timeout=REDIS_TIMEOUT)
    return build_services(settings, db=db, ephemeral=ephemeral, background_delivery=False)


@pytest.fixture
def services(
    settings: Settings, clean_database: Database, redis_server: OwnRedis
) -> Iterator[Services]:
    services = build_on(settings, clean_database, redis_server)
    yield services
    services.outbox_worker.stop()


@pytest.fixture
def app(services: Services) -> Flask:
    return create_app(services=services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def factory(services: Services) -> Factory:
    return Factory(services)


@pytest.fixture
def oidc(client: FlaskClient, factory: Factory) -> OIDCActions:
    return OIDCActions(client, factory)


@pytest.fixture(scope="module")
def pg_server() -> Iterator[OwnPostgres]:
    """One private cluster per module (initdb costs seconds), migrated once."""
    if not HAVE_POSTGRES:
        pytest.skip("needs PostgreSQL's initdb and pg_ctl to start a private cluster")
    with own_postgres() as server:
        upgrade(server.url)
        yield server


def services_on(
    settings: Settings,
    url: str,
    redis_server: OwnRedis,
    *,
    audit_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
) -> Iterator[Services]:
    """The provider on the private PostgreSQL at ``url`` (emptied first) and the
    private Redis. ``audit_idle_seconds``: how long the audit committer keeps its
    connection between batches (a minute holds it across a restart, as steady load
    does, where batches follow each other)."""
    db = Database(make_engine(url, connect_timeout=2), audit_idle_seconds=audit_idle_seconds)
    with db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    services = build_on(settings.with_overrides(database_url=url), db, redis_server)
    yield services
    services.outbox_worker.stop()
    db.dispose()


@pytest.fixture
def pg_services(
    settings: Settings, pg_server: OwnPostgres, redis_server: OwnRedis
) -> Iterator[Services]:
    """The provider on the private PostgreSQL (emptied first) and the private Redis."""
    yield from services_on(settings, pg_server.url, redis_server)


@pytest.fixture
def relay(pg_server: OwnPostgres) -> Iterator[CuttingRelay]:
    """A relay in front of the private PostgreSQL that can lose one exchange."""
    relay = CuttingRelay(pg_server.port)
    yield relay
    relay.close()


@pytest.fixture
def relayed_services(
    settings: Settings, pg_server: OwnPostgres, redis_server: OwnRedis, relay: CuttingRelay
) -> Iterator[Services]:
    """The provider reaching the private PostgreSQL through ``relay``."""
    url = pg_server.url.replace(f":{pg_server.port}/", f":{relay.port}/")
    yield from services_on(settings, url, redis_server)


@pytest.fixture
def pg_oidc(pg_services: Services) -> OIDCActions:
    return OIDCActions(create_app(services=pg_services).test_client(), Factory(pg_services))
