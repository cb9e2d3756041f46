"""OutboxRepository on SQLite and PostgreSQL: claims, leases, fences, and the migration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from idp.notify import Channel, Message
from idp.services import Services
from idp.store.sql.models import Base
from idp.store.sql.outbox import OutboxRepository, OutboxStatus

from .conftest import T0


def _message(n: int, message_id: str | None = None) -> Message:
    return Message(
        channel=Channel.EMAIL,
        recipient=f"p{n}@example.test",
        template="test_message",
        subject=f"Subject {n}",
        text=f"Text {n}",
        html=f"<p>Text {n}</p>",
        message_id=message_id or f"<m{n}@idp.test>",
    )


def _enqueue(services: Services, *messages: Message) -> list[int]:
    with services.db.transaction() as uow:
        repo = OutboxRepository(uow.session)
        return [repo.enqueue(m, now=T0).id for m in messages]


def _claim(services: Services, *, at=T0, lease: int = 60, limit: int = 10) -> list[int]:
    with services.db.transaction() as uow:
        return [
            r.id
            for r in OutboxRepository(uow.session).claim_due(
                now=at, lease_seconds=lease, limit=limit
            )
        ]


def test_enqueued_message_is_pending_and_due_now(services: Services) -> None:
    [pk] = _enqueue(services, _message(1))
    with services.db.transaction() as uow:
        record = OutboxRepository(uow.session).get(pk)
    assert record is not None
    assert record.status is OutboxStatus.PENDING
    assert (record.attempts, record.next_attempt_at, record.created_at) == (0, T0, T0)
    assert (record.subject, record.body_text, record.body_html) == (
        "Subject 1",
        "Text 1",
        "<p>Text 1</p>",
    )
    assert record.message_id == "<m1@idp.test>"


def test_message_id_is_unique(services: Services) -> None:
    _enqueue(services, _message(1, "<same@idp.test>"))
    with pytest.raises(IntegrityError):
        _enqueue(services, _message(2, "<same@idp.test>"))


def test_a_claim_is_exclusive_and_counts_as_an_attempt(services: Services) -> None:
    pks = _enqueue(services, *(_message(i) for i in range(5)))
    first = _claim(services, limit=3)
    second = _claim(services, limit=10)
    assert sorted(first + second) == sorted(pks)
    assert not set(first) & set(second)
    assert _claim(services) == []
    with services.db.transaction() as uow:
        record = OutboxRepository(uow.session).get(first[0])
    assert record is not None
    assert (record.status, record.attempts, record.lease_until) == (
        OutboxStatus.SENDING,
        1,
        T0 + timedelta(seconds=60),
    )


def test_future_messages_are_not_claimed(services: Services) -> None:
    [pk] = _enqueue(services, _message(1))
    _claim(services)
    with services.db.transaction() as uow:
        OutboxRepository(uow.session).mark_retry(
            pk, error="smtp 451", next_attempt_at=T0 + timedelta(minutes=5)
        )
    assert _claim(services, at=T0 + timedelta(minutes=4)) == []
    assert _claim(services, at=T0 + timedelta(minutes=5)) == [pk]


def test_expired_lease_is_reclaimed_and_fences_the_old_holder(services: Services) -> None:
    [pk] = _enqueue(services, _message(1))
    assert _claim(services, lease=60) == [pk]
    assert _claim(services, at=T0 + timedelta(seconds=59)) == []
    assert _claim(services, at=T0 + timedelta(seconds=60)) == [pk]
    with services.db.transaction() as uow:
        repo = OutboxRepository(uow.session)
        assert not repo.mark_sent(pk, now=T0, attempt=1)  # the first holder lost it
        assert repo.mark_sent(pk, now=T0 + timedelta(seconds=61), attempt=2)
        record = repo.get(pk)
    assert record is not None
    assert (record.status, record.attempts, record.lease_until) == (OutboxStatus.SENT, 2, None)


def test_sent_and_failed_messages_are_never_claimed_again(services: Services) -> None:
    sent, failed = _enqueue(services, _message(1), _message(2))
    _claim(services)
    with services.db.transaction() as uow:
        repo = OutboxRepository(uow.session)
        assert repo.mark_sent(sent, now=T0, redact=True)
        assert repo.mark_failed(failed, error="smtp 550 5.1.1\n\tUser unknown" + "x" * 300)
        assert not repo.mark_sent(failed, now=T0)  # only a message being sent can finish
    assert _claim(services, at=T0 + timedelta(days=30)) == []
    with services.db.transaction() as uow:
        repo = OutboxRepository(uow.session)
        done, dead = repo.get(sent), repo.get(failed)
    assert done is not None and dead is not None
    assert (done.body_text, done.body_html, done.sent_at) == ("", None, T0)
    assert dead.status is OutboxStatus.FAILED
    assert dead.last_error is not None and len(dead.last_error) == 200
    assert "\n" not in dead.last_error and dead.last_error.startswith("smtp 550 5.1.1 User")
    assert dead.body_text == "Text 2"  # not redacted unless asked


def test_newest_first(services: Services) -> None:
    pks = _enqueue(services, *(_message(i) for i in range(3)))
    with services.db.transaction() as uow:
        assert [r.id for r in OutboxRepository(uow.session).newest(2)] == pks[::-1][:2]


def test_migration_matches_the_model(services: Services) -> None:
    """0002 creates exactly what OutboxMessage declares, on this backend."""
    with services.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(context, Base.metadata) if "outbox_messages" in repr(d)]
    assert diff == []
