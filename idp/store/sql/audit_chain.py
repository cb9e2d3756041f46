"""The audit hash chain on SQL: appending under the segment's head lock, purging to a
signed checkpoint, and reading every chain back for ``idp audit verify``.

The rules (what is hashed, what counts as a break) are in ``idp/audit/chain.py``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from itertools import groupby
from types import SimpleNamespace
from typing import Any

import psycopg
from sqlalchemy import Table, bindparam, delete, func, select, true, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from idp.audit.chain import (
    GENESIS,
    BreakKind,
    ChainBreak,
    ChainedEvent,
    StoredEvent,
    checkpoint_mac,
    event_hash,
    segment_for,
    verify_segment,
)

from . import models as m
from . import pg_driver


def chained(row: Any) -> ChainedEvent:
    """The hashed fields of an event (an ORM object or a plain row of audit_events)."""
    return ChainedEvent(
        segment=row.segment or "",
        seq=row.seq or 0,
        at=row.at,
        type=row.type,
        outcome=row.outcome,
        actor=row.actor,
        subject=row.subject,
        client_id=row.client_id,
        ip=row.ip,
        user_agent=row.user_agent,
        session_id=row.session_id,
        details=row.details or None,
    )


_HEADS: Table = m.AuditChainHead.__table__  # type: ignore[assignment]
_LOCK_HEAD = (
    select(_HEADS.c.seq, _HEADS.c.last_hash)
    .where(_HEADS.c.segment == bindparam("segment"))
    .with_for_update()
)
_EVENTS: Table = m.AuditEvent.__table__  # type: ignore[assignment]
_INSERT_EVENTS = _EVENTS.insert()
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.segment == bindparam("head_segment"))
    .values(seq=bindparam("head_seq"), last_hash=bindparam("head_hash"))
)
# The columns of an event row, as append_if_head sends them.
_EVENT_COLUMNS = (
    "at",
    "type",
    "outcome",
    "actor",
    "subject",
    "client_id",
    "ip",
    "user_agent",
    "session_id",
    "details",
    "segment",
    "seq",
    "hash",
)


def append(
    session: Session | pg_driver.AnyConnection,
    events: list[dict[str, Any]],
    shard: int,
    *,
    carry: tuple[str, dict[str, Any]] | None = None,
) -> None:
    """Give each of ``events`` (the column values of events recorded in this
    transaction, in order) its place in its day's segment of ``shard``, and insert
    them; called just before the transaction commits.

    Per segment the head row is locked (created first if missing, ON CONFLICT DO
    NOTHING: two first writers of a day do not collide) until the commit, so no
    other writer can take the same sequence number or previous hash. Taking this
    lock last, right before the commit, keeps it held for microseconds and means a
    transaction holding it never waits for another lock (no deadlock with the row
    locks flows take). On SQLite the INSERT takes the database's write lock instead.

    No ORM (issue 12: an ORM flush of the events, then an UPDATE per event and the
    ORM's bulk-update machinery cost half of a token request): on PostgreSQL two
    prepared statements per segment straight on psycopg (lock the head; move it and
    insert the events), on SQLite prebuilt Core statements.

    ``carry``: an INSERT (psycopg SQL and parameters, PostgreSQL only) the caller held
    back to send in the same statement as the first head lock (a data-modifying CTE:
    a round trip less for a refresh token, issue 12).
    """
    by_segment: dict[str, list[dict[str, Any]]] = {}
    for values in events:
        by_segment.setdefault(segment_for(values["at"], shard), []).append(values)
    if isinstance(session, psycopg.Connection):  # the group committer's own connection
        _append_postgres(session, by_segment, carry)
        return
    connection = session.connection() if isinstance(session, Session) else session
    if connection.dialect.name == "postgresql":
        _append_postgres(connection, by_segment, carry)
        return
    if carry is not None:
        raise ValueError("carry is for PostgreSQL only")
    # SQLite: the INSERT of the head comes first, as it takes the database's write
    # lock (which FOR UPDATE, ignored there, does not); writers queue on that lock.
    chained_rows: list[dict[str, Any]] = []
    for segment in sorted(by_segment):
        connection.execute(
            sqlite_insert(_HEADS)
            .values(segment=segment, seq=0, last_hash=GENESIS)
            .on_conflict_do_nothing()
        )
        seq, prev = connection.execute(_LOCK_HEAD, {"segment": segment}).one()
        for values in by_segment[segment]:
            seq += 1
            values["segment"], values["seq"] = segment, seq
            values["hash"] = prev = event_hash(chained(SimpleNamespace(**values)), prev)
            chained_rows.append(values)
        connection.execute(
            _MOVE_HEAD, {"head_segment": segment, "head_seq": seq, "head_hash": prev}
        )
    connection.execute(_INSERT_EVENTS, chained_rows)


_LOCK_HEAD_SQL = (
    "SELECT seq, last_hash FROM audit_chain_heads WHERE segment = %(segment)s FOR UPDATE"
)


# A segment's first event of the day creates its head (two first writers do not collide).
_CREATE_HEAD_SQL = (
    "INSERT INTO audit_chain_heads (segment, seq, last_hash)"
    " VALUES (%(segment)s, 0, %(genesis)s) ON CONFLICT DO NOTHING"
)


def _lock_head_carrying(insert_sql: str) -> str:
    """The head lock with an INSERT riding along (run whatever the SELECT finds)."""
    if insert_sql not in _CARRYING:
        _CARRYING[insert_sql] = f"WITH carried AS ({insert_sql}) {_LOCK_HEAD_SQL}"
    return _CARRYING[insert_sql]


_CARRYING: dict[str, str] = {}


def _append_postgres(
    connection: pg_driver.AnyConnection,
    by_segment: dict[str, list[dict[str, Any]]],
    carry: tuple[str, dict[str, Any]] | None = None,
) -> None:
    """PostgreSQL: per segment, lock the head, then chain and insert the events with the
    head moved in the same statement (:func:`append_if_head`, whose guard always holds
    under the lock). Both statements go straight to psycopg, prepared (issue 12)."""
    for segment in sorted(by_segment):  # one lock order for every writer
        if carry is not None:
            sql, params = carry
            carry = None
            lock = _lock_head_carrying(sql)
            # The INSERT's parameters never use the name "segment". Its foreign-key
            # checks run at the end of the statement, with the head locked: they take
            # KEY SHARE on the client and account rows, which only a FOR UPDATE, a
            # DELETE or a change of key on those rows would make wait, and nothing
            # does any of these; so a head holder still never waits on another lock.
            head = pg_driver.execute(connection, lock, {**params, "segment": segment}).fetchone()
        else:
            head = pg_driver.execute(connection, _LOCK_HEAD_SQL, {"segment": segment}).fetchone()
        if head is None:
            # A segment's first event of the day: create its head, then lock it.
            params = {"segment": segment, "genesis": GENESIS}
            pg_driver.execute(connection, _CREATE_HEAD_SQL, params)
            head = pg_driver.execute(connection, _LOCK_HEAD_SQL, {"segment": segment}).fetchone()
        if head is None or append_if_head(connection, by_segment[segment], segment, head) is None:
            raise RuntimeError(f"audit chain head of {segment} missing or moved under its lock")


# PostgreSQL, the group committer's one statement (idp/store/sql/audit_committer.py):
# the head moves only if it still is what the events were chained from, and the
# events go in only if it moved. One statement, so in autocommit it is one atomic
# transaction and one round trip: no BEGIN, no lock taken by a separate SELECT, no
# COMMIT. A head that moved meanwhile (another process appended to this segment)
# inserts nothing; the caller re-reads the head and chains again.
# psycopg's own placeholders: sent on the driver connection (see append_if_head).
_GUARDED_APPEND = """
    WITH moved AS (
        UPDATE audit_chain_heads SET seq = %(new_seq)s, last_hash = %(new_hash)s
        WHERE segment = %(segment)s AND seq = %(old_seq)s AND last_hash = %(old_hash)s
        RETURNING segment
    )
    INSERT INTO audit_events (at, type, outcome, actor, subject, client_id, ip,
                              user_agent, session_id, details, segment, seq, hash)
    SELECT r.at, r.type, r.outcome, r.actor, r.subject, r.client_id, r.ip,
           r.user_agent, r.session_id, r.details, moved.segment, r.seq, r.hash
    FROM moved, jsonb_to_recordset(%(events)s::jsonb) AS r(
        at timestamptz, type text, outcome text, actor text, subject text,
        client_id text, ip text, user_agent text, session_id text, details json,
        seq integer, hash text)
    """

_READ_HEAD_SQL = "SELECT seq, last_hash FROM audit_chain_heads WHERE segment = %(segment)s"


def read_head(connection: pg_driver.AnyConnection, segment: str) -> tuple[int, str]:
    """A segment's head as committed now (created at the genesis if missing); no lock:
    :func:`append_if_head` is what guards against a concurrent writer."""
    head = pg_driver.execute(connection, _READ_HEAD_SQL, {"segment": segment}).fetchone()
    if head is None:
        pg_driver.execute(connection, _CREATE_HEAD_SQL, {"segment": segment, "genesis": GENESIS})
        head = pg_driver.execute(connection, _READ_HEAD_SQL, {"segment": segment}).fetchone()
        if head is None:
            raise RuntimeError(f"audit chain head of {segment} missing after its creation")
    return int(head[0]), str(head[1])


def append_if_head(
    connection: pg_driver.AnyConnection,
    events: list[dict[str, Any]],
    segment: str,
    head: tuple[int, str],
) -> tuple[int, str] | None:
    """Chain ``events`` onto ``segment`` from ``head`` and insert them, in one statement,
    only if ``head`` is still the segment's head (PostgreSQL, autocommit connection).

    Returns the new head, or None when another writer moved the head first (nothing
    was written). Every event must belong to ``segment``.
    """
    seq, prev = head
    start = head
    rows = []
    for values in events:
        seq += 1
        values["segment"], values["seq"] = segment, seq
        values["hash"] = prev = event_hash(chained(SimpleNamespace(**values)), prev)
        rows.append(
            {
                **{k: values[k] for k in _EVENT_COLUMNS if k not in ("at", "segment")},
                "at": values["at"].astimezone(UTC).isoformat(timespec="microseconds"),
            }
        )
    params = {
        "segment": segment,
        "old_seq": start[0],
        "old_hash": start[1],
        "new_seq": seq,
        "new_hash": prev,
        "events": json.dumps(rows, separators=(",", ":")),
    }
    written = pg_driver.execute(connection, _GUARDED_APPEND, params).rowcount
    if written == 0:
        return None
    if written != len(events):  # the statement is all or nothing; anything else is a bug
        raise RuntimeError(f"audit append wrote {written} of {len(events)} events")
    return seq, prev


def purge_before(session: Session, cutoff: datetime, *, key: bytes, now: datetime) -> int:
    """Delete each segment's events up to its last one older than ``cutoff``.

    A segment is only ever cut at a prefix, so what remains still chains from the
    checkpoint left here (signed: a forged or edited checkpoint fails verify).
    Events without a chain (tampering) are left for verify to report.
    """
    bounds = session.execute(
        select(m.AuditEvent.segment, func.max(m.AuditEvent.seq))
        .where(
            m.AuditEvent.at < cutoff,
            m.AuditEvent.segment.is_not(None),
            m.AuditEvent.seq.is_not(None),
        )
        .group_by(m.AuditEvent.segment)
    ).all()
    total = 0
    for segment, through in bounds:
        if segment is None or through is None:  # excluded above; narrows the types
            continue
        last_hash = session.scalar(
            select(m.AuditEvent.hash).where(
                m.AuditEvent.segment == segment, m.AuditEvent.seq == through
            )
        )
        result = session.execute(
            delete(m.AuditEvent).where(m.AuditEvent.segment == segment, m.AuditEvent.seq <= through)
        )
        total += int(result.rowcount)  # type: ignore[attr-defined]
        mac = checkpoint_mac(key, segment=segment, through_seq=through, last_hash=last_hash or "")
        existing = session.get(m.AuditCheckpoint, segment)
        if existing is None:
            session.add(
                m.AuditCheckpoint(
                    segment=segment,
                    through_seq=through,
                    last_hash=last_hash or "",
                    mac=mac,
                    created_at=now,
                )
            )
        else:
            existing.through_seq, existing.last_hash = through, last_hash or ""
            existing.mac, existing.created_at = mac, now
    return total


def verify(session: Session, *, key: bytes, since: date | None = None) -> ChainBreak | None:
    """The first break, segments taken oldest day first, or None when every chain holds.

    Events are streamed in (segment, seq) order, one pass, so memory stays bounded
    however long the trail is. Segment names sort as (day, shard).
    """
    floor = since.isoformat() if since else ""
    stray = session.execute(
        select(m.AuditEvent.id, m.AuditEvent.at, m.AuditEvent.segment)
        .where(m.AuditEvent.hash.is_(None) | m.AuditEvent.seq.is_(None))
        .where(m.AuditEvent.at >= datetime.combine(since, time(), UTC) if since else true())
        .order_by(m.AuditEvent.at, m.AuditEvent.id)
        .limit(1)
    ).first()
    if stray is not None:
        return ChainBreak(
            BreakKind.INSERTED,
            stray.segment or "",
            stray.id,
            stray.at,
            None,
            "the event carries no chain",
        )
    heads = {
        seg: (seq, h)
        for seg, seq, h in session.execute(
            select(
                m.AuditChainHead.segment, m.AuditChainHead.seq, m.AuditChainHead.last_hash
            ).where(m.AuditChainHead.segment >= floor)
        )
    }
    checkpoints = {
        c.segment: c
        for c in session.scalars(
            select(m.AuditCheckpoint).where(m.AuditCheckpoint.segment >= floor)
        )
    }
    # Plain rows, not ORM objects: verify reads the whole trail, and identity-map
    # bookkeeping would cost more than the hashing.
    rows = session.execute(
        select(m.AuditEvent.__table__)
        .where(m.AuditEvent.segment >= floor, m.AuditEvent.hash.is_not(None))
        .order_by(m.AuditEvent.segment, m.AuditEvent.seq, m.AuditEvent.id)
        .execution_options(yield_per=2000)
    )
    known = sorted(set(heads) | set(checkpoints))

    def check(segment: str, events: Iterable[Any]) -> ChainBreak | None:
        start_seq, start_hash = 0, GENESIS
        checkpoint = checkpoints.get(segment)
        if checkpoint is not None:
            expected = checkpoint_mac(
                key,
                segment=segment,
                through_seq=checkpoint.through_seq,
                last_hash=checkpoint.last_hash,
            )
            if not hmac.compare_digest(expected, checkpoint.mac):
                return ChainBreak(
                    BreakKind.CHECKPOINT,
                    segment,
                    None,
                    None,
                    checkpoint.through_seq,
                    "the retention checkpoint's signature does not match",
                )
            start_seq, start_hash = checkpoint.through_seq, checkpoint.last_hash
        return verify_segment(
            segment,
            (StoredEvent(r.id, chained(r), r.hash or "") for r in events),
            start_seq=start_seq,
            start_hash=start_hash,
            head=heads.get(segment),
        )

    try:
        return _first_break(rows, known, check)
    finally:
        rows.close()  # an early answer must not leave PostgreSQL's server cursor open


def _first_break(
    rows: Iterable[Any],
    known: list[str],
    check: Callable[[str, Iterable[Any]], ChainBreak | None],
) -> ChainBreak | None:
    """Walk the streamed events and the known segments together, in segment order."""
    position = 0
    for segment, events in groupby(rows, key=lambda r: r.segment or ""):
        # Segments with a head or checkpoint but no events left come first.
        while position < len(known) and known[position] < segment:
            if found := check(known[position], ()):
                return found
            position += 1
        if position < len(known) and known[position] == segment:
            position += 1
        if found := check(segment, events):
            return found
    for segment in known[position:]:
        if found := check(segment, ()):
            return found
    return None
