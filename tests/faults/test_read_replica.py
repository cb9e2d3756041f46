"""A PostgreSQL streaming replica takes the read-only requests (issue 14, item 4).

The replica is real: ``pg_basebackup -R`` of the test's own primary, started as a
hot standby (tests/servers.py). A hot standby refuses every write, so UserInfo
succeeding on it shows its unit of work wrote nothing; stopping it shows UserInfo
really reads there while the token endpoint, on the primary, carries on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from idp.app import create_app
from idp.services import Services
from idp.settings import Settings
from idp.store.sql.database import Database
from idp.store.sql.models import Base

from ..conftest import Factory
from ..helpers import OIDCActions
from ..servers import OwnPostgres, OwnRedis, own_replica
from .conftest import build_on


@pytest.fixture(scope="module")
def replica(pg_server: OwnPostgres) -> Iterator[OwnPostgres]:
    with own_replica(pg_server) as server:
        yield server


@pytest.fixture
def replicated(
    settings: Settings, pg_server: OwnPostgres, replica: OwnPostgres, redis_server: OwnRedis
) -> Iterator[Services]:
    db = Database.from_url(pg_server.url, connect_timeout=2, replica_url=replica.url)
    with db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    overrides = {"database_url": pg_server.url, "database_replica_url": replica.url}
    services = build_on(settings.with_overrides(**overrides), db, redis_server)
    yield services
    services.outbox_worker.stop()
    db.dispose()


def replica_has(db: Database, sql: str, expected: object, *, within: float = 10.0) -> None:
    """Wait for the standby to replay what the primary committed."""
    assert db.replica is not None
    deadline = time.monotonic() + within
    while True:
        with db.replica.connect() as conn:
            if conn.execute(text(sql)).scalar() == expected:
                return
        assert time.monotonic() < deadline, f"the replica never showed {expected!r}"
        time.sleep(0.05)


def test_userinfo_reads_from_the_replica_and_fails_alone_when_it_stops(
    replicated: Services, replica: OwnPostgres
) -> None:
    client: FlaskClient = create_app(services=replicated).test_client()
    factory = Factory(replicated)
    factory.account()
    oidc = OIDCActions(client, factory)
    rp = factory.client(name="Portal")
    tokens = oidc.tokens(rp)
    replica_has(replicated.db, "SELECT count(*) FROM accounts", 1)

    # A write on the primary reaches UserInfo once the standby has replayed it.
    with replicated.db.session() as session:
        session.execute(text("UPDATE accounts SET email = 'alice.new@example.test'"))
    replica_has(replicated.db, "SELECT email FROM accounts", "alice.new@example.test")
    answer = oidc.userinfo(tokens["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.get_json()["email"] == "alice.new@example.test"
    assert client.get("/readyz").get_json()["checks"]["database_replica"] == "ok"

    replica.stop()
    try:
        down = oidc.userinfo(tokens["access_token"])
        assert down.status_code == 503 and down.headers["Retry-After"] == "5"
        # The primary still serves everything that writes.
        refreshed = oidc.refresh(rp, tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["failed"] == ["database_replica"]
    finally:
        replica.start()
    deadline = time.monotonic() + 10
    while oidc.userinfo(refreshed.get_json()["access_token"]).status_code != 200:
        assert time.monotonic() < deadline, "UserInfo did not come back with the replica"
        time.sleep(0.1)
    assert client.get("/readyz").status_code == 200


def test_without_a_replica_readers_use_the_primary_and_readyz_does_not_mention_one(
    pg_services: Services,
) -> None:
    assert pg_services.db.replica is None  # type: ignore[attr-defined]
    client = create_app(services=pg_services).test_client()
    assert "database_replica" not in client.get("/readyz").get_json()["checks"]


def test_a_sign_in_reads_its_account_on_the_primary_while_the_replica_is_down(
    replicated: Services, replica: OwnPostgres
) -> None:
    """The password check and the authorization endpoint's account check decide: they
    read the primary (a transaction; Database.primary_reader), never the replica's
    possibly stale copy, so a stopped replica stops no sign-in."""
    client: FlaskClient = create_app(services=replicated).test_client()
    factory = Factory(replicated)
    factory.account()
    oidc = OIDCActions(client, factory)
    rp = factory.client(name="Portal")
    replica.stop()
    try:
        assert oidc.code_for(oidc.request(rp))
        wrong = oidc.login("/login", password="not the password")
        assert wrong.status_code == 401, wrong.text
    finally:
        replica.start()
