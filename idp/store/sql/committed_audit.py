"""Audit events as they commit, for whoever counts them (the metrics).

Counting at the place an event is recorded would count requests that then roll
back; counting from the audit table would cost a query per scrape. SQLAlchemy's
session events give both right: events are collected when the audit log writes
them (:func:`note_written`; ORM rows, should any be added, when they are
flushed), handed over only after the commit succeeds, and dropped on rollback.

One feed per :class:`~idp.store.sql.database.Database` (``db.committed_audit``).
Listeners are held weakly: a test suite builds many apps over one database, and an
app that is gone must not keep being called.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from . import models as m

_PENDING = "idp_committed_audit"


@dataclass(frozen=True, slots=True)
class AuditFacts:
    """What a listener may know of a committed event: no actor, subject or address."""

    type: str
    outcome: str
    client_id: str | None
    details: Mapping[str, Any] = field(default_factory=dict)


Listener = Callable[[AuditFacts], None]


class AuditFeed:
    """Calls every subscriber once per audit event of every committed transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._listeners: list[weakref.ref[Any]] = []
        event.listen(sessions, "after_flush", self._flushed)
        event.listen(sessions, "after_commit", self._committed)
        event.listen(sessions, "after_rollback", self._rolled_back)

    def subscribe(self, listener: Listener) -> None:
        """Subscribe a function or a bound method (kept only while its object lives)."""
        ref: weakref.ref[Any] = (
            weakref.WeakMethod(listener) if hasattr(listener, "__self__") else weakref.ref(listener)
        )
        self._listeners.append(ref)

    def _flushed(self, session: Session, _context: Any) -> None:
        # after_flush still shows the pre-flush "new" set (SQLAlchemy docs).
        rows = [obj for obj in session.new if isinstance(obj, m.AuditEvent)]
        if rows and self._listeners:
            session.info.setdefault(_PENDING, []).extend(
                AuditFacts(
                    type=row.type,
                    outcome=row.outcome,
                    client_id=row.client_id,
                    details=dict(row.details or {}),
                )
                for row in rows
            )

    def _committed(self, session: Session) -> None:
        pending = session.info.pop(_PENDING, ())
        if pending:
            self._tell(pending)

    def deliver(self, events: list[dict[str, Any]]) -> None:
        """Events committed without a session (the group committer wrote them for a unit
        of work that opened none): told to the subscribers now."""
        if self._listeners:
            self._tell(_facts(events))

    def _tell(self, pending: list[AuditFacts]) -> None:
        live = [fn for fn in (ref() for ref in self._listeners) if fn is not None]
        if len(live) != len(self._listeners):
            self._listeners = [ref for ref in self._listeners if ref() is not None]
        for facts in pending:
            for listener in live:
                listener(facts)

    def _rolled_back(self, session: Session) -> None:
        session.info.pop(_PENDING, None)


def note_written(session: Session, events: list[dict[str, Any]]) -> None:
    """Events the audit log wrote with Core (no flush shows them): handed to the
    subscribers after this transaction commits, dropped if it rolls back."""
    session.info.setdefault(_PENDING, []).extend(_facts(events))


def _facts(events: list[dict[str, Any]]) -> list[AuditFacts]:
    return [
        AuditFacts(
            type=values["type"],
            outcome=values["outcome"],
            client_id=values["client_id"],
            details=dict(values["details"] or {}),
        )
        for values in events
    ]


def on_committed_audit(db: Any, listener: Listener) -> None:
    """Call ``listener`` once per audit event of every transaction ``db`` commits."""
    db.committed_audit.subscribe(listener)
