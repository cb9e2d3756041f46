"""The audit hash chain: tampering is found and named; concurrent writers keep it whole."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from idp.audit.chain import checkpoint_key
from idp.records import AuditEntry
from idp.store.sql.database import Database
from idp.store.sql.repositories import AuditLog

from .conftest import SECRET_KEY

KEY = checkpoint_key(SECRET_KEY)
DAY = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _record(db: Database, n: int, *, start: datetime = DAY, shard: int = 0) -> None:
    with db.session() as session:
        log = AuditLog(session, shard=shard)
        for i in range(n):
            log.record(
                AuditEntry(
                    type="login",
                    outcome="success" if i % 2 else "failure",
                    actor=f"subject-{i}",
                    subject=f"subject-{i}",
                    ip="10.0.0.1",
                    details={"i": i, "reason": "x"},
                ),
                now=start + timedelta(seconds=i),
            )


def _ids(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(text("SELECT id FROM audit_events ORDER BY segment, seq")))


def _verify(run, *args: str, code: int) -> dict:
    return json.loads(run("audit", "verify", "--json", *args, code=code).output)


def test_untouched_chain_verifies(run, clean_database: Database) -> None:
    _record(clean_database, 5)
    _record(clean_database, 3, shard=1)
    assert _verify(run, code=0) == {"ok": True, "break": None}


@pytest.mark.audit_tampered
def test_edited_row_is_named(run, clean_database: Database) -> None:
    _record(clean_database, 5)
    target = _ids(clean_database)[2]
    with clean_database.session() as session:
        session.execute(
            text("UPDATE audit_events SET outcome = 'success' WHERE id = :id"), {"id": target}
        )
    found = _verify(run, code=1)["break"]
    assert (found["kind"], found["event_id"], found["seq"]) == ("altered", target, 3)
    assert found["segment"] == "2026-11-20/0"
    assert found["at"].startswith("2026-11-20T09:00:02")
    assert f"id={target}" in run("audit", "verify", code=1).output


@pytest.mark.audit_tampered
def test_deleted_row_is_named(run, clean_database: Database) -> None:
    _record(clean_database, 5)
    ids = _ids(clean_database)
    with clean_database.session() as session:
        session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[1]})
    found = _verify(run, code=1)["break"]
    # The event after the gap is named, with the missing sequence number.
    assert (found["kind"], found["event_id"], found["seq"]) == ("deleted", ids[2], 3)
    assert "2 missing" in found["detail"]


@pytest.mark.audit_tampered
def test_deleted_last_row_is_found(run, clean_database: Database) -> None:
    _record(clean_database, 4)
    with clean_database.session() as session:
        session.execute(
            text("DELETE FROM audit_events WHERE id = :id"), {"id": _ids(clean_database)[-1]}
        )
    found = _verify(run, code=1)["break"]
    assert (found["kind"], found["seq"]) == ("deleted", 4)


@pytest.mark.audit_tampered
def test_inserted_rows_are_named(run, clean_database: Database) -> None:
    _record(clean_database, 3)
    chained = _ids(clean_database)
    columns = "at, type, outcome, actor"
    with clean_database.session() as session:
        session.execute(
            text(f"INSERT INTO audit_events ({columns}) VALUES (:at, 'login', 'success', 'x')"),
            {"at": DAY + timedelta(minutes=1)},
        )
    found = _verify(run, code=1)["break"]
    assert found["kind"] == "inserted" and found["event_id"] not in chained

    # A forged row that copies the chain's columns is still caught.
    with clean_database.session() as session:
        session.execute(text("DELETE FROM audit_events WHERE segment IS NULL"))
        session.execute(
            text(
                f"INSERT INTO audit_events ({columns}, segment, seq, hash) "
                "VALUES (:at, 'login', 'success', 'x', '2026-11-20/0', 4, :h)"
            ),
            {"at": DAY + timedelta(minutes=1), "h": "a" * 64},
        )
    found = _verify(run, code=1)["break"]
    assert (found["kind"], found["seq"]) == ("inserted", 4)


@pytest.mark.audit_tampered
def test_from_skips_earlier_days(run, clean_database: Database) -> None:
    _record(clean_database, 3)
    _record(clean_database, 3, start=DAY + timedelta(days=2))
    with clean_database.session() as session:
        session.execute(
            text("UPDATE audit_events SET actor = 'y' WHERE id = :id"),
            {"id": _ids(clean_database)[0]},
        )
    assert _verify(run, code=1)["break"]["segment"] == "2026-11-20/0"
    assert _verify(run, "--from", "2026-11-21", code=0)["ok"] is True
    run("audit", "verify", "--from", "not-a-date", code=2)


def test_concurrent_writers_on_one_shard_keep_the_chain(run, clean_database: Database) -> None:
    """Threads each use their own connection (PostgreSQL: separate sessions) on the
    same segment: the head lock makes them take turns, never fork the chain."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for _ in range(10):
                _record(clean_database, 3, start=DAY + timedelta(hours=n))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with clean_database.session() as session:
        seqs = list(session.scalars(text("SELECT seq FROM audit_events ORDER BY seq")))
    assert seqs == list(range(1, 121))
    assert _verify(run, code=0)["ok"] is True


def test_retention_leaves_a_signed_checkpoint(run, clean_database: Database) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    _record(clean_database, 4, start=old)
    _record(clean_database, 2, start=datetime.now(UTC) - timedelta(days=1))
    out = json.loads(
        run("retention", "apply", "--json", extra_env={"IDP_RETENTION_DAYS": "365"}).output
    )
    assert out["events"] == 4
    assert _verify(run, code=0)["ok"] is True
    with clean_database.session() as session:
        session.execute(text("UPDATE audit_checkpoints SET through_seq = through_seq - 1"))
    found = _verify(run, code=1)["break"]
    assert found["kind"] == "checkpoint"
    # A checkpoint is only good under the key that signed it.
    with clean_database.session() as session:
        session.execute(text("UPDATE audit_checkpoints SET through_seq = through_seq + 1"))
    assert _verify(run, code=0)["ok"] is True
    other = {"IDP_SECRET_KEY": "another-secret-key-" + "w" * 32}
    assert (
        json.loads(run("audit", "verify", "--json", code=1, extra_env=other).output)["ok"] is False
    )


@pytest.mark.audit_tampered  # its events lose their chain on purpose
def test_retention_leaves_unchained_old_events_for_verify(run, clean_database: Database) -> None:
    # Old events whose place in the chain was erased (seq NULL) must not break the purge
    # (mypy --strict found the NULL maximum reaching a NOT NULL checkpoint): they are
    # left for `idp audit verify` to report, as the docstring promised.
    old = datetime.now(UTC) - timedelta(days=400)
    _record(clean_database, 3, start=old)
    with clean_database.session() as session:
        session.execute(text("UPDATE audit_events SET seq = NULL"))
    with clean_database.session() as session:
        deleted = AuditLog(session).purge_before(
            datetime.now(UTC) - timedelta(days=365), key=KEY, now=datetime.now(UTC)
        )
    assert deleted == 0
    with clean_database.session() as session:
        assert session.scalar(text("SELECT count(*) FROM audit_events")) == 3
        assert session.scalar(text("SELECT count(*) FROM audit_checkpoints")) == 0
    assert _verify(run, code=1)["ok"] is False
