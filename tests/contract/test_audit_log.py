"""The AuditLog Protocol (idp.store.audit_log) the flows use, held to its contract on the
configured backend (SQLite, or PostgreSQL with IDP_TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp.records import AuditEntry
from idp.store.audit_log import AuditLog
from idp.store.durable import Database as Transactions
from idp.store.sql.database import Database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _entry(type_: str, subject: str | None, **details: str) -> AuditEntry:
    return AuditEntry(
        type=type_, outcome="success", actor="someone", subject=subject, details=details
    )


def test_events_of_a_subject_come_back_newest_first_by_type(clean_database: Database) -> None:
    db: Transactions = clean_database
    with db.transaction() as uow:
        log: AuditLog = uow.audit
        for n, type_ in enumerate(["login", "password_changed", "login", "email_changed"]):
            log.record(_entry(type_, "sub-a", n=str(n)), now=NOW + timedelta(minutes=n))
        log.record(_entry("login", "sub-b"), now=NOW)
    with db.transaction() as uow:
        log = uow.audit
        found = log.for_subject("sub-a", ["login", "email_changed"])
        assert [(e.type, e.details["n"]) for e in found] == [
            ("email_changed", "3"),
            ("login", "2"),
            ("login", "0"),
        ]
        assert [e.details["n"] for e in log.for_subject("sub-a", ["login"], limit=1)] == ["2"]
        assert log.for_subject("sub-a", ["account_closed"]) == []
        assert log.for_subject("sub-c", ["login"]) == []
        first = found[-1]
        assert (first.outcome, first.actor, first.subject) == ("success", "someone", "sub-a")


def test_an_event_of_a_failed_transaction_is_not_kept(clean_database: Database) -> None:
    with pytest.raises(RuntimeError), clean_database.transaction() as uow:
        uow.audit.record(_entry("login", "sub-a"), now=NOW)
        raise RuntimeError("the change failed, so did its audit")
    with clean_database.transaction() as uow:
        assert uow.audit.for_subject("sub-a", ["login"]) == []


def test_recorded_events_join_the_hash_chain(clean_database: Database) -> None:
    # Flows only append; the operator's verification must still see an intact chain.
    with clean_database.transaction() as uow:
        uow.audit.record(_entry("login", "sub-a"), now=NOW)
        uow.audit.record(_entry("logout", "sub-a"), now=NOW)
    with clean_database.transaction() as uow:
        assert uow.audit.verify(key=b"k" * 32) is None


def test_a_transaction_reads_its_own_events_and_more_still_chain(clean_database: Database) -> None:
    # Events wait in memory until the commit (issue 12); a read of the trail in the
    # same transaction writes them first, and events recorded after that read chain on.
    with clean_database.transaction() as uow:
        uow.audit.record(_entry("login", "sub-a", n="0"), now=NOW)
        assert [e.details["n"] for e in uow.audit.for_subject("sub-a", ["login"])] == ["0"]
        uow.audit.record(_entry("login", "sub-a", n="1"), now=NOW + timedelta(seconds=1))
    with clean_database.transaction() as uow:
        assert [e.details["n"] for e in uow.audit.for_subject("sub-a", ["login"])] == ["1", "0"]
        assert uow.audit.verify(key=b"k" * 32) is None


def test_events_recorded_before_a_rollback_are_not_written_by_a_later_commit(
    clean_database: Database,
) -> None:
    from sqlalchemy.orm import Session

    from idp.store.sql.repositories import UnitOfWork

    with Session(clean_database.engine) as session:
        uow = UnitOfWork(session)
        uow.audit.record(_entry("login", "sub-a", n="dropped"), now=NOW)
        session.rollback()
        uow.audit.record(_entry("login", "sub-a", n="kept"), now=NOW)
        session.commit()
    with clean_database.transaction() as uow:
        assert [e.details["n"] for e in uow.audit.for_subject("sub-a", ["login"])] == ["kept"]
        assert uow.audit.verify(key=b"k" * 32) is None


def test_events_of_a_rolled_back_savepoint_are_not_written(clean_database: Database) -> None:
    from idp.store.sql.repositories import UnitOfWork

    with clean_database.session() as session:
        uow = UnitOfWork(session)
        uow.audit.record(_entry("login", "sub-a", n="before"), now=NOW)
        savepoint = session.begin_nested()
        uow.audit.record(_entry("login", "sub-a", n="inside"), now=NOW)
        savepoint.rollback()
        uow.audit.record(_entry("login", "sub-a", n="after"), now=NOW)
    with clean_database.transaction() as uow:
        found = [e.details["n"] for e in uow.audit.for_subject("sub-a", ["login"])]
        assert sorted(found) == ["after", "before"]
        assert uow.audit.verify(key=b"k" * 32) is None
