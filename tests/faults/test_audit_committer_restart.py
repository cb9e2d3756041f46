"""The audit group committer across a PostgreSQL restart (issue 12 follow-up).

Before: the committer kept its connection between batches, so the first batch after
a restart went out on a dead connection and every request in it was answered 503,
though the server was back. Now a lost connection is replaced, the batch is looked
for (it may have committed with only the reply lost) and written once if it is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from idp.app import create_app
from idp.audit.chain import checkpoint_key
from idp.services import Services
from idp.settings import Settings
from idp.store.sql import models

from ..conftest import Factory
from ..helpers import OIDCActions, basic
from ..servers import CuttingRelay, OwnPostgres, OwnRedis
from .conftest import services_on


@pytest.fixture
def held_services(
    settings: Settings, pg_server: OwnPostgres, redis_server: OwnRedis
) -> Iterator[Services]:
    yield from services_on(settings, pg_server.url, redis_server, audit_idle_seconds=60)


def _client_credentials(oidc: OIDCActions, rp: Any) -> TestResponse:
    secret = oidc.factory.secrets[rp.client_id]
    return oidc.client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(rp.client_id, secret)
    )


def _issued(services: Services) -> int:
    with services.db.session() as session:
        query = select(func.count()).where(models.AuditEvent.type == "token_issued")
        return int(session.scalar(query) or 0)


def test_the_first_audited_request_after_a_postgres_restart_succeeds(
    held_services: Services, pg_server: OwnPostgres
) -> None:
    oidc = OIDCActions(create_app(services=held_services).test_client(), Factory(held_services))
    oidc.factory.account()
    rp = oidc.factory.client()
    first = _client_credentials(oidc, rp)
    assert first.status_code == 200, first.text
    assert _issued(held_services) == 1

    pg_server.stop()
    pg_server.start()

    second = _client_credentials(oidc, rp)
    assert second.status_code == 200, second.text
    # Written once, and the chain still holds.
    assert _issued(held_services) == 2
    with held_services.db.transaction() as uow:
        assert uow.audit.verify(key=checkpoint_key(held_services.settings.secret_key)) is None


@pytest.mark.parametrize("lose", ["reply", "request"])
def test_an_audit_batch_whose_connection_is_cut_is_written_exactly_once(
    relayed_services: Services, relay: CuttingRelay, lose: str
) -> None:
    """``reply``: the batch committed and only the answer was lost, so it must not be
    written again; ``request``: it never ran, so it must be written now. Either way
    the request gets its token and the trail holds its event once."""
    oidc = OIDCActions(
        create_app(services=relayed_services).test_client(), Factory(relayed_services)
    )
    oidc.factory.account()
    rp = oidc.factory.client()
    assert _client_credentials(oidc, rp).status_code == 200
    relay.arm(b'"token_issued"', lose)

    response = _client_credentials(oidc, rp)
    assert relay.cuts == 1  # the committer's statement was the one cut
    assert response.status_code == 200, response.text
    assert _issued(relayed_services) == 2
    with relayed_services.db.transaction() as uow:
        assert uow.audit.verify(key=checkpoint_key(relayed_services.settings.secret_key)) is None
