"""The transactional outbox as flows see it: queue a message with the change it announces.

A message is a row in the same transaction as the change, so a rolled-back change
sends nothing; once the transaction commits, whoever asked is called back to wake the
dispatcher. ``idp.store.sql.outbox.OutboxRepository`` implements :class:`OutboxWriter`
(and the dispatcher's side); ``tests/contract/test_outbox_writer.py`` holds every
backend to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutgoingMessage(Protocol):
    """What :meth:`OutboxRepository.enqueue` stores (``idp.notify.messages.Message``)."""

    @property
    def channel(self) -> str: ...
    @property
    def recipient(self) -> str: ...
    @property
    def template(self) -> str: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str | None: ...
    @property
    def message_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    channel: str
    recipient: str
    subject: str | None
    body_text: str
    body_html: str | None
    template: str
    message_id: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class OutboxWriter(Protocol):
    def enqueue(self, message: OutgoingMessage, *, now: datetime) -> OutboxRecord:
        """Queue a message in the caller's transaction; it is due at once after commit."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once after this transaction commits, never after a rollback.

        However many messages the transaction queues, the callback runs once.
        """
