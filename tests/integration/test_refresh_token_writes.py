"""A refresh token's INSERT is held back until the commit on PostgreSQL, to ride in
one statement with the audit chain's head lock (issue 12). Held back or not, the
transaction reads and changes it as if it had been sent at once, and a rollback
takes it back (nothing half-written)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from idp.records import AuditEntry
from idp.store.sql import pg_driver
from idp.store.sql.repositories import UnitOfWork

from ..conftest import PG_URL, Factory


@pytest.fixture
def ids(factory: Factory) -> tuple[int, int]:
    account = factory.account()
    return factory.client().id, account.id


def _add(uow: UnitOfWork, ids: tuple[int, int], name: str) -> None:
    now = datetime.now(UTC)
    uow.refresh_tokens.add(
        token_hash=name,
        family_id=f"family-{name}",
        client_pk=ids[0],
        account_id=ids[1],
        scope="openid",
        claims={"userinfo": ["email"]},
        auth_time=int(now.timestamp()),
        now=now,
        expires_at=now + timedelta(days=1),
    )


def _event(uow: UnitOfWork) -> None:
    uow.audit.record(
        AuditEntry(type="token_issued", outcome="success", actor="client"), now=datetime.now(UTC)
    )


def test_a_token_added_is_read_and_revoked_in_its_own_transaction(services, ids) -> None:
    with services.db.transaction() as uow:
        _add(uow, ids, "h1")
        found = uow.refresh_tokens.find("h1")
        assert found is not None and found.claims == {"userinfo": ["email"]}
        _add(uow, ids, "h2")
        # An ORM statement (as a flow's revocation sends) sees it too.
        assert set(uow.refresh_tokens.revoke_for_account(ids[1], now=datetime.now(UTC))) == {
            "family-h1",
            "family-h2",
        }
        _event(uow)
    with services.db.transaction() as uow:
        for name in ("h1", "h2"):
            record = uow.refresh_tokens.find(name)
            assert record is not None and record.revoked_at is not None


def test_a_token_added_is_committed_with_or_without_an_audit_event(services, ids) -> None:
    with services.db.transaction() as uow:
        _add(uow, ids, "with-event")
        _event(uow)
    with services.db.transaction() as uow:
        _add(uow, ids, "alone")
    with services.db.transaction() as uow:
        assert uow.refresh_tokens.find("with-event") is not None
        assert uow.refresh_tokens.find("alone") is not None


def test_a_rolled_back_transaction_leaves_no_token(services, ids) -> None:
    with pytest.raises(RuntimeError), services.db.transaction() as uow:
        _add(uow, ids, "gone")
        _event(uow)
        raise RuntimeError("the request failed")
    # The same session, a new transaction: nothing held back from the first.
    session = services.db._sessions()
    try:
        session.begin()
        uow = UnitOfWork(session)
        _add(uow, ids, "first")
        session.rollback()
        session.begin()
        _add(uow, ids, "second")
        session.commit()
    finally:
        session.close()
    with services.db.transaction() as uow:
        assert uow.refresh_tokens.find("gone") is None
        assert uow.refresh_tokens.find("first") is None
        assert uow.refresh_tokens.find("second") is not None


@pytest.mark.skipif(not PG_URL, reason="held back on PostgreSQL only")
def test_the_insert_rides_with_the_head_lock(services, ids, monkeypatch) -> None:
    sent: list[str] = []
    execute = pg_driver.execute

    def recording(connection: Any, sql: str, params: Any, **kw: Any) -> Any:
        sent.append(" ".join(sql.split()))
        return execute(connection, sql, params, **kw)

    monkeypatch.setattr(pg_driver, "execute", recording)
    with services.db.transaction() as uow:
        _add(uow, ids, "riding")
        _event(uow)
    carrying = "WITH carried AS (INSERT INTO refresh_tokens"
    assert sum(sql.startswith(carrying) and "FOR UPDATE" in sql for sql in sent) == 1
    assert not any(sql.startswith("INSERT INTO refresh_tokens") for sql in sent)
    with services.db.transaction() as uow:
        assert uow.refresh_tokens.find("riding") is not None


@pytest.mark.skipif(not PG_URL, reason="held back on PostgreSQL only")
def test_no_savepoint_over_a_held_back_insert(services, ids) -> None:
    with pytest.raises(RuntimeError, match="savepoint"), services.db.transaction() as uow:
        _add(uow, ids, "held")
        uow.session.begin_nested()
    with services.db.transaction() as uow:
        assert uow.refresh_tokens.find("held") is None
