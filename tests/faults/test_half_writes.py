"""A request that fails commits nothing (issue 8, item 1; invariants 8 and 10).

The incident: Redis died during refresh_token requests; the rotation was committed
but the client got a 500, and its retry then looked like reuse and revoked the
whole family, with no audit event. Here a real Redis of the test's own is killed
between the SQL writes of a token request and its commit (the access token is
written to Redis after the refresh token was claimed in SQL).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.services import Services
from idp.store.sql import models

from ..conftest import Factory
from ..helpers import OIDCActions, audit_types, row_counts
from ..servers import OwnRedis
from .conftest import wait_for_recovery


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client()


def _refresh_rows(services: Services) -> list[tuple[object, object]]:
    with services.db.session() as session:
        rows = session.execute(
            select(models.RefreshToken.rotated_at, models.RefreshToken.revoked_at)
        ).all()
    return [tuple(row) for row in rows]


def test_a_refresh_that_fails_on_redis_commits_nothing_and_its_retry_succeeds(
    oidc: OIDCActions, rp, services: Services, redis_server: OwnRedis
) -> None:
    first = oidc.tokens(rp)
    before_rows, before_counts = _refresh_rows(services), row_counts(services)

    redis_server.kill()
    failed = oidc.refresh(rp, first["refresh_token"])
    assert failed.status_code >= 500
    # Nothing of the failed request survives: not the rotation, not a new token.
    assert _refresh_rows(services) == before_rows
    assert row_counts(services) == before_counts

    redis_server.start()
    wait_for_recovery()
    # The client's retry with the same token is an ordinary refresh, not "reuse".
    retried = oidc.refresh(rp, first["refresh_token"])
    assert retried.status_code == 200, retried.text
    assert "grant_revoked" not in audit_types(services)
    again = oidc.refresh(rp, retried.get_json()["refresh_token"])
    assert again.status_code == 200, again.text


def test_a_code_exchange_that_fails_on_redis_leaves_no_refresh_token(
    oidc: OIDCActions, rp, services: Services, redis_server: OwnRedis
) -> None:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    before = row_counts(services)
    redis_server.kill()
    assert oidc.exchange(rp, req, code).status_code >= 500
    assert row_counts(services) == before


def test_reuse_detection_still_commits_its_revocation_and_audit(
    oidc: OIDCActions, rp, services: Services
) -> None:
    """The rule is "commit what the flow chose": a deliberate 400 keeps its writes."""
    first = oidc.tokens(rp)
    second = oidc.refresh(rp, first["refresh_token"]).get_json()
    reuse = oidc.refresh(rp, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    assert "grant_revoked" in audit_types(services)
    assert oidc.refresh(rp, second["refresh_token"]).status_code == 400
