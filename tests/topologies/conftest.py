"""The provider on a Redis Cluster and on a Sentinel-watched primary (issue 14, item 4).

Private servers (tests/redis_topologies.py), started once per module; the provider
is configured the way a deployment is, through ``IDP_REDIS_URL``'s
``redis+cluster://`` and ``redis+sentinel://`` forms.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.app import build_services, create_app
from idp.services import Services
from idp.settings import Settings
from idp.store.redis import RedisEphemeralStore
from idp.store.sql.database import Database

from ..conftest import Factory
from ..helpers import OIDCActions
from ..redis_topologies import SentinelSetup, own_redis_cluster, own_redis_sentinel
from ..servers import HAVE_REDIS

TIMEOUT = 1.0


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    if not HAVE_REDIS:
        pytest.skip("needs redis-server")
    with own_redis_cluster() as url:
        yield url


@pytest.fixture(scope="module")
def sentinel() -> Iterator[tuple[SentinelSetup, int]]:
    if not HAVE_REDIS:
        pytest.skip("needs redis-server")
    with own_redis_sentinel() as setup:
        yield setup


@pytest.fixture(params=["cluster", "sentinel"])
def redis_url(request: pytest.FixtureRequest) -> str:
    if request.param == "cluster":
        return str(request.getfixturevalue("cluster_url"))
    setup, _ = request.getfixturevalue("sentinel")
    return setup.url


@pytest.fixture
def services(settings: Settings, clean_database: Database, redis_url: str) -> Iterator[Services]:
    settings = settings.with_overrides(redis_url=redis_url, redis_timeout=TIMEOUT)
    ephemeral = RedisEphemeralStore.from_url(redis_url, timeout=TIMEOUT, prefix="idp-topology:")
    services = build_services(
        settings, db=clean_database, ephemeral=ephemeral, background_delivery=False
    )
    yield services
    services.outbox_worker.stop()
    ephemeral.close()


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
