"""A unit of work opens its SQL session on first use (issue 12): one whose only write
is an audit event (a client_credentials grant, an access token revoked) hands it to
the group committer and touches no Session and no pooled connection; everything
else keeps one transaction for its change and its events, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text

from idp.errors import UnavailableError
from idp.records import AuditEntry
from idp.store.sql.committed_audit import AuditFacts, on_committed_audit
from idp.store.sql.database import Database
from idp.store.sql.repositories import ReadOnlyError

from ..conftest import PG_URL

postgres_only = pytest.mark.skipif(not PG_URL, reason="the group committer is PostgreSQL only")


def _entry(i: int) -> AuditEntry:
    return AuditEntry(type="token_issued", outcome="success", actor=f"client-{i}", details={"i": i})


def _count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(text("SELECT count(*) FROM audit_events")) or 0)


class _Checkouts:
    """Pooled connections handed out by the engine, and session transactions begun,
    while counting."""

    def __init__(self, db: Database) -> None:
        self.checkouts = 0
        self.sessions = 0
        self._db = db
        event.listen(db.engine, "checkout", self._checked_out)
        event.listen(db._sessions, "after_transaction_create", self._began)

    def _checked_out(self, *_args: Any) -> None:
        self.checkouts += 1

    def _began(self, *_args: Any) -> None:
        self.sessions += 1

    def stop(self) -> None:
        event.remove(self._db.engine, "checkout", self._checked_out)
        event.remove(self._db._sessions, "after_transaction_create", self._began)


@postgres_only
def test_an_audit_only_unit_of_work_opens_no_session_and_no_connection(
    clean_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = clean_database
    told: list[AuditFacts] = []

    def listener(facts: AuditFacts) -> None:  # held weakly by the feed: kept here
        told.append(facts)

    on_committed_audit(db, listener)
    with db.transaction() as uow:  # the committer's thread and connection, once
        uow.audit.record(_entry(0), now=datetime.now(UTC))
    counting = _Checkouts(db)
    try:
        with db.transaction() as uow:
            uow.audit.record(_entry(1), now=datetime.now(UTC))
        assert not uow.opened
    finally:
        counting.stop()
    assert (counting.sessions, counting.checkouts) == (0, 0)
    # Durable when the transaction returned, and told to the metrics as committed.
    assert _count(db) == 2
    assert [f.type for f in told] == ["token_issued", "token_issued"]


@postgres_only
def test_an_audit_only_unit_of_work_fails_with_the_committer_and_undoes(
    clean_database: Database,
) -> None:
    """Database down: the commit is a 503-worthy UnavailableError, the undo steps run."""
    down = Database.from_url("postgresql+psycopg://postgres@127.0.0.1:1/x", connect_timeout=1)
    undone: list[str] = []
    with pytest.raises(UnavailableError), down.transaction() as uow:
        uow.on_rollback(lambda: undone.append("token"))
        uow.audit.record(_entry(1), now=datetime.now(UTC))
    down.dispose()
    assert undone == ["token"]
    assert _count(clean_database) == 0


def test_an_audit_only_unit_of_work_that_fails_writes_nothing(
    clean_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = _Checkouts(clean_database)
    try:
        with pytest.raises(RuntimeError), clean_database.transaction() as uow:
            uow.audit.record(_entry(1), now=datetime.now(UTC))
            raise RuntimeError("the request failed after its event")
    finally:
        counting.stop()
    assert (counting.sessions, counting.checkouts) == (0, 0)
    assert _count(clean_database) == 0


def test_events_recorded_before_the_session_opened_join_its_transaction(
    clean_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event recorded first, then a read that opens the session: the event is
    written in that transaction (not handed to the committer), and goes with it."""
    committer = clean_database.audit_committer
    if committer is not None:
        monkeypatch.setattr(committer, "write", lambda events: pytest.fail("handed over"))
    with pytest.raises(RuntimeError), clean_database.transaction() as uow:
        uow.audit.record(_entry(1), now=datetime.now(UTC))
        assert uow.accounts.by_id(1) is None
        raise RuntimeError("the request failed after its read")
    assert _count(clean_database) == 0
    with clean_database.transaction() as uow:
        uow.audit.record(_entry(2), now=datetime.now(UTC))
        assert uow.accounts.by_id(1) is None
        assert uow.opened
    assert _count(clean_database) == 1


def test_without_a_committer_the_commit_opens_the_session_for_the_events(
    clean_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite (no group committer), or a committer out of the picture: the events are
    written in a transaction of their own, opened at the commit."""
    monkeypatch.setattr(clean_database, "audit_committer", None)
    with clean_database.transaction() as uow:
        uow.audit.record(_entry(1), now=datetime.now(UTC))
        assert not uow.opened
    assert uow.opened
    assert _count(clean_database) == 1


def test_a_reader_refuses_an_event_without_opening_a_session(
    clean_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = _Checkouts(clean_database)
    monkeypatch.setattr(clean_database, "_readers", lambda: pytest.fail("reader session opened"))
    try:
        with pytest.raises(ReadOnlyError), clean_database.reader() as uow:
            uow.audit.record(_entry(1), now=datetime.now(UTC))
    finally:
        counting.stop()
    assert counting.checkouts == 0
