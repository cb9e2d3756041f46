"""The transactional outbox: messages queued with a change, sent after it commits.

A flow calls :meth:`OutboxRepository.enqueue` inside its own transaction, so a
rolled-back change sends nothing. Dispatchers (``idp.notify.outbox``) then work
in short transactions of their own:

    pending --claim_due--> sending --mark_sent--> sent
       ^                     |  \\--mark_failed--> failed  (permanent, or too many attempts)
       '------mark_retry-----'   (temporary failure: back off)
       '---- lease expired ----' (the dispatcher that claimed it crashed)

A claim is committed before anything is sent, so two dispatchers never send the
same message while its lease runs; each claim counts as an attempt, so a message
that crashes its sender every time still ends up failed. The ``attempt`` fence on
the ``mark_*`` methods keeps a sender that outlived its lease from overwriting
the outcome of whoever reclaimed the message.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from idp.store.outbox import OutboxRecord, OutboxStatus, OutgoingMessage

from . import models as m

ERROR_MAX = 200

_log = logging.getLogger("idp.notify")
# Marks a session whose commit already wakes the dispatcher.
_HOOKED = "idp.notify.after_commit"

# outbox_messages.id is INTEGER (signed 32-bit on PostgreSQL).
MAX_MESSAGE_PK = 2**31 - 1


def _record(row: m.OutboxMessage) -> OutboxRecord:
    return OutboxRecord(
        id=row.id,
        channel=row.channel,
        recipient=row.recipient,
        subject=row.subject,
        body_text=row.body_text,
        body_html=row.body_html,
        template=row.template,
        message_id=row.message_id,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        lease_until=row.lease_until,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


def _short(error: str) -> str:
    """One printable line; callers pass codes, never message content or credentials."""
    return " ".join(error.split())[:ERROR_MAX]


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    # --- the enqueuing side (inside the caller's transaction) --------------------------------

    def enqueue(self, message: OutgoingMessage, *, now: datetime) -> OutboxRecord:
        """Queue a message in the caller's transaction; it is due at once after commit."""
        row = m.OutboxMessage(
            channel=message.channel,
            recipient=message.recipient,
            subject=message.subject,
            body_text=message.text,
            body_html=message.html,
            template=message.template,
            message_id=message.message_id or f"<{uuid.uuid4().hex}@localhost>",
            status=OutboxStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        self._s.add(row)
        self._s.flush()
        return _record(row)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once after this session's next successful commit.

        ``after_commit`` runs only when the commit succeeded: a rollback never wakes
        the dispatcher (and leaves nothing for it to send anyway). However many
        messages the transaction queued, the callback is registered once.
        """
        if self._s.info.get(_HOOKED):
            return
        self._s.info[_HOOKED] = True

        def committed(committed_session: Session) -> None:
            committed_session.info.pop(_HOOKED, None)
            try:
                callback()
            except Exception:  # the commit stands; the periodic loop will send instead
                _log.exception("outbox on_commit callback failed")

        event.listen(self._s, "after_commit", committed, once=True)

    # --- the dispatching side (short transactions of its own) --------------------------------

    def _due(self, now: datetime) -> ColumnElement[bool]:
        t = m.OutboxMessage
        return or_(
            and_(t.status == OutboxStatus.PENDING.value, t.next_attempt_at <= now),
            # A crashed (or hung) dispatcher: its lease ran out, take the message over.
            and_(t.status == OutboxStatus.SENDING.value, t.lease_until <= now),
        )

    def claim_due(self, *, now: datetime, lease_seconds: int, limit: int) -> list[OutboxRecord]:
        """Atomically take up to ``limit`` due messages; commit before sending them.

        PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` lets concurrent dispatchers
        take disjoint batches without waiting on each other. SQLite has one writer
        at a time: each row is taken by a conditional ``UPDATE`` that re-checks it is
        still due, and a row someone else took first updates nothing.
        """
        t = m.OutboxMessage
        lease: dict[str, Any] = {
            "status": OutboxStatus.SENDING.value,
            "lease_until": now + timedelta(seconds=lease_seconds),
            "attempts": t.attempts + 1,
        }
        candidates = (
            select(t.id).where(self._due(now)).order_by(t.next_attempt_at, t.id).limit(limit)
        )
        if self._s.get_bind().dialect.name == "postgresql":
            ids = list(self._s.scalars(candidates.with_for_update(skip_locked=True)))
            if not ids:
                return []
            claimed = list(
                self._s.scalars(
                    update(t).where(t.id.in_(ids), self._due(now)).values(**lease).returning(t.id)
                )
            )
        else:
            claimed = []
            for row_id in list(self._s.scalars(candidates)):
                result = self._s.execute(
                    update(t).where(t.id == row_id, self._due(now)).values(**lease)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(row_id)
            if not claimed:
                return []
        rows = self._s.scalars(
            select(t)
            .where(t.id.in_(claimed))
            .order_by(t.id)
            .execution_options(populate_existing=True)
        )
        return [_record(r) for r in rows]

    def _finish(self, message_pk: int, attempt: int | None, **values: Any) -> bool:
        t = m.OutboxMessage
        where = [t.id == message_pk, t.status == OutboxStatus.SENDING.value]
        if attempt is not None:
            where.append(t.attempts == attempt)
        result = self._s.execute(update(t).where(*where).values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def mark_sent(
        self, message_pk: int, *, now: datetime, attempt: int | None = None, redact: bool = False
    ) -> bool:
        """Record delivery. ``redact`` blanks the bodies (one-time links and codes).

        False when the message is no longer ours (``attempt`` fences a sender whose
        lease ran out and whose message someone else reclaimed).
        """
        bodies: dict[str, Any] = {"body_text": "", "body_html": None} if redact else {}
        return self._finish(
            message_pk,
            attempt,
            status=OutboxStatus.SENT.value,
            sent_at=now,
            lease_until=None,
            last_error=None,
            **bodies,
        )

    def mark_retry(
        self, message_pk: int, *, error: str, next_attempt_at: datetime, attempt: int | None = None
    ) -> bool:
        """Temporary failure: back to pending, not due before ``next_attempt_at``."""
        return self._finish(
            message_pk,
            attempt,
            status=OutboxStatus.PENDING.value,
            next_attempt_at=next_attempt_at,
            lease_until=None,
            last_error=_short(error),
        )

    def mark_failed(
        self, message_pk: int, *, error: str, attempt: int | None = None, redact: bool = False
    ) -> bool:
        """Permanent failure, or too many attempts: never tried again."""
        bodies: dict[str, Any] = {"body_text": "", "body_html": None} if redact else {}
        return self._finish(
            message_pk,
            attempt,
            status=OutboxStatus.FAILED.value,
            lease_until=None,
            last_error=_short(error),
            **bodies,
        )

    # --- reading (development outbox page, operators) ----------------------------------------

    def get(self, message_pk: int) -> OutboxRecord | None:
        # The id column is a 32-bit INTEGER: PostgreSQL refuses a larger number outright
        # ("integer out of range", a 500), where it simply names no message.
        if not 0 < message_pk <= MAX_MESSAGE_PK:
            return None
        row = self._s.get(m.OutboxMessage, message_pk)
        return None if row is None else _record(row)

    def by_message_id(self, message_id: str) -> OutboxRecord | None:
        row = self._s.scalar(
            select(m.OutboxMessage).where(m.OutboxMessage.message_id == message_id)
        )
        return None if row is None else _record(row)

    def newest(self, limit: int = 50) -> list[OutboxRecord]:
        """The newest messages to people (queued tasks are the worker's, not mail)."""
        t = m.OutboxMessage
        rows = self._s.scalars(
            select(t).where(t.channel != "task").order_by(t.id.desc()).limit(limit)
        )
        return [_record(r) for r in rows]

    def backlog(self) -> dict[str, int]:
        """Messages not yet delivered, by status (the metrics' outbox backlog)."""
        t = m.OutboxMessage
        rows = self._s.execute(
            select(t.status, func.count())
            .where(t.status != OutboxStatus.SENT.value)
            .group_by(t.status)
        )
        return {str(status): int(count) for status, count in rows}
