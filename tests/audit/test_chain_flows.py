"""The chain holds after real traffic, and the migration chains events recorded before it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from idp.audit.chain import checkpoint_key
from idp.services import Services
from idp.store.sql.database import Database, upgrade

from ..conftest import Factory, assert_trail_verifies
from ..helpers import OIDCActions


def _verify(services: Services):
    with services.db.transaction() as uow:
        return uow.audit.verify(key=checkpoint_key(services.settings.secret_key))


@pytest.mark.audit_tampered
def test_verify_passes_after_sign_ins_and_token_traffic(
    services: Services, factory: Factory, oidc: OIDCActions
) -> None:
    rp = factory.client()
    factory.account("alice")
    factory.account("bob")
    assert oidc.login("/login", username="alice", password="wrong").status_code == 401
    tokens = oidc.tokens(rp)
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 200
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 400  # reuse: revoked
    oidc.client.get("/logout")
    oidc.login("/login", username="bob")
    with services.db.transaction() as uow:
        types = [e.type for e in uow.audit.tail(100)]
    assert len(types) >= 5, types
    assert _verify(services) is None

    with services.db.session() as session:
        session.execute(
            text(
                "UPDATE audit_events SET ip = '203.0.113.9' "
                "WHERE id = (SELECT MAX(id) FROM audit_events)"
            )
        )
    found = _verify(services)
    assert found is not None and found.kind == "altered"


def test_migration_chains_events_recorded_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0006")
    db = Database.from_url(url)
    try:
        with db.session() as session:
            for day, actor in ((1, "a"), (1, "b"), (2, "c")):
                session.execute(
                    text(
                        "INSERT INTO audit_events (at, type, outcome, actor, details) "
                        "VALUES (:at, 'login', 'success', :actor, :details)"
                    ),
                    {
                        "at": datetime(2026, 1, day, tzinfo=UTC),
                        "actor": actor,
                        "details": '{"k": 1}',
                    },
                )
        upgrade(url)
        with db.transaction() as uow:
            assert uow.audit.verify(key=checkpoint_key("k" * 32)) is None
        with db.session() as session:
            rows = session.execute(text("SELECT segment, seq FROM audit_events ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [
            ("2026-01-01/0", 1),
            ("2026-01-01/0", 2),
            ("2026-01-02/0", 1),
        ]
    finally:
        db.dispose()


@pytest.mark.audit_tampered
def test_the_suites_after_test_check_fails_on_a_tampered_row(
    services: Services, factory: Factory, oidc: OIDCActions
) -> None:
    """Every test ends with ``assert_trail_verifies`` (tests/conftest.py); it must fail
    when a row is edited, or the suite-wide check would prove nothing."""
    factory.account("alice")
    oidc.login("/login", username="alice", password="wrong")
    assert_trail_verifies(services.db)
    with services.db.session() as session:
        session.execute(text("UPDATE audit_events SET outcome = 'success'"))
    with pytest.raises(pytest.fail.Exception, match="does not verify"):
        assert_trail_verifies(services.db)
