"""The OutboxWriter Protocol (idp.store.outbox) the flows reach through the notifier, held
to its contract on the configured backend (SQLite, or PostgreSQL with
IDP_TEST_DATABASE_URL): a message commits or rolls back with its change, and the
dispatcher is woken once per committed transaction, never after a rollback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp.notify.messages import Channel, Message
from idp.store.durable import Database as Transactions
from idp.store.outbox import OutboxStatus, OutboxWriter
from idp.store.sql.database import Database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _message(n: int, *, message_id: str | None = None) -> Message:
    return Message(
        channel=Channel.EMAIL,
        recipient=f"p{n}@example.test",
        template="account_locked",
        subject=f"subject {n}",
        text=f"text {n}",
        html=f"<p>{n}</p>",
        message_id=message_id,
    )


def test_a_queued_message_is_pending_and_due_at_once(clean_database: Database) -> None:
    db: Transactions = clean_database
    with db.transaction() as uow:
        outbox: OutboxWriter = uow.outbox
        record = outbox.enqueue(_message(1, message_id="<m1@idp.test>"), now=NOW)
        generated = outbox.enqueue(_message(2), now=NOW)
    assert (record.status, record.attempts, record.message_id) == (
        OutboxStatus.PENDING,
        0,
        "<m1@idp.test>",
    )
    assert (record.recipient, record.subject, record.body_text, record.body_html) == (
        "p1@example.test",
        "subject 1",
        "text 1",
        "<p>1</p>",
    )
    assert generated.message_id.startswith("<") and generated.message_id != record.message_id
    with clean_database.transaction() as uow:
        stored = uow.outbox.by_message_id("<m1@idp.test>")
        assert stored is not None and stored.status == OutboxStatus.PENDING
        assert [r.id for r in uow.outbox.claim_due(now=NOW, lease_seconds=30, limit=10)] == [
            record.id,
            generated.id,
        ]


def test_the_dispatcher_is_woken_once_after_the_commit(clean_database: Database) -> None:
    woken: list[str] = []
    with clean_database.transaction() as uow:
        outbox: OutboxWriter = uow.outbox
        outbox.enqueue(_message(1), now=NOW)
        outbox.after_commit(lambda: woken.append("first"))
        outbox.enqueue(_message(2), now=NOW)
        outbox.after_commit(lambda: woken.append("second"))
        assert woken == []  # not before the commit
    assert woken == ["first"]
    with clean_database.transaction() as uow:  # a later transaction wakes it again
        uow.outbox.enqueue(_message(3), now=NOW)
        uow.outbox.after_commit(lambda: woken.append("third"))
    assert woken == ["first", "third"]


def test_a_rolled_back_change_queues_nothing_and_wakes_no_one(clean_database: Database) -> None:
    woken: list[str] = []
    with pytest.raises(RuntimeError), clean_database.transaction() as uow:
        uow.outbox.enqueue(_message(1, message_id="<gone@idp.test>"), now=NOW)
        uow.outbox.after_commit(lambda: woken.append("no"))
        raise RuntimeError("the change failed")
    assert woken == []
    with clean_database.transaction() as uow:
        assert uow.outbox.by_message_id("<gone@idp.test>") is None
        assert uow.outbox.newest() == []


def test_a_failing_wake_up_does_not_undo_the_commit(clean_database: Database) -> None:
    def broken() -> None:
        raise OSError("the dispatcher is not running")

    with clean_database.transaction() as uow:
        uow.outbox.enqueue(_message(1, message_id="<kept@idp.test>"), now=NOW)
        uow.outbox.after_commit(broken)
    with clean_database.transaction() as uow:
        assert uow.outbox.by_message_id("<kept@idp.test>") is not None
