"""A refresh whose PostgreSQL connection is lost while it writes commits nothing.

The refresh_token grant on PostgreSQL runs its transaction straight on a pooled
psycopg connection (idp/store/sql/raw_transaction.py): the claim of the old token,
then at the commit the new token's INSERT with the audit chain's head lock, the
audit event and COMMIT. Here the connection is cut by a relay at the audit event's
statement, before the server runs it or after (the reply lost, COMMIT never sent):
the request gets a 503, the old token is still live and no new one exists, no event
was written, and the client's retry with the same token is an ordinary refresh
(invariants 8 and 10), not a reuse that would revoke the family.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from idp.app import create_app
from idp.audit.chain import checkpoint_key
from idp.services import Services
from idp.store.sql import models

from ..conftest import Factory
from ..helpers import OIDCActions
from ..servers import CuttingRelay


def _state(services: Services) -> tuple[list[tuple[object, object]], int]:
    """The refresh tokens' (rotated_at, revoked_at) and the count of refresh events."""
    with services.db.session() as session:
        rows = session.execute(
            select(models.RefreshToken.rotated_at, models.RefreshToken.revoked_at).order_by(
                models.RefreshToken.id
            )
        ).all()
        events = session.scalar(
            select(func.count()).where(models.AuditEvent.type == "token_refreshed")
        )
    return [tuple(row) for row in rows], int(events or 0)


@pytest.mark.parametrize("lose", ["request", "reply"])
def test_a_refresh_cut_at_its_audit_write_commits_nothing_and_its_retry_succeeds(
    relayed_services: Services, relay: CuttingRelay, lose: str
) -> None:
    oidc = OIDCActions(
        create_app(services=relayed_services).test_client(), Factory(relayed_services)
    )
    oidc.factory.account()
    rp = oidc.factory.client()
    first = oidc.tokens(rp)
    before = _state(relayed_services)
    relay.arm(b'"token_refreshed"', lose)

    failed = oidc.refresh(rp, first["refresh_token"])
    assert relay.cuts == 1  # the refresh's own audit statement was the one cut
    assert failed.status_code == 503, failed.text
    assert _state(relayed_services) == before

    retried = oidc.refresh(rp, first["refresh_token"])
    assert retried.status_code == 200, retried.text
    again = oidc.refresh(rp, retried.get_json()["refresh_token"])
    assert again.status_code == 200, again.text
    with relayed_services.db.transaction() as uow:
        assert uow.audit.verify(key=checkpoint_key(relayed_services.settings.secret_key)) is None
