"""Group commit of audit-only transactions (PostgreSQL): every event durable before
its transaction returns, chains whole across processes, failures fail every waiter."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from idp.errors import UnavailableError
from idp.records import AuditEntry
from idp.store.sql.database import Database
from idp.store.sql.repositories import AuditLog

from ..conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="group commit is PostgreSQL only")


def _entry(i: int) -> AuditEntry:
    return AuditEntry(type="token_issued", outcome="success", actor=f"client-{i}", details={"i": i})


def _audit_only(db: Database, i: int) -> None:
    """A transaction that writes nothing but one event (a client_credentials grant)."""
    with db.session() as session:
        AuditLog(session).record(_entry(i), now=datetime.now(UTC))


def _count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(text("SELECT count(*) FROM audit_events")) or 0)


def test_audit_only_transactions_go_through_the_committer(
    run, clean_database: Database, monkeypatch
) -> None:
    committer = clean_database.audit_committer
    assert committer is not None
    handed: list[int] = []
    write = committer.write
    monkeypatch.setattr(
        committer, "write", lambda events: (handed.append(len(events)), write(events))
    )
    _audit_only(clean_database, 1)
    assert handed == [1]
    # Durable when the transaction returned: another connection sees it.
    assert _count(clean_database) == 1


def test_concurrent_writers_in_two_processes_keep_every_chain(
    run, clean_database: Database, database_url: str
) -> None:
    """Two Database objects stand for two worker processes, each with its own
    committer and cached head; on a shared segment one's head goes stale and it
    must re-read, never fork the chain."""
    other = Database.from_url(database_url)
    assert other.audit_committer is not None
    _audit_only(clean_database, 0)  # each committer's thread runs (its start picks a shard)
    _audit_only(other, 1)
    # Same shard for both: they are sure to meet.
    clean_database.audit_committer._shard = other.audit_committer._shard = 3  # type: ignore[union-attr]
    errors: list[BaseException] = []

    def writer(db: Database, base: int) -> None:
        try:
            for i in range(25):
                _audit_only(db, base + i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(db, n * 100))
        for n, db in enumerate([clean_database, other] * 4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert errors == []
    assert _count(clean_database) == 202
    with clean_database.session() as session:
        per_segment = session.execute(
            text("SELECT segment, count(*), max(seq) FROM audit_events GROUP BY segment")
        ).all()
    assert all(count == top for _, count, top in per_segment)
    assert run("audit", "verify", "--json").exit_code == 0


def test_a_transaction_that_sent_a_statement_keeps_its_events(
    run, clean_database: Database, monkeypatch
) -> None:
    """Events of a transaction that did anything else are written in that
    transaction (the committer is not asked), and a failure takes them back too."""
    committer = clean_database.audit_committer
    assert committer is not None
    monkeypatch.setattr(committer, "write", lambda events: pytest.fail("handed over"))
    with clean_database.session() as session:
        session.execute(text("SELECT 1"))
        AuditLog(session).record(_entry(1), now=datetime.now(UTC))
    assert _count(clean_database) == 1
    with pytest.raises(RuntimeError), clean_database.session() as session:
        session.execute(text("SELECT 1"))
        AuditLog(session).record(_entry(2), now=datetime.now(UTC))
        raise RuntimeError("the request failed after its event")
    assert _count(clean_database) == 1


def test_database_down_fails_every_waiter_and_writes_nothing(run, clean_database: Database) -> None:
    down = Database.from_url("postgresql+psycopg://postgres@127.0.0.1:1/x", connect_timeout=1)
    with pytest.raises(UnavailableError), down.session() as session:
        AuditLog(session).record(_entry(1), now=datetime.now(UTC))
    down.dispose()
    assert _count(clean_database) == 0


def test_committer_recovers_after_its_connection_is_killed(run, clean_database: Database) -> None:
    """A server-side disconnect fails at most the batch in flight (503); the next
    batch writes on a fresh connection from a head read afresh."""
    committer = clean_database.audit_committer
    assert committer is not None
    _audit_only(clean_database, 1)
    held = committer._driver  # the psycopg connection it writes on
    assert held is not None
    backend = held.info.backend_pid
    with clean_database.session() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    try:
        _audit_only(clean_database, 2)
    except UnavailableError:
        written = 2
    else:
        written = 3
    _audit_only(clean_database, 3)
    assert _count(clean_database) == written


def test_an_idle_committer_gives_its_connection_back_and_ends(
    run, clean_database: Database, database_url: str
) -> None:
    """Nothing is held by a process that stopped auditing: after a second idle the
    thread ends and its connection is back in the pool; the next write starts anew.
    Disposing of the database gives the connection back at once."""
    committer = clean_database.audit_committer
    assert committer is not None
    _audit_only(clean_database, 1)
    deadline = time.monotonic() + 10
    while committer._running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not committer._running
    assert committer._held is None
    _audit_only(clean_database, 2)
    assert _count(clean_database) == 2

    other = Database.from_url(database_url)
    assert other.audit_committer is not None
    _audit_only(other, 3)
    assert other.audit_committer._held is not None
    other.dispose()
    assert other.audit_committer._held is None


def test_a_batch_over_two_days_is_written_in_one_locking_transaction(
    run, clean_database: Database, monkeypatch
) -> None:
    """Events of two segments (a batch over midnight) take the locking path, a
    transaction on the committer's own connection; both chains verify."""
    committer = clean_database.audit_committer
    assert committer is not None
    handed: list[int] = []
    write = committer.write
    monkeypatch.setattr(
        committer, "write", lambda events: (handed.append(len(events)), write(events))
    )
    with clean_database.session() as session:
        log = AuditLog(session)
        log.record(_entry(1), now=datetime(2026, 3, 1, 23, 59, 59, 900000, tzinfo=UTC))
        log.record(_entry(2), now=datetime(2026, 3, 2, 0, 0, 0, 100000, tzinfo=UTC))
    assert handed == [2]
    with clean_database.session() as session:
        segments = session.execute(text("SELECT segment, seq FROM audit_events ORDER BY at")).all()
    assert [seq for _, seq in segments] == [1, 1]
    assert segments[0][0].startswith("2026-03-01/") and segments[1][0].startswith("2026-03-02/")
    assert run("audit", "verify", "--json").exit_code == 0
    # The connection is still the committer's, in autocommit, and goes on working.
    _audit_only(clean_database, 3)
    assert _count(clean_database) == 3


def test_the_committer_gives_its_connection_back_as_the_pool_hands_them_out(
    run, clean_database: Database
) -> None:
    """Held in autocommit; returned in transaction mode, so that whoever checks it out
    next gets what every other pooled connection is."""
    committer = clean_database.audit_committer
    assert committer is not None
    _audit_only(clean_database, 1)
    driver = committer._driver
    assert driver is not None and driver.autocommit
    committer.close()
    assert committer._driver is None
    assert not driver.closed and not driver.autocommit
